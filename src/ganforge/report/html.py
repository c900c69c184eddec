"""`ganforge report`: one self-contained report.html (every image inlined as base64, no scripts,
no external resources) and a report.md with its images in report_files/, for a run or a sweep.

A report is a list of sections made of blocks (text, tables, images, preformatted text); the same
blocks render to both HTML and Markdown, so the two never disagree.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.generation.rundir import RunDir, read_json
from ganforge.metrics.catalog import report_keys, sweep_keys

MAX_EVOLUTION_FRAMES = 8


@dataclass
class Image:
    data: bytes
    name: str  # file name in report_files/
    caption: str
    pixelated: bool = False  # small sample grids: scale up without blurring
    scale: int = 1  # displayed at this multiple of the natural width (pixelated images)


@dataclass
class Table:
    head: list[str]
    rows: list[list[str]]
    id: str = ""


@dataclass
class Section:
    title: str
    blocks: list[Any] = field(default_factory=list)  # str (paragraph) | Table | Image | list[Image]


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)


# ----- helpers -----
def fmt(value: Any, digits: int = 4) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return value if number.is_integer() and "." not in value else f"{number:.{digits}g}"
    return str(value)


def duration(seconds: Any) -> str:
    if seconds in (None, ""):
        return "–"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def figure_bytes(draw, name: str) -> bytes | None:
    """Run draw(path) (a function writing a PNG) in a temporary folder and return the bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        if draw(path) is None and not path.exists():
            return None
        return path.read_bytes()


def is_sweep(source: Path) -> bool:
    return (source / "sweep.json").exists() or (source / "sweep.csv").exists()


def is_run(source: Path) -> bool:
    return RunDir(source).is_run()


# ----- run reports -----
def run_report(run: Path, interpolation: bool = True, window: int = 100) -> Report:
    config = RunDir(run).read_config()
    summary = RunDir(run).read_summary() or {}
    subtitle = ", ".join(part for part in (
        config.get("model") and f"model {config['model']}",
        config.get("dataset") and f"dataset {config['dataset']}",
        summary and f"{summary.get('steps')} steps in {duration(summary.get('wall_time_s'))}",
    ) if part)
    report = Report(f"Run {run.resolve().name}", subtitle)
    for section in (metrics_section(run, summary), memorisation_section(run), curves_section(run),
                    evolution_section(run),
                    interpolation_section(run) if interpolation else None,
                    dynamics_section(run, window), config_section(config)):
        if section is not None and section.blocks:
            report.sections.append(section)
    return report


def metrics_section(run: Path, summary: dict[str, Any]) -> Section:
    section = Section("Metrics")
    rows = []
    if summary:
        rows += [["steps", fmt(summary.get("steps"))],
                 ["wall time", duration(summary.get("wall_time_s"))],
                 ["speed", f"{fmt(summary.get('steps_per_s'))} steps/s, "
                           f"{fmt(summary.get('images_per_s'))} images/s"]]
        rows += [[f"final {key}", fmt(value)] for key, value in (summary.get("final") or {}).items()]
        if summary.get("best_value") is not None:
            rows.append([f"best {summary.get('best_metric')} (chooses best.safetensors)",
                         fmt(summary.get("best_value"))])
    evals = [r for r in RunDir(run).read_metrics() if "eval_fid" in r]
    if evals:
        last, best = evals[-1], min(evals, key=lambda r: r["eval_fid"])
        rows += [["final FID (during training)", f"{logged_fid(last)} at step {last['step']}"],
                 ["best FID (during training)", f"{logged_fid(best)} at step {best['step']}"],
                 ["FID protocol (during training)",
                  last.get("eval_protocol", "not recorded (trained by an older ganforge)")]]
        for key in ("kid", "modes"):
            if f"eval_{key}" in last:
                rows.append([f"final {key.upper() if key == 'kid' else key}",
                             fmt(last[f"eval_{key}"])])
    cached = saved_evaluation(run)
    if cached:
        rows += [[f"evaluation: {key}", fmt(cached[key])] for key in report_keys()
                 if key in cached]
        rows.append(["evaluation: protocol",
                     cached.get("protocol", "not recorded (evaluated by an older ganforge)")])
    if rows:
        section.blocks.append(Table(["quantity", "value"], rows, id="metrics"))
    else:
        section.blocks.append("No summary.json or evaluations yet (is the run still training?).")
    return section


