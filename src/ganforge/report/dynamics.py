"""Training dynamics from metrics.jsonl: how far the two players sit from the BCE game's
equilibrium, and how strongly and how fast they oscillate around it.

At the equilibrium of the (non-saturating) BCE game, p_g = p_data and D(x) = D(G(z)) = ½ everywhere,
so L_D = −log ½ − log ½ = 2 ln 2 ≈ 1.386 and L_G = −log ½ = ln 2 ≈ 0.693 (−ln 2 for the minimax
generator loss). The distance is the Euclidean norm of (L_D, L_G, D(x), D(G(z))) minus those values.

Oscillation is measured over sliding windows of the log: each signal is linearly detrended, its
amplitude is √2 · standard deviation (exact for a sine) and its period is the lag of the first
autocorrelation peak after the first zero crossing (refined by a parabola through the peak), in
training steps. A window whose autocorrelation has no clear peak (below 0.2, or below three
standard errors of white noise, 3/√(n − lag)) reports no period.

Runs trained with --augment ada also log ADA's augmentation probability p and its overfitting
statistic r_t; they get rows of their own (r_t's reference is the run's --ada-target) and a panel
of the figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.errors import GanforgeError
from ganforge.generation.rundir import RunDir

SIGNALS = ("loss_d", "loss_g", "d_real", "d_fake")
ADA_SIGNALS = ("ada_p", "ada_rt")  # logged under --augment ada
LABELS = {"loss_d": "L_D", "loss_g": "L_G", "d_real": "D(x)", "d_fake": "D(G(z))",
          "distance": "distance", "ada_p": "ADA p", "ada_rt": "ADA r_t"}
LN2 = math.log(2)
EQUILIBRIA = {
    "bce": {"loss_d": 2 * LN2, "loss_g": LN2, "d_real": 0.5, "d_fake": 0.5},
    "bce-minimax": {"loss_d": 2 * LN2, "loss_g": -LN2, "d_real": 0.5, "d_fake": 0.5},
}
DEFAULT_WINDOW = 100
MIN_PEAK = 0.2
# D(x) − D(G(z)) rising this much above its lowest window mean, to at least DRIFT_GAP, is a
# discriminator pulling away; the default run holds ~0.12 throughout, the 95k-step run of
# docs/results.md went from 0.09 to 0.5 while its FID rose
DRIFT_RISE, DRIFT_GAP = 0.15, 0.3


@dataclass
class Dynamics:
    loss: str
    equilibrium: dict[str, float] | None
    steps: np.ndarray  # uniform step grid the signals were resampled on
    signals: dict[str, np.ndarray]  # including "distance" when an equilibrium is known
    window: int  # points per window
    spacing: float  # steps between points
    windows: list[dict[str, Any]] = field(default_factory=list)  # per window: centre, stats
    rows: list[dict[str, Any]] = field(default_factory=list)  # the table
    references: dict[str, float] = field(default_factory=dict)  # per signal, where known
    verdict: str = ""  # one line on the D(x) − D(G(z)) gap (BCE losses only)


def detrend(values: np.ndarray) -> np.ndarray:
    x = np.arange(len(values), dtype=float)
    slope, intercept = np.polyfit(x, values, 1)
    return values - (slope * x + intercept)


def autocorrelation(values: np.ndarray) -> np.ndarray:
    """Unbiased, normalised autocorrelation of a zero-mean signal for lags 0..n-1."""
    n = len(values)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(values, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[:n]
    acf = acf / (n - np.arange(n))
    return acf / acf[0] if acf[0] > 0 else np.zeros(n)


def oscillation(values: np.ndarray, spacing: float = 1.0) -> tuple[float, float | None]:
    """(amplitude, period in steps or None) of one window of a signal sampled every `spacing`."""
    values = np.asarray(values, dtype=float)
    if len(values) < 4 or not np.isfinite(values).all():
        return math.nan, None
    if np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())):
        return 0.0, None  # constant (detrending would leave only rounding noise)
    x = detrend(values)
    amplitude = math.sqrt(2) * float(x.std())
    acf = autocorrelation(x)
    limit = len(acf) // 2 + 1  # beyond half the window the estimate rests on too few products
    negative = np.nonzero(acf[1:limit] < 0)[0]
    if not len(negative):
        return amplitude, None
    # the first local maximum after the first zero crossing that stands clear of white noise
    start = negative[0] + 1
    peaks = [k for k in range(max(start, 1), limit - 1)
             if acf[k] >= acf[k - 1] and acf[k] >= acf[k + 1]
             and acf[k] >= max(MIN_PEAK, 3 / math.sqrt(len(acf) - k))]
    if not peaks:
        return amplitude, None
    lag = peaks[0]
    left, middle, right = acf[lag - 1], acf[lag], acf[lag + 1]
    curvature = left - 2 * middle + right
    offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return amplitude, float((lag + offset) * spacing)


def load_records(run: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Training records of a run folder (or a metrics.jsonl file) and the run's config."""
    run = Path(run)
    folder = RunDir(run.parent if run.is_file() else run)
    if not folder.metrics_file.exists():
        raise GanforgeError(f"'{run}' has no metrics.jsonl; pass a run folder written by "
                            f"`ganforge train`")
    records = [r for r in folder.read_metrics() if all(k in r for k in SIGNALS)]
    return records, folder.read_config()


