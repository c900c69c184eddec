"""`ganforge ensemble`: finished runs → one generator that samples their uniform mixture.

The ensemble is written as a run-like folder holding `checkpoints/last.safetensors`: the members'
sampling weights (their EMA generators where they have one) under `G/members.<i>/…`, and in the
metadata each member's config, model spec, step and source, so `load_generator` rebuilds it like
any checkpoint and `sample`, `evaluate` and the latent tools take the folder as they take a run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.generation.checkpoint import module_tensors, save_checkpoint
from ganforge.generation.restore import ENSEMBLE_KEY, LEVELS_KEY, load_generator
from ganforge.models.mixture import MixtureGenerator

log = logging.getLogger("ganforge")


def build_ensemble(sources: list[str], which: str = "auto"
                   ) -> tuple[MixtureGenerator, dict[str, Any]]:
    """(the mixture of the generators in `sources`, the checkpoint metadata that rebuilds it)."""
    if len(sources) < 2:
        raise GanforgeError("an ensemble needs at least two runs or checkpoints; give two or more")
    loaded = [load_generator(source, which) for source in sources]
    first_generator, first_config, first_meta = loaded[0]
    paths = [meta["checkpoint_path"] for _, _, meta in loaded]
    if len(set(paths)) < len(paths):
        log.warning("the same checkpoint is given more than once; its share of the mixture grows, "
                    "but no diversity is added")
    for source, (_, config, meta) in zip(sources[1:], loaded[1:]):
        check_compatible(sources[0], first_config, first_meta, source, config, meta)
    members = [{"source": str(source), "checkpoint": meta["checkpoint_path"],
                "step": meta["step"], "config": meta["config"], "spec": meta["spec"],
                LEVELS_KEY: meta.get(LEVELS_KEY)}
               for source, (_, _, meta) in zip(sources, loaded)]
    meta = {"config": first_meta["config"], "spec": first_meta["spec"],
            "step": sum(member["step"] for member in members),
            "wall_time_s": sum(m.get("wall_time_s") or 0.0 for _, _, m in loaded),
            "class_prior": first_generator.class_prior, ENSEMBLE_KEY: members}
    return MixtureGenerator([generator for generator, _, _ in loaded]), meta


def check_compatible(first_source: str, first_config, first_meta: dict, source: str, config,
                     meta: dict) -> None:
    """Members must draw the same kind of images from the same kind of latent and labels."""
    for what, a, b in (("dataset", first_config.dataset, config.dataset),
                       ("model spec", first_meta["spec"], meta["spec"]),
                       ("latent_dim", first_config.latent_dim, config.latent_dim)):
        if a != b:
            raise GanforgeError(f"'{source}' has {what} {b}, '{first_source}' {a}; an ensemble's "
                                "members must be trained on the same data with the same latent "
                                "size and conditioning")


def write_ensemble(sources: list[str], out: str | Path, which: str = "auto") -> Path:
    """Build the ensemble of `sources` and write it to the folder `out`; returns its checkpoint."""
    out = Path(out)
    path = out / "checkpoints" / "last.safetensors"
    if path.exists():
        raise GanforgeError(f"'{out}' already holds a checkpoint; pick another --out")
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"'{out}' is a file; --out takes a folder to create")
    mixture, meta = build_ensemble(sources, which)
    save_checkpoint(path, module_tensors("G", mixture), meta)
    return path
