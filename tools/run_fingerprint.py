"""Fingerprint of a short default-preset run: a hash of every tensor it saved and every number it
logged. Refactors must not change it (same seed, same machine, same thread count).

    OMP_NUM_THREADS=1 python tools/run_fingerprint.py --data-dir ../shared/data

Run it on the code before and after a change and compare the printed lines.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

import ganforge
from ganforge.generation.rundir import RunDir


def tensors_digest(path: Path) -> str:
    tensors, digest = load_file(str(path)), hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = ganforge.build_config("default", overrides=dict(
            data_dir=args.data_dir, steps=args.steps, minutes=0.0, eval_every=args.steps // 2,
            eval_n=1000, seed=3, run_dir=str(Path(folder) / "run"), progress=False,
            tensorboard=False))
        run = RunDir(ganforge.train(config).run_dir)
        for name in ("best", "last"):
            print(f"{name}: {tensors_digest(run.checkpoint(name))}")
        numbers = hashlib.sha256()
        for record in run.read_metrics():
            numbers.update(repr(sorted((k, v) for k, v in record.items()
                                       if isinstance(v, float) and not k.endswith("time_s"))
                                ).encode())
        print(f"logged numbers: {numbers.hexdigest()}")


if __name__ == "__main__":
    main()