def analyze(records: list[dict[str, Any]], loss: str = "bce",
            window: int = DEFAULT_WINDOW, ada_target: float = 0.6) -> Dynamics:
    """Resample the logged signals onto a uniform step grid and measure them per window
    (ADA's p and r_t too when every record has them; r_t's reference is `ada_target`)."""
    if len(records) < 4:
        raise GanforgeError(f"only {len(records)} logged training records; dynamics need at "
                            f"least 4 — train longer or lower --log-every")
    if window < 8:
        raise GanforgeError(f"--window must be at least 8 log points (got {window})")
    steps = np.array([r["step"] for r in records], dtype=float)
    order = np.argsort(steps, kind="stable")
    steps = steps[order]
    spacing = float(np.median(np.diff(steps))) or 1.0
    grid = np.arange(steps[0], steps[-1] + spacing / 2, spacing)
    names = SIGNALS + tuple(k for k in ADA_SIGNALS if all(k in r for r in records))
    signals = {name: np.interp(grid, steps, np.array([records[i][name] for i in order], float))
               for name in names}
    equilibrium = EQUILIBRIA.get(loss)
    if equilibrium:
        signals["distance"] = np.sqrt(sum((signals[k] - equilibrium[k]) ** 2 for k in SIGNALS))
    window = min(window, len(grid))
    result = Dynamics(loss, equilibrium, grid, signals, window, spacing)
    result.references = {**(equilibrium or {}), "distance": 0.0}
    if "ada_rt" in signals:
        result.references["ada_rt"] = ada_target
    hop = max(1, window // 2)
    starts = list(range(0, len(grid) - window + 1, hop))
    if starts[-1] != len(grid) - window:
        starts.append(len(grid) - window)  # the last window always ends at the last record
    for start in starts:
        part = slice(start, start + window)
        entry: dict[str, Any] = {"start": float(grid[start]), "end": float(grid[start + window - 1]),
                                 "centre": float(grid[part].mean())}
        for name, values in signals.items():
            amplitude, period = oscillation(values[part], spacing)
            entry[name] = {"mean": float(values[part].mean()), "amplitude": amplitude,
                           "period": period}
        result.windows.append(entry)
    first, last = result.windows[0], result.windows[-1]
    for name in signals:
        periods = [w[name]["period"] for w in result.windows if w[name]["period"] is not None]
        target = result.references.get(name)
        result.rows.append({
            "signal": name,
            "equilibrium": target,
            "first": first[name]["mean"],
            "final": last[name]["mean"],
            "off": None if target is None else abs(last[name]["mean"] - target),
            "amplitude": last[name]["amplitude"],
            "period": last[name]["period"],
            "median_period": float(np.median(periods)) if periods else None,
            "oscillating_windows": f"{len(periods)}/{len(result.windows)}",
        })
    if equilibrium:
        result.verdict = gap_verdict(result.windows)
    return result


def gap_verdict(windows: list[dict[str, Any]]) -> str:
    """Whether the discriminator pulls away: the window means of D(x) − D(G(z)), lowest vs last."""
    gaps = [w["d_real"]["mean"] - w["d_fake"]["mean"] for w in windows]
    lowest = min(range(len(gaps)), key=gaps.__getitem__)
    low, last = gaps[lowest], gaps[-1]
    if last - low >= DRIFT_RISE and last >= DRIFT_GAP:
        span = f"steps {windows[lowest]['start']:,.0f}–{windows[lowest]['end']:,.0f}"
        return (f"D is pulling away: D(x) − D(G(z)) rose from {low:.2f} ({span}) to {last:.2f} "
                f"(last window), as when D overfits the training images and FID rises with it; "
                f"try --augment diffaug, --augment ada with an --ada-target below 0.6, "
                f"--r1-gamma, or fewer steps")
    return (f"no drift: D(x) − D(G(z)) between {min(gaps):.2f} and {max(gaps):.2f} "
            f"over the windows, {last:.2f} at the end")


def fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def table_rows(result: Dynamics) -> tuple[list[str], list[list[str]]]:
    head = ["signal", "equilibrium", "first window", "last window", "|last − eq|", "amplitude",
            "period (steps)", "median period", "windows with period"]
    rows = [[LABELS[r["signal"]], fmt(r["equilibrium"]), fmt(r["first"]), fmt(r["final"]),
             fmt(r["off"]), fmt(r["amplitude"], 3), fmt(r["period"]), fmt(r["median_period"]),
             r["oscillating_windows"]] for r in result.rows]
    return head, rows


def format_table(result: Dynamics) -> str:
    head, rows = table_rows(result)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    note = (f"window: {result.window} log points = {result.window * result.spacing:g} steps, "
            f"{len(result.windows)} windows")
    if result.equilibrium is None:
        note += f"; no equilibrium reference for loss '{result.loss}' (defined for bce only)"
    return "\n".join(lines + [note] + ([result.verdict] if result.verdict else []))


def markdown_table(result: Dynamics) -> str:
    head, rows = table_rows(result)
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def plot(result: Dynamics, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eq = result.equilibrium or {}
    ada = "ada_p" in result.signals
    fig = plt.figure(figsize=(11, 9.6 if ada else 6.4))
    grid = fig.add_gridspec(3 if ada else 2, 2)
    outputs, losses = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    distance, amplitude = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    axes = [outputs, losses, distance, amplitude]
    steps = result.steps
    for name, colour in (("d_real", "C0"), ("d_fake", "C1")):
        outputs.plot(steps, result.signals[name], color=colour, label=LABELS[name])
    if eq:
        outputs.axhline(0.5, color="grey", ls="--", lw=1, label="equilibrium ½")
    outputs.set(title="discriminator outputs", xlabel="step")
    for name, colour in (("loss_d", "C2"), ("loss_g", "C3")):
        losses.plot(steps, result.signals[name], color=colour, label=LABELS[name])
        if name in eq:
            losses.axhline(eq[name], color=colour, ls="--", lw=1,
                           label=f"{LABELS[name]} equilibrium {eq[name]:.3f}")
    losses.set(title="losses", xlabel="step")
    if "distance" in result.signals:
        distance.plot(steps, result.signals["distance"], color="C4")
        distance.set(title="distance from the BCE equilibrium", xlabel="step")
    else:
        distance.text(0.5, 0.5, f"no equilibrium reference\nfor loss '{result.loss}'",
                      ha="center", va="center", transform=distance.transAxes)
        distance.set(title="distance from equilibrium")
    centres = [w["centre"] for w in result.windows]
    for index, name in enumerate(SIGNALS):
        amplitude.plot(centres, [w[name]["amplitude"] for w in result.windows], marker="o",
                       ms=3, color=f"C{index}", label=LABELS[name])
    amplitude.set(title=f"oscillation amplitude ({result.window}-point windows)",
                  xlabel="step (window centre)")
    if ada:
        panel = fig.add_subplot(grid[2, :])
        panel.plot(steps, result.signals["ada_p"], color="C5", label="p (augmentation probability)")
        panel.plot(steps, result.signals["ada_rt"], color="C6", alpha=0.7,
                   label="r_t = E[sign D(x)] over each adjustment interval")
        panel.axhline(result.references["ada_rt"], color="C6", ls="--", lw=1,
                      label=f"r_t target {result.references['ada_rt']:g}")
        panel.set(title="adaptive discriminator augmentation", xlabel="step")
        axes.append(panel)
    for axis in axes:
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def run_dynamics(run: str | Path, window: int = DEFAULT_WINDOW,
                 out: str | Path | None = None) -> tuple[Dynamics, Path]:
    """Analyse a run folder and save its figure (default RUN/dynamics.png)."""
    records, config = load_records(Path(run))
    result = analyze(records, config.get("loss", "bce"), window, config.get("ada_target", 0.6))
    folder = Path(run).parent if Path(run).is_file() else Path(run)
    return result, plot(result, Path(out) if out else folder / "dynamics.png")