def saved_evaluation(run: Path) -> dict[str, Any] | None:
    """RUN/eval.json: a sweep's {key, result} or `evaluate --out`'s flat dict."""
    saved = RunDir(run).read_eval() or {}
    return saved.get("result") or (saved if "fid" in saved else None)


def memorisation_section(run: Path) -> Section | None:
    """`evaluate --nearest` results: copy rates against the held-out baseline, and the pictures
    (found where eval.json says, else beside it in the run folder)."""
    result = saved_evaluation(run) or {}
    if "nearest_copy_rate" not in result:
        return None
    section = Section("Memorisation", [
        f"{result['nearest_n']} samples against their nearest of the {result['nearest_n_train']} "
        f"training images. A sample counts as a copy when it is closer to a training image than "
        f"{1 - result['nearest_quantile']:.0%} of {result['nearest_n_heldout']} held-out real "
        f"images come to theirs, so held-out real images score about "
        f"{result['nearest_quantile']:.0%}."])
    rows = [[space, percent(result[prefix + "copy_rate"]),
             " – ".join(map(percent, result.get(prefix + "copy_rate_ci95") or [None])),
             percent(result[prefix + "copy_rate_heldout"]), fmt(result[prefix + "median"]),
             fmt(result[prefix + "median_heldout"])]
            for space, prefix in ((result["nearest_features"], "nearest_"),
                                  ("pixels", "nearest_pixel_"))]
    section.blocks.append(Table(["space", "copy rate", "95 % interval", "held-out images",
                                 "median NN distance", "held-out median"], rows,
                                id="memorisation"))
    for key, space in (("nearest_grid", "feature"), ("nearest_pixel_grid", "pixel")):
        saved = Path(result.get(key) or "")
        path = saved if saved.is_file() else run / saved.name
        if saved.name and path.is_file():
            section.blocks.append(Image(
                path.read_bytes(), path.name, f"Nearest training images in {space} space: each "
                f"row is a sample, then its nearest training images (closest rows first)",
                pixelated=True, scale=2))
    return section


