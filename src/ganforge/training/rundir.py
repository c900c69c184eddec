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

from ganforge.config import Config, save_yaml
from ganforge.errors import GanforgeError
from ganforge.training.checkpoint import atomic_write_bytes

log = logging.getLogger("ganforge")


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
        self.lock_file = None

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
        if not (self.path / "config.yaml").is_file():
            raise GanforgeError(f"run folder '{self.path}' (or its config.yaml) disappeared during "
                                "training; nothing more is written — start a new run")

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
