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

import fcntl
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ganforge.config import Config, save_yaml
from ganforge.errors import GanforgeError
from ganforge.generation.checkpoint import atomic_write_bytes, read_checkpoint_meta

log = logging.getLogger("ganforge")


def new_run_path(config: Config, root: Path = Path("runs")) -> Path:
    """runs/<NNNNN>-<model>-<dataset>, numbered after the highest existing run."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d+)-", p.name))]
    dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", config.dataset.split("/")[-1].replace(":", "-"))
    return root / f"{max(numbers, default=-1) + 1:05d}-{config.model}-{dataset}"


class RunDir:
    """Owns every path inside one run folder. `RunDir(path)` only reads (nothing is created);
    `RunDir.create(path)` makes the folders a training writes into."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.tensorboard = self.path / "tensorboard"
        self.explore = self.path / "explore"
        self.config_file = self.path / "config.yaml"
        self.metrics_file = self.path / "metrics.jsonl"
        self.summary_file = self.path / "summary.json"
        self.eval_file = self.path / "eval.json"
        self.lock_file = None

    @classmethod
    def create(cls, path: str | Path) -> RunDir:
        run = cls(path)
        for folder in (run.path, run.samples, run.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        return run

    # ----- reading -----
    def is_run(self) -> bool:
        return self.metrics_file.exists() or self.checkpoints.is_dir()

    def checkpoint(self, which: str = "last") -> Path:
        return self.checkpoints / f"{which}.safetensors"

    def has_checkpoint(self, which: str = "last") -> bool:
        return self.checkpoint(which).is_file()

    def checkpoint_meta(self, which: str = "last") -> dict[str, Any]:
        """Config, spec, step … of a checkpoint, from its header (no tensor is loaded)."""
        return read_checkpoint_meta(self.checkpoint(which))

    def read_config(self) -> dict[str, Any]:
        """config.yaml as a plain dict ({} when there is none)."""
        if not self.config_file.exists():
            return {}
        return yaml.safe_load(self.config_file.read_text()) or {}

    def read_summary(self) -> dict[str, Any] | None:
        return read_json(self.summary_file)

    def read_eval(self) -> dict[str, Any] | None:
        return read_json(self.eval_file)

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.path)

    def lock(self) -> None:
        """Hold RUN/.lock while training: a second training of the same folder (two terminals,
        a resume of a running run) is refused instead of interleaving its files with ours. The
        lock is the kernel's (flock), so a crashed run never leaves a stale one."""
        self.lock_file = (self.path / ".lock").open("a+")
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock_file.seek(0)
            owner = self.lock_file.read().strip() or "another process"
            self.lock_file.close()
            self.lock_file = None
            raise GanforgeError(f"run folder '{self.path}' is being trained by {owner}; wait for "
                                "it to finish (or stop it), or pick another --run-dir") from None
        self.lock_file.truncate(0)
        self.lock_file.write(f"process {os.getpid()}")
        self.lock_file.flush()

    def unlock(self) -> None:
        if self.lock_file is not None:
            self.lock_file.close()  # closing releases the flock
            self.lock_file = None

    def check_exists(self) -> None:
        """A run folder deleted while training: stop with one line instead of recreating parts
        of it (or failing on the next write with a traceback)."""
        if not self.config_file.is_file():
            raise GanforgeError(f"run folder '{self.path}' (or its config.yaml) disappeared during "
                                "training; nothing more is written — start a new run")

    # ----- writing (training only) -----
    def save_config(self, config: Config) -> None:
        save_yaml(config, self.config_file)

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
    """The records of RUN/metrics.jsonl ([] when there is none). A cut-off last line (the run was
    killed mid-write) is skipped with a warning; a damaged line elsewhere is a one-line error."""
    file = Path(run) / "metrics.jsonl"
    if not file.exists():
        return []
    try:
        lines = [line for line in file.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise GanforgeError(f"cannot read '{file}' ({err}); restore it or delete it") from None
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):
                log.warning("ignoring the cut-off last line of %s", file)
                break
            raise GanforgeError(f"'{file}' line {number} is not JSON; fix or delete that line") \
                from None
        if not isinstance(record, dict):
            raise GanforgeError(f"'{file}' line {number} is not a JSON object; fix or delete it")
        records.append(record)
    return records


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when there is none; a damaged one is a one-line error."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise GanforgeError(f"cannot read '{path}' as JSON ({err}); restore it or delete it") \
            from None
    return data if isinstance(data, dict) else None
