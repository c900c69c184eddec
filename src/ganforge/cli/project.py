"""`ganforge project`: find the latents that reconstruct real images (see docs/explore.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.cli.common import add_source_flags, generator_source
from ganforge.errors import GanforgeError

DEFAULT_NAME = "projected.npz"
TABLE_ROWS = 20  # per-image lines printed; more images get only the summary


def register(commands) -> None:
    parser = commands.add_parser(
        "project", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="project real images (PNG/JPEG or dataset images) into the latent space")
    add_source_flags(parser)
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help="image files, converted to the run's channels and size")
    parser.add_argument("--from-dataset", metavar="SPLIT:INDICES",
                        help="images of the run's dataset, e.g. test:0-99 or train:3,7,10-12")
    parser.add_argument("--data-dir", help="where the run's dataset lives; none = the run's data_dir")
    parser.add_argument("--class", dest="label", type=int,
                        help="conditional models: project into this class (default: try each)")
    add_projection_flags(parser)
    parser.add_argument("--out", help=f"latents file (default RUN/explore/{DEFAULT_NAME}); the "
                                      "figure (targets above reconstructions) goes next to it")
    parser.set_defaults(handler=cmd_project)


def add_projection_flags(parser) -> None:
    from ganforge.latent import project as p

    parser.add_argument("--steps", dest="project_steps", metavar="N", type=int,
                        default=p.DEFAULT_STEPS, help="Adam steps per image")
    parser.add_argument("--restarts", type=int, default=p.DEFAULT_RESTARTS,
                        help="starting latents per image (the best of 16 random ones per class)")
    parser.add_argument("--lr", type=float, default=p.DEFAULT_LR, help="Adam learning rate")
    parser.add_argument("--feature-weight", type=float, default=p.DEFAULT_FEATURE_WEIGHT,
                        help="weight of the domain-classifier feature distance (MNIST/Fashion)")
    parser.add_argument("--prior-weight", type=float, default=p.DEFAULT_PRIOR_WEIGHT,
                        help="weight of (|z|/sqrt(latent_dim) - 1)^2")
    parser.add_argument("--pixel", choices=p.PIXEL_LOSSES, default="l2", help="pixel loss")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random starts")


def settings_from(args):
    from ganforge.latent.project import Settings

    settings = Settings(steps=args.project_steps, restarts=args.restarts, lr=args.lr,
                        feature_weight=args.feature_weight, prior_weight=args.prior_weight,
                        pixel=args.pixel, seed=args.seed)
    settings.check()
    return settings


def cmd_project(args) -> None:
    from ganforge.latent.project import project_source, save_figure

    settings = settings_from(args)
    if not args.images and not args.from_dataset:
        raise GanforgeError("give image files to project (PNG/JPEG) or --from-dataset test:0-9")
    projection, meta = project_source(generator_source(args), args.images, args.from_dataset,
                                      label=args.label, which=args.which, ema=args.ema,
                                      device=args.device, data_dir=args.data_dir,
                                      settings=settings)
    out = Path(args.out) if args.out else (
        Path(meta["checkpoint_path"]).parent.parent / "explore" / DEFAULT_NAME)
    if out.suffix != ".npz":
        raise GanforgeError(f"--out '{out}' must end in .npz (the figure goes next to it as .png)")
    projection.save(out, meta["checkpoint_path"])
    figure = save_figure(projection, out.with_suffix(".png"))
    print_table(projection, meta)
    print(f"wrote {out} and {figure}")


def print_table(projection, meta: dict) -> None:
    from ganforge.config import config_from_dict
    from ganforge.latent.project import same_class_share

    mse, psnr = projection.mse(), projection.psnr()
    conditional = bool((projection.labels >= 0).any())
    for index, name in enumerate(projection.names[:TABLE_ROWS]):
        label = f"  class {int(projection.labels[index])}" if conditional else ""
        print(f"  {name}: MSE {mse[index]:.4f}  PSNR {psnr[index]:.1f} dB{label}")
    if len(projection.names) > TABLE_ROWS:
        print(f"  … {len(projection.names) - TABLE_ROWS} more")
    dataset = config_from_dict(meta["config"]).image_dataset_name
    share = same_class_share(projection, dataset)
    agree = "" if share is None else (f"; the {dataset} classifier reads {share:.0%} of the "
                                      f"reconstructions as the target's class")
    print(f"{len(projection.names)} images: mean MSE {mse.mean():.4f} (pixels in [0, 1]), mean "
          f"PSNR {psnr.mean():.1f} dB{agree}")
