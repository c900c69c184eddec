"""What a training writes: metrics.jsonl, sample grids, checkpoints, figures, TensorBoard.

The trainer talks to one `Outputs` object. Rank 0 (or a single process) gets a `RunOutputs` over
its run folder; the other ranks of a torchrun launch, and trainings without a folder, get the
plain `Outputs`, whose methods do nothing, so the training loop needs no "am I the writer?" checks
beyond skipping work whose only purpose is output (`active`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import Config
from ganforge.generation import checkpoint as ckpt
from ganforge.generation.images import grid_image, save_gif, save_grid
from ganforge.generation.rundir import RunDir
from ganforge.training.figures import plot_losses


class Outputs:
    """No outputs: the interface, with every method doing nothing."""

    active = False  # False: skip work whose only purpose is output (sample grids, evaluation)
    path: Path | None = None
    last_checkpoint: Path | None = None

    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def start(self) -> None: ...
    def check_exists(self) -> None: ...
    def forget_after(self, step: int) -> None: ...
    def log_training(self, record: dict[str, Any], stats: dict[str, float]) -> None: ...
    def log_evaluation(self, record: dict[str, Any], result: dict[str, Any]) -> None: ...
    def save_samples(self, name: str, images: torch.Tensor, step: int) -> None: ...
    def save_checkpoint(self, name: str, tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


class RunOutputs(Outputs):
    active = True

    def __init__(self, run: RunDir, config: Config) -> None:
        self.run, self.config = run, config
        self.writer = None
        self.path = run.path
        self.last_checkpoint = run.checkpoint("last")

    # ----- the folder -----
    def lock(self) -> None:
        self.run.lock()  # before anything in the folder is read or changed

    def unlock(self) -> None:
        self.run.unlock()

    def start(self) -> None:
        self.run.save_config(self.config)
        if self.config.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run.tensorboard))

    def check_exists(self) -> None:
        self.run.check_exists()

    def forget_after(self, step: int) -> None:
        """On resume: drop the records logged after the checkpoint (they will be logged again)."""
        self.run.truncate_metrics_after(step)

    # ----- records -----
    def log_training(self, record: dict[str, Any], stats: dict[str, float]) -> None:
        self.run.append_metrics(record)
        if self.writer is not None:
            for name, value in stats.items():
                self.writer.add_scalar(f"train/{name}", value, record["step"])

    def log_evaluation(self, record: dict[str, Any], result: dict[str, Any]) -> None:
        self.run.append_metrics(record)
        if self.writer is not None:
            for key in ("fid", "kid", "modes"):
                self.writer.add_scalar(f"eval/{key}", result[key], record["step"])

    def save_samples(self, name: str, images: torch.Tensor, step: int) -> Path:
        path = save_grid(images, self.run.samples / f"{name}.png")
        if self.writer is not None:
            self.writer.add_image("samples", np.asarray(grid_image(images).convert("RGB")),
                                  step, dataformats="HWC")
        return path

    def save_checkpoint(self, name: str, tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> None:
        ckpt.save_checkpoint(self.run.checkpoint(name), tensors, meta)

    def finish(self, summary: dict[str, Any]) -> None:
        """Loss curves, the progress GIF and summary.json; closes TensorBoard."""
        plot_losses(self.run.path, self.run.path / "losses.png")
        samples = self.run.samples
        frames = sorted(samples.glob("epoch_*.png")) or sorted(samples.glob("step_*.png"))
        save_gif(frames + [samples / "final.png"], samples / "progress.gif")
        self.run.write_json(self.run.summary_file.name, summary)
        if self.writer is not None:
            self.writer.close()
