"""Ship a trained run's generator inside the package (maintainers).

    python tools/export_pretrained.py --run runs/00000-dcgan-mnist --name mnist \
        --data-dir ../shared/data --command "ganforge train"

Writes src/ganforge/generation/pretrained/<name>.safetensors (G + EMA, fp16), evaluates *that file*
(10k samples, both evaluators, bootstrap intervals) and records its sha256, how it was trained and
the evaluation in the manifest.
"""

from __future__ import annotations

import argparse
import json
import time

import ganforge
from ganforge.checksums import sha256_file
from ganforge.generation import pretrained
from ganforge.generation.restore import default_checkpoint, find_checkpoint
from ganforge.generation.rundir import RunDir

EVALUATION_KEYS = ("fid", "fid_ci95", "fid_over_floor", "floor_fid", "domain2_fid",
                   "domain2_fid_ci95", "domain2_fid_over_floor", "train_fid", "kid", "precision",
                   "recall", "domain2_recall", "modes", "label_accuracy", "n", "protocol",
                   "domain2_protocol")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--command", required=True, help="the command that trained the run")
    parser.add_argument("--which", choices=("default", "best", "last"), default="default",
                        help="the run's checkpoint to ship; default: best when chosen by FID, "
                             "else last")
    args = parser.parse_args()
    folder = pretrained.pretrained_dir()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{args.name}.safetensors"
    checkpoint = (default_checkpoint(args.run) if args.which == "default"
                  else find_checkpoint(args.run, args.which))
    meta = pretrained.export_generator(checkpoint, out)
    start = time.perf_counter()
    result = ganforge.evaluate(out, data_dir=args.data_dir, device="cpu")
    summary = RunDir(args.run).read_summary() or {}
    manifest = pretrained.read_manifest()
    manifest[args.name] = {
        "file": out.name, "sha256": sha256_file(out),
        "size_bytes": out.stat().st_size, "dtype": "float16", "dataset": meta["config"]["dataset"],
        "model": meta["config"]["model"], "conditional": bool(meta["spec"]["num_classes"]),
        "trained_with": {"command": args.command, "checkpoint": checkpoint.name,
                         "step": meta["step"], "train_seconds": summary.get("wall_time_s"),
                         "steps_per_s": summary.get("steps_per_s"), "config": meta["config"],
                         "ganforge": meta.get("ganforge")},
        "evaluation": {k: result[k] for k in EVALUATION_KEYS if k in result},
        "evaluation_seconds": round(time.perf_counter() - start, 1),
    }
    (folder / pretrained.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True)
                                              + "\n")
    print(json.dumps(manifest[args.name]["evaluation"], indent=2))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and its manifest entry")


if __name__ == "__main__":
    main()
