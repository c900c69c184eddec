"""The run folder: everything a run writes, in one place.

runs/<name>/
  config.yaml            the validated config (rebuilds the networks)
  metrics.jsonl          one JSON line per log interval / evaluation
  summary.json           steps, wall time, steps/s, best metric
  samples/               epoch_0001.png …, step_000500.png …, progress.gif
  checkpoints/           last.safetensors, best.safetensors
  tensorboard/           event files
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ganforge.config import Config, save_yaml
from ganforge.training.checkpoint import atomic_write_bytes


def new_run_path(config: Config, root: Path = Path("runs")) -> Path:
    """runs/<NNNNN>-<model>-<dataset>, numbered after the highest existing run."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d+)-", p.name))]
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.dataset.split("/")[-1].replace(":", "-"))
    return root / f"{max(numbers, default=-1) + 1:05d}-{config.model}-{dataset}"


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        for folder in (self.path, self.samples, self.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    def save_config(self, config: Config) -> None:
        save_yaml(config, self.path / "config.yaml")

    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_file.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_metrics_after(self, step: int) -> None:
        """On resume, drop records logged after the checkpoint (they will be logged again)."""
        if not self.metrics_file.exists():
            return
        kept = [line for line in self.metrics_file.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write_bytes(self.metrics_file, "".join(k + "\n" for k in kept).encode())

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        atomic_write_bytes(self.path / name, (json.dumps(data, indent=2) + "\n").encode())


def read_metrics(run: Path) -> list[dict[str, Any]]:
    file = Path(run) / "metrics.jsonl"
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