def percent(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def logged_fid(record: dict[str, Any]) -> str:
    """An eval line of metrics.jsonl as 'FID (N× floor)'."""
    from ganforge.metrics.evaluate import fid_text

    return fid_text({"fid": record["eval_fid"], "fid_over_floor": record.get("eval_fid_over_floor")})


def curves_section(run: Path) -> Section:
    from ganforge.training.figures import plot_losses

    section = Section("Training curves")
    losses = figure_bytes(lambda path: plot_losses(run, path), "losses.png")
    if losses:
        section.blocks.append(Image(losses, "losses.png", "Losses and discriminator outputs"))
    evals = [r for r in RunDir(run).read_metrics() if "eval_fid" in r]
    if evals:
        section.blocks.append(Image(figure_bytes(lambda path: plot_fid(evals, path), "fid.png"),
                                    "fid.png", "FID during training (lower is better)"))
    elif losses:
        section.blocks.append("No FID curve: train with --eval-every N to evaluate during training.")
    return section


def plot_fid(evals: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 3.4))
    axis.plot([r["step"] for r in evals], [r["eval_fid"] for r in evals], marker="o", ms=3)
    best = min(evals, key=lambda r: r["eval_fid"])
    axis.scatter([best["step"]], [best["eval_fid"]], color="C3", zorder=3,
                 label=f"best {best['eval_fid']:.3g} at step {best['step']}")
    axis.set(xlabel="step", ylabel="FID", title="FID during training")
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def evenly(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def evolution_section(run: Path) -> Section:
    section = Section("Sample evolution")
    samples = RunDir(run).samples
    frames = sorted(samples.glob("epoch_*.png")) or sorted(samples.glob("step_*.png"))
    frames = evenly(frames, MAX_EVOLUTION_FRAMES - 1)
    if (samples / "final.png").exists():
        frames.append(samples / "final.png")
    if frames:
        section.blocks.append("The same fixed latents drawn at successive points of training.")
        section.blocks.append([Image(f.read_bytes(), f"samples_{f.name}", frame_caption(f),
                                     pixelated=True) for f in frames])
    return section


def frame_caption(path: Path) -> str:
    """epoch_0003.png → 'epoch 3', step_000500.png → 'step 500', final.png → 'final'."""
    match = re.fullmatch(r"(epoch|step)_0*(\d+)", path.stem)
    return f"{match.group(1)} {match.group(2)}" if match else path.stem


def interpolation_section(run: Path) -> Section | None:
    from ganforge.generation.images import grid_image
    from ganforge.generation.restore import load_generator
    from ganforge.latent.interpolate import (
        class_sweep_row,
        pair_rows,
        random_pairs,
        rows_to_grid,
    )

    if not RunDir(run).has_checkpoint("last"):
        return None
    section = Section("Latent interpolation")
    generator, _, meta = load_generator(run)
    steps = 10
    rows = list(pair_rows(generator, random_pairs(3), steps, "slerp"))
    if generator.num_classes:
        rows.append(class_sweep_row(generator, random_pairs(1)[0][0]))
    images, width = rows_to_grid(rows)
    buffer = io.BytesIO()
    grid_image(images, nrow=width).save(buffer, format="PNG")
    caption = (f"slerp between three random seed pairs, {steps} steps per row "
               f"({Path(meta['checkpoint_path']).stem} checkpoint, step {meta['step']})")
    if generator.num_classes:
        caption += "; last row: one latent, classes 0.." + str(generator.num_classes - 1)
    section.blocks.append(Image(buffer.getvalue(), "interpolation.png", caption, pixelated=True,
                                scale=3))
    return section


def dynamics_section(run: Path, window: int) -> Section | None:
    from ganforge.report.dynamics import analyze, load_records, plot, table_rows

    if not RunDir(run).metrics_file.exists():
        return None
    records, config = load_records(run)
    if len(records) < 4:
        return None
    result = analyze(records, config.get("loss", "bce"), window, config.get("ada_target", 0.6))
    section = Section("Training dynamics")
    caption = "Distance from the BCE equilibrium and oscillation"
    if "ada_p" in result.signals:
        caption += "; adaptive augmentation: p and r_t against its target"
    section.blocks.append(Image(figure_bytes(lambda path: plot(result, path), "dynamics.png"),
                                "dynamics.png", caption))
    head, rows = table_rows(result)
    section.blocks.append(Table(head, rows, id="dynamics"))
    if result.verdict:
        section.blocks.append(result.verdict)
    return section


def config_section(config: dict[str, Any]) -> Section | None:
    if not config:
        return None
    return Section("Configuration", [Table(["field", "value"],
                                           [[k, fmt(v) if not isinstance(v, str) else (v or '""')]
                                            for k, v in config.items()], id="config")])


# ----- sweep reports -----
def read_sweep(sweep: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    settings = read_json(sweep / "sweep.json") or {}
    if not (sweep / "sweep.csv").exists():
        raise GanforgeError(f"'{sweep}' has no sweep.csv yet; let `ganforge sweep` finish (or rerun "
                            f"it) first")
    return settings, read_csv(sweep / "sweep.csv")


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise GanforgeError(f"'{path}' is missing; rerun the `ganforge sweep` command to write it")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def sweep_metric_keys() -> tuple[str, ...]:
    return sweep_keys()


def csv_fid(row: dict[str, str]) -> str:
    """A sweep.csv row's FID as 'FID (N× floor)'."""
    from ganforge.metrics.evaluate import fid_text

    if not row.get("fid"):
        return "–"
    ratio = row.get("fid_over_floor")
    return fid_text({"fid": float(row["fid"]), "fid_over_floor": float(ratio) if ratio else None})


def seeded_blocks(rows: list[dict[str, str]], fields: list[str], seeds: list[int]) -> list[Any]:
    """A seeded sweep.csv (one row per combination, mean and sd over seeds) as the best line, the
    noise test's definition and the table."""
    from ganforge.sweep import CELL_HEAD, cell_texts, fid_spread_text, noise_note, spread_keys

    def number(text: str | None) -> float | None:
        return float(text) if text else None

    blocks: list[Any] = []
    table = []
    for row in rows:
        metrics = {k: number(row.get(f"{k}_mean")) for k in spread_keys()}
        sd = {k: v for k in spread_keys() if (v := number(row.get(f"{k}_sd"))) is not None}
        if row.get("vs_best") == "best":
            blocks.append(f"Best mean FID {fid_spread_text(metrics, sd)}: "
                          + ", ".join(f"{k}={row[k]}" for k in fields) + ".")
        table.append([*(row.get(k, "") for k in fields), row.get("n_seeds", ""),
                      *cell_texts(metrics, sd, row.get("vs_best", ""), number(row.get("p_vs_best"))),
                      row.get("steps", ""), duration(row.get("wall_time_s")), row.get("status", "")])
    protocols = sorted({r["protocol"] for r in rows if r.get("protocol")})
    if protocols:
        blocks.append("FID protocol: " + "; ".join(protocols))
    blocks += [noise_note(seeds), Table([*fields, *CELL_HEAD], table, id="fid-table")]
    return blocks


def sweep_report(sweep: Path) -> Report:
    settings, rows = read_sweep(sweep)
    seeded = bool(rows) and "fid_mean" in rows[0]
    grid = settings.get("grid") or {}
    fields = list(grid) or [k for k in (rows[0] if rows else {}) if k not in (
        "run", "status", "steps", "wall_time_s", *sweep_metric_keys())]
    grid_text = " ".join(f"{k}={','.join(map(str, v))}" for k, v in grid.items())
    runs = read_csv(sweep / "sweep_runs.csv") if seeded else rows
    seeds = sorted({int(r["seed"]) for r in runs if r.get("seed")})
    count = f"{len(runs)} runs" + (f" ({len(rows)} combinations × {len(seeds)} seeds)"
                                   if seeded else "")
    report = Report(f"Sweep {sweep.resolve().name}",
                    f"{count}; grid {grid_text}" if grid_text else count)
    overview = Section("Results")
    if seeded:
        overview.blocks += seeded_blocks(rows, fields, seeds)
    fids = [float(r["fid"]) for r in rows if r.get("fid")]
    if fids and not seeded:
        best = min(rows, key=lambda r: float(r["fid"]) if r.get("fid") else math.inf)
        overview.blocks.append(f"Best FID {csv_fid(best)}: "
                               + ", ".join(f"{k}={best[k]}" for k in fields) + ".")
        protocols = sorted({r["protocol"] for r in rows if r.get("protocol")})
        overview.blocks.append("FID protocol: " + ("; ".join(protocols) if protocols else
                                                   "not recorded (swept by an older ganforge)"))
    if not seeded:
        head = [*fields, "FID", "KID", "modes", "precision", "recall", "steps", "wall time",
                "status"]
        table = [[*(r.get(k, "") for k in fields), csv_fid(r), fmt(r.get("kid")),
                  fmt(r.get("modes")), fmt(r.get("precision"), 3), fmt(r.get("recall"), 3),
                  fmt(r.get("steps")), duration(r.get("wall_time_s")), r.get("status", "")]
                 for r in rows]
        overview.blocks.append(Table(head, table, id="fid-table"))
    if (sweep / "heatmap.png").exists():
        overview.blocks.append(Image((sweep / "heatmap.png").read_bytes(), "heatmap.png",
                                     f"{'Mean FID over the seeds' if seeded else 'FID'} over the "
                                     f"grid (lower is better)"))
    setup = [["preset", settings.get("preset") or "–"],
             ["evaluation images", fmt(settings.get("eval_n"))]]
    setup += [[k, str(v)] for k, v in (settings.get("overrides") or {}).items()]
    report.sections += [overview, Section("Setup", [Table(["setting", "value"], setup,
                                                          id="setup")])]
    gallery = []
    for row in runs:
        final = sweep / row["run"] / "samples" / "final.png"
        if final.exists():
            caption = ", ".join(f"{k}={row.get(k)}" for k in fields) + f": FID {fmt(row.get('fid'))}"
            gallery.append(Image(final.read_bytes(), f"{row['run']}_final.png", caption,
                                 pixelated=True))
    if gallery:
        report.sections.append(Section("Final samples", ["Each run's fixed-latent grid at the end "
                                                         "of training.", gallery]))
    return report


# ----- rendering -----
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0.4em 0.8em 0.8em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; max-width: 640px; }
img { max-width: 100%; } img.pixelated { image-rendering: pixelated; min-width: 160px; }
.gallery figure { width: 180px; } .gallery img { width: 180px; }
"""


def data_uri(image: Image) -> str:
    kind = "gif" if image.name.endswith(".gif") else "png"
    return f"data:image/{kind};base64,{base64.b64encode(image.data).decode('ascii')}"


def png_width(data: bytes) -> int | None:
    """Width from a PNG header (bytes 16..20 of the IHDR chunk)."""
    return int.from_bytes(data[16:20], "big") if data[:8] == b"\x89PNG\r\n\x1a\n" else None


def html_image(image: Image) -> str:
    css = ' class="pixelated"' if image.pixelated else ""
    width = png_width(image.data) if image.scale > 1 else None
    style = f' style="width: {width * image.scale}px"' if width else ""
    return (f'<figure><img{css}{style} src="{data_uri(image)}" alt="{html.escape(image.caption)}">'
            f"<figcaption>{html.escape(image.caption)}</figcaption></figure>")


def html_table(table: Table) -> str:
    ident = f' id="{html.escape(table.id)}"' if table.id else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in table.rows)
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<link rel="icon" href="data:,">',
             f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(report.title)}</h1>",
             f'<p class="subtitle">{html.escape(report.subtitle)}</p>']
    for section in report.sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            elif isinstance(block, Table):
                parts.append(html_table(block))
            elif isinstance(block, Image):
                parts.append(html_image(block))
            elif isinstance(block, list):
                parts.append('<div class="gallery">' + "".join(html_image(i) for i in block)
                             + "</div>")
        parts.append("</section>")
    parts.append("<footer><p class=\"subtitle\">written by ganforge "
                 f"{html.escape(__import__('ganforge').__version__)}</p></footer></body></html>")
    return "\n".join(parts) + "\n"


def md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, files: Path) -> str:
    """Markdown text; images are written to the folder `files` and linked relatively."""
    lines = [f"# {report.title}", "", report.subtitle, ""]

    def image(img: Image) -> str:
        files.mkdir(parents=True, exist_ok=True)
        (files / img.name).write_bytes(img.data)
        return f"![{md_cell(img.caption)}]({files.name}/{img.name})"

    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, Table):
                lines += ["| " + " | ".join(md_cell(h) for h in block.head) + " |",
                          "|---|" + "---:|" * (len(block.head) - 1)]
                lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
            elif isinstance(block, Image):
                lines += [image(block), "", f"*{block.caption}*", ""]
            elif isinstance(block, list):
                lines += [" ".join(image(i) for i in block), ""]
                lines += ["; ".join(i.caption for i in block), ""]
    return "\n".join(lines)


def write_report(source: str | Path, out: str | Path | None = None, interpolation: bool = True,
                 window: int = 100) -> tuple[Path, Path]:
    """report.html and report.md for a run folder or a sweep folder (in `out`, default: source)."""
    source = Path(source)
    if not source.is_dir():
        raise GanforgeError(f"'{source}' is not a folder; pass a run folder or a sweep folder")
    if is_sweep(source):
        report = sweep_report(source)
    elif is_run(source):
        report = run_report(source, interpolation, window)
    else:
        raise GanforgeError(f"'{source}' is neither a run folder (metrics.jsonl, checkpoints/) "
                            f"nor a sweep folder (sweep.csv); pass one of those")
    folder = Path(out) if out else source
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / "report.html", folder / "report.md"
    html_path.write_text(render_html(report), encoding="utf-8")
    md_path.write_text(render_markdown(report, folder / "report_files"), encoding="utf-8")
    return html_path, md_path
