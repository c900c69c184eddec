"""`ganforge interpolate`, `ganforge arithmetic` and `ganforge traverse`: figures from a trained
generator's latent space (see docs/explore.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.cli.common import add_source_flags, load_source_generator
from ganforge.errors import GanforgeError
from ganforge.generation.sampling import class_labels


def register(commands) -> None:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    interp = commands.add_parser(
        "interpolate", formatter_class=formatter,
        help="grid + GIF of latent interpolations between seeds (and classes, if conditional)")
    add_source_flags(interp)
    interp.add_argument("--from", dest="seed_from", metavar="SEED|real:IMAGE",
                        help="start: a seed, or real:FILE.png / real:test:7 (a projected real "
                             "image; with --to)")
    interp.add_argument("--to", dest="seed_to", metavar="SEED|real:IMAGE", help="end")
    interp.add_argument("--random", type=int, metavar="K",
                        help="K random seed pairs (default 4 when --from/--to are not given)")
    interp.add_argument("--seed", type=int, default=0, help="seed that draws the --random pairs")
    interp.add_argument("--steps", type=int, default=10, help="images per row, ends included")
    interp.add_argument("--method", choices=("slerp", "lerp"), default="slerp",
                        help="great-circle (slerp) or straight-line (lerp) path")
    interp.add_argument("--classes", metavar="A,B",
                        help="conditional models: morph the class embedding from A to B "
                             "(default 0,K-1)")
    interp.add_argument("--class", dest="label", type=int,
                        help="conditional models: class of the seed rows (default: row i → i mod K)")
    interp.add_argument("--out", help="grid PNG (default RUN/explore/interpolate.png); the GIF "
                                      "goes next to it")
    add_real_flags(interp)
    interp.set_defaults(handler=cmd_interpolate)

    arith = commands.add_parser(
        "arithmetic", formatter_class=formatter,
        help="latent arithmetic on seed groups and attribute directions, e.g. \"[1,5,9] - [2] + [7]\"")
    add_source_flags(arith)
    arith.add_argument("--expr", help="expression of terms: [1,5,9] (mean latent of seeds), 7, "
                                      "thick, slant, class:3, real:IMAGE (a projected real image, "
                                      "then a space), each optionally 2*term, joined by + -")
    add_direction_flags(arith)
    add_real_flags(arith)
    arith.add_argument("--out", help="figure PNG (default RUN/explore/arithmetic.png, or "
                                     "traverse_NAME.png with --direction)")
    arith.set_defaults(handler=cmd_arithmetic)

    trav = commands.add_parser(
        "traverse", formatter_class=formatter,
        help="rows of seeds moved along an attribute direction (thick, slant, class:K)")
    add_source_flags(trav)
    add_direction_flags(trav)
    trav.add_argument("--out", help="figure PNG (default RUN/explore/traverse_NAME.png)")
    trav.set_defaults(handler=cmd_traverse)


def add_direction_flags(parser) -> None:
    parser.add_argument("--direction", metavar="NAME",
                        help="traverse this direction: thick, slant, class:K or a --labels column")
    parser.add_argument("--strength", default="-3..3",
                        help="strengths in latent standard deviations: a range LOW..HIGH (with "
                             "--steps values) or a list like -2,0,2")
    parser.add_argument("--steps", type=int, default=7, help="strengths in a LOW..HIGH range")
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds, one row each")
    parser.add_argument("--class", dest="label", type=int,
                        help="class to draw (conditional models; default 0)")
    parser.add_argument("--samples", type=int, default=2000,
                        help="latents sampled to measure an attribute direction")
    parser.add_argument("--quantile", type=float, default=0.2,
                        help="direction = mean latent of the top quantile − bottom quantile")
    parser.add_argument("--labels", metavar="FILE",
                        help="label file whose columns become directions: list_attr_celeba.txt "
                             "style (rows like 000123.png 1 -1 …) or CSV (file,attribute). Rows "
                             "name generated images by seed, or real images in --images DIR")
    parser.add_argument("--images", metavar="DIR",
                        help="folder of the real images that --labels names: a linear probe "
                             "learns each column from them, and the direction moves the probe's "
                             "score on generated images")
    parser.add_argument("--max-per-label", type=int, default=500, metavar="N",
                        help="real images read per column: at most N with and N without")
    parser.add_argument("--probe-features", choices=("auto", "domain", "pixels"), default="auto",
                        help="features of the probe: the MNIST/Fashion-MNIST domain classifier's, "
                             "or pixels (≤32×32); auto = domain where it exists")


def add_real_flags(parser) -> None:
    from ganforge.latent.project import DEFAULT_STEPS

    parser.add_argument("--latents", metavar="FILE",
                        help="projection file from `ganforge project` that real:NAME terms read "
                             "(default: project each named image now)")
    parser.add_argument("--project-steps", type=int, default=DEFAULT_STEPS,
                        help="Adam steps when projecting a real: image now")
    parser.add_argument("--data-dir", help="where the run's dataset lives, for real:test:7; "
                                           "none = the run's data_dir")


def real_images(generator, config, meta, args):
    """The real:NAME resolver of this command (saved latents or projection on the fly)."""
    from ganforge.latent.project import RealImages, Settings

    settings = Settings(steps=args.project_steps)
    settings.check()
    return RealImages(generator, config, meta["spec"], args.latents, args.data_dir, settings)


# ----- shared -----
def load(args):
    generator, config, meta = load_source_generator(args)
    if getattr(args, "label", None) is not None:
        class_labels(generator, args.label, 1)  # validates the class
    return generator, config, meta


def default_out(args, meta: dict, name: str) -> Path:
    if args.out:
        return Path(args.out)
    return Path(meta["output_dir"]) / "explore" / name


def parse_ints(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise GanforgeError(f"bad {what} '{text}'; give comma-separated integers like 0,1,2") from None
    if not values:
        raise GanforgeError(f"{what} is empty; give comma-separated integers like 0,1,2")
    return values


# ----- interpolate -----
def cmd_interpolate(args) -> None:
    from ganforge.generation.images import save_gif, save_grid
    from ganforge.latent import interpolate as lat

    if (args.seed_from is None) != (args.seed_to is None):
        raise GanforgeError("give both --from SEED and --to SEED (or --random K)")
    if args.seed_from is not None and args.random is not None:
        raise GanforgeError("give either --from/--to or --random, not both")
    if args.steps < 2:
        raise GanforgeError(f"--steps must be at least 2 (got {args.steps})")
    start, end = endpoint(args.seed_from, "--from"), endpoint(args.seed_to, "--to")
    if isinstance(start, str) or isinstance(end, str):
        return interpolate_real(args, start, end)
    args.seed_from, args.seed_to = start, end
    generator, _, meta = load(args)
    if args.classes and not generator.num_classes:
        raise GanforgeError("--classes needs a conditional model (train with --conditional)")
    pairs = ([(args.seed_from, args.seed_to)] if args.seed_from is not None
             else lat.random_pairs(args.random or 4, args.seed))
    labels = [args.label] * len(pairs) if args.label is not None else None
    rows = list(lat.pair_rows(generator, pairs, args.steps, args.method, labels))
    names = [f"seeds {a}→{b}" for a, b in pairs]
    if generator.num_classes:
        k = generator.num_classes
        # an ensemble has no single class embedding to morph along: only an asked-for morph
        # (--classes) reaches class_morph_row, which then says so
        if args.classes or generator.label_embedding is not None:
            class_a, class_b = (parse_ints(args.classes, "--classes") if args.classes
                                else (0, k - 1))
            rows.append(lat.class_morph_row(generator, pairs[0][0], class_a, class_b,
                                            args.steps, "lerp"))
            names.append(f"class {class_a}→{class_b} (seed {pairs[0][0]})")
        rows.append(lat.class_sweep_row(generator, pairs[0][0]))
        names.append(f"classes 0..{k - 1} (seed {pairs[0][0]})")
    images, width = lat.rows_to_grid(rows)
    out = default_out(args, meta, "interpolate.png")
    save_grid(images, out, nrow=width)
    gif = save_gif(lat.gif_frames(rows), out.with_suffix(".gif"), frame_ms=120)
    print(f"{args.method} interpolation, {args.steps} steps; rows: " + "; ".join(names))
    print(f"wrote {out} and {gif}")


def endpoint(text: str | None, flag: str) -> int | str | None:
    """A seed (int), a real image ('real:…', kept as text) or None."""
    if text is None or text.startswith("real:"):
        return text
    try:
        return int(text)
    except ValueError:
        raise GanforgeError(f"{flag} '{text}' is neither a seed nor a real image; give an integer "
                            f"seed, or real:FILE.png or real:test:7") from None


def interpolate_real(args, start: int | str, end: int | str) -> None:
    """One row between two endpoints, at least one of them a projected real image."""
    from ganforge.generation.images import save_gif, save_grid
    from ganforge.latent import interpolate as lat

    if args.classes:
        raise GanforgeError("--classes goes with seed endpoints; a real image brings its own class")
    generator, config, meta = load(args)
    real = real_images(generator, config, meta, args)

    def resolve(point: int | str) -> tuple:
        if isinstance(point, str):
            return real(point), real.label(point)
        return lat.seed_latents([point], generator.latent_dim)[0], args.label

    (z_a, class_a), (z_b, class_b) = resolve(start), resolve(end)
    if class_a is None:  # a seed endpoint without --class takes the real image's class
        class_a = class_b
    if class_b is None:
        class_b = class_a
    row = lat.latent_row(generator, z_a, z_b, args.steps, args.method, class_a, class_b)
    out = default_out(args, meta, "interpolate.png")
    save_grid(row, out, nrow=args.steps)
    gif = save_gif(lat.gif_frames([row]), out.with_suffix(".gif"), frame_ms=120)
    for note in real.notes:
        print(f"  {note}")
    classes = f" (class {class_a}→{class_b})" if generator.num_classes else ""
    print(f"{args.method} interpolation, {args.steps} steps: {start} → {end}{classes}")
    print(f"wrote {out} and {gif}")


# ----- arithmetic / traverse -----
class Directions:
    """Measures each named direction once per command; `scorers` keeps (what, image score) behind
    each measured one (None for seed-labelled files), and `notes` what was learnt."""

    def __init__(self, generator, config, args) -> None:
        self.generator, self.config, self.args = generator, config, args
        self.cache: dict = {}
        self.scorers: dict = {}
        self.notes: list[str] = []

    def __call__(self, name: str):
        from ganforge.latent import directions as dirs
        from ganforge.latent import probe

        if name not in self.cache:
            args, dataset = self.args, self.config.image_dataset_name
            builtin = name in dirs.MEASURED or name.startswith("class:")
            if args.labels and not builtin and probe.names_real_images(args.labels, args.images):
                self.cache[name], scorer, notes = probe.direction_from_labelled_images(
                    self.generator, args.labels, name, args.images, dataset=dataset,
                    features=args.probe_features, max_per_label=args.max_per_label,
                    n=args.samples, quantile=args.quantile, label=args.label)
                self.scorers[name] = (f"probe P({name})", scorer.probability)
                self.notes += notes
            elif args.labels and not builtin:
                if args.images:
                    probe.labelled_images(args.labels, name, args.images)  # names no file: error
                self.cache[name] = dirs.direction_from_attribute_file(
                    args.labels, name, self.generator.latent_dim)
                self.scorers[name] = None
            else:
                self.cache[name] = dirs.attribute_direction(
                    self.generator, name, dataset, n=args.samples, quantile=args.quantile,
                    label=args.label)
                self.scorers[name] = (f"{name} score", dirs.attribute_scorer(name, dataset))
        return self.cache[name]


def cmd_arithmetic(args) -> None:
    import torch

    from ganforge.generation.sampling import generate
    from ganforge.latent.arithmetic import evaluate_expression, save_figure

    if args.direction:
        if args.expr:
            raise GanforgeError("give either --expr (arithmetic) or --direction (traversal), not both")
        return cmd_traverse(args)
    if not args.expr:
        raise GanforgeError('give --expr "[1,5,9] - [2] + [7]" (or --direction NAME to traverse)')
    generator, config, meta = load(args)
    real = real_images(generator, config, meta, args)
    directions = Directions(generator, config, args)
    terms, vectors, result = evaluate_expression(args.expr, generator.latent_dim, directions, real)
    device = next(generator.parameters()).device
    latents = torch.cat([vectors, result[None]]).to(device)
    labels = None
    if generator.num_classes:
        labels = torch.tensor(arithmetic_classes(terms, real, args.label), device=device)
    images = generate(generator, latents, labels)
    for note in real.notes + directions.notes:
        print(f"  {note}")
    out = default_out(args, meta, "arithmetic.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure([None if t.direction else images[i] for i, t in enumerate(terms)], terms,
                images[-1], out, title=args.expr)
    for term, vector in zip(terms, vectors):
        print(f"  {term.describe()}  |v| = {vector.norm():.2f}")
    print(f"  = result  |z| = {result.norm():.2f}  (a standard-normal latent has |z| ≈ "
          f"{generator.latent_dim ** 0.5:.1f})")
    print(f"wrote {out}")


def arithmetic_classes(terms, real, label: int | None) -> list[int]:
    """Conditional models: each real term is drawn in its projected class, the other terms and the
    result in --class, else the first real term's class, else 0."""
    real_classes = [real.label(t.real) for t in terms if t.real]
    result = label if label is not None else next(iter(real_classes), None) or 0
    return [real.label(t.real) if t.real else result for t in terms] + [result]


