"""Matplotlib figures from a run's metrics.jsonl (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ganforge.generation.rundir import RunDir  # noqa: E402


def plot_losses(run: Path, out: Path) -> Path | None:
    """Loss curves (D and G) and D's outputs on real and fake images against steps."""
    records = [r for r in RunDir(run).read_metrics() if "loss_d" in r]
    if not records:
        return None
    steps = [r["step"] for r in records]
    fig, (losses, outputs) = plt.subplots(1, 2, figsize=(10, 3.6))
    losses.plot(steps, [r["loss_d"] for r in records], label="discriminator")
    losses.plot(steps, [r["loss_g"] for r in records], label="generator")
    losses.set(xlabel="step", ylabel="loss", title="losses")
    outputs.plot(steps, [r["d_real"] for r in records], label="D(x), real")
    outputs.plot(steps, [r["d_fake"] for r in records], label="D(G(z)), fake")
    outputs.set(xlabel="step", title="discriminator outputs")
    for axis in (losses, outputs):
        axis.legend()
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
