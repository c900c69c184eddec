"""Generators that ship inside the package, so sampling and latent exploration work straight
after install, with no training.

Each is an ordinary ganforge checkpoint holding only the generator (`G/…`, `G_ema/…`, fp16) and
the metadata that rebuilds it, in `generation/pretrained/<name>.safetensors`. Its sha256, how it
was trained and how it evaluates are recorded in `generation/pretrained/manifest.json`; the
checksum is checked before every load, so a damaged or swapped file is refused.
`python tools/export_pretrained.py --run RUN --name NAME` writes both.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ganforge.checksums import sha256_file
from ganforge.errors import GanforgeError
from ganforge.generation.checkpoint import load_checkpoint, save_checkpoint
from ganforge.registry import unknown_choice_message

MANIFEST = "manifest.json"


def pretrained_dir() -> Path:
    return Path(str(resources.files("ganforge.generation") / "pretrained"))


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    path = (folder or pretrained_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def names() -> list[str]:
    return sorted(read_manifest())


def pretrained_path(name: str, folder: Path | None = None) -> Path:
    """The checked weights file of the shipped generator `name`."""
    folder = folder or pretrained_dir()
    entry = read_manifest(folder).get(name)
    if entry is None:
        raise GanforgeError(unknown_choice_message("pretrained generator", name,
                                                   names() or ["(none installed)"]))
    path = folder / entry["file"]
    if not path.is_file():
        raise GanforgeError(f"the pretrained generator '{name}' ({path}) is missing; reinstall "
                            "ganforge")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise GanforgeError(f"{path} has sha256 {digest[:12]}…, the manifest expects "
                            f"{entry['sha256'][:12]}…; reinstall ganforge")
    return path


def export_generator(checkpoint: Path, out: Path) -> dict[str, Any]:
    """Write the generator weights of a training checkpoint (G and its EMA, fp16) with the
    metadata that rebuilds it; returns that metadata."""
    tensors, meta = load_checkpoint(checkpoint)
    kept = {k: v.to(torch.float16) if v.is_floating_point() else v
            for k, v in tensors.items() if k.startswith(("G/", "G_ema/"))}
    if not any(k.startswith("G/") for k in kept):
        raise GanforgeError(f"'{checkpoint}' holds no generator weights; export a checkpoint "
                            "written by `ganforge train`")
    # class_prior: `sample` and `evaluate` draw a conditional generator's classes in its training
    # shares; without it they fall back to balanced, which alone adds ~0.8x the floor on MNIST
    kept_meta = ("config", "spec", "step", "wall_time_s", "best_eval", "class_prior", "ensemble",
                 "output_levels", "ganforge")
    shipped = {key: meta[key] for key in kept_meta if key in meta}
    save_checkpoint(out, kept, shipped)
    return shipped