def cmd_traverse(args) -> None:
    from ganforge.generation.images import save_grid
    from ganforge.latent.directions import parse_strengths, traverse

    if not args.direction:
        raise GanforgeError("give --direction NAME (thick, slant, class:K or a --labels column)")
    strengths = parse_strengths(args.strength, args.steps)
    seeds = parse_ints(args.seeds, "--seeds")
    generator, config, meta = load(args)
    directions = Directions(generator, config, args)
    direction = directions(args.direction)
    images = traverse(generator, direction, seeds, strengths, args.label)
    safe = "".join(c if c.isalnum() else "_" for c in args.direction)
    out = default_out(args, meta, f"traverse_{safe}.png")
    save_grid(images.reshape(-1, *images.shape[2:]), out, nrow=len(strengths))
    for note in directions.notes:
        print(f"  {note}")
    print(f"direction '{args.direction}': rows = seeds {', '.join(map(str, seeds))}; columns = "
          f"strength " + ", ".join(f"{s:+.2g}" for s in strengths) + " (latent standard deviations)")
    if directions.scorers[args.direction] is not None:
        what, scorer = directions.scorers[args.direction]
        scores = [scorer(images[:, column]).float().mean().item()
                  for column in range(len(strengths))]
        print(f"  mean {what} per column: " + ", ".join(f"{v:.3g}" for v in scores))
    print(f"wrote {out}")
