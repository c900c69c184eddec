"""The library API: what the command line does, as functions.

    import ganforge
    config = ganforge.build_config("default", overrides={"steps": 2000, "data_dir": "data"})
    summary = ganforge.train(config)                     # a run folder under runs/
    result = ganforge.evaluate(summary.run_dir)          # FID, KID, precision/recall, … (a dict)
    images, meta = ganforge.sample(summary.run_dir, n=16, label=3)  # uint8 N×C×H×W
    ganforge.ensemble(["runs/00001-dcgan-mnist", "runs/00002-dcgan-mnist"], "runs/pair")
    ganforge.calibrate("runs/00001-dcgan-mnist", n=5000)  # output levels into its checkpoints

Every function raises GanforgeError (one line: the problem and the fix) for bad input.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Config, build_config, config_from_dict
from ganforge.data.datasets import check_folder_exists
from ganforge.device import resolve_device
from ganforge.errors import GanforgeError
from ganforge.evaluation import evaluate_source, resolve_eval_features
from ganforge.generation.checkpoint import find_checkpoint, read_checkpoint_meta
from ganforge.generation.ensemble import write_ensemble
from ganforge.generation.levels import calibrate_checkpoints
from ganforge.generation.restore import load_discriminator, load_generator
from ganforge.generation.rundir import RunDir, new_run_path
from ganforge.generation.sampling import class_labels, generate_uint8, sample_labels
from ganforge.generation.selection import DEFAULT_POOL, Selection, select_uint8
from ganforge.metrics.nearest import DEFAULT_K
from ganforge.training.distributed import DistributedContext
from ganforge.training.trainer import Summary, Trainer

log = logging.getLogger("ganforge")


def resume_config(run: str | Path, config_file: str | None = None,
                  overrides: dict[str, Any] | None = None) -> Config:
    """The config a run was trained with (from its last checkpoint), with a YAML file and
    overrides layered on top — what `train --resume RUN` continues with."""
    meta = read_checkpoint_meta(find_checkpoint(run, "last"))
    return build_config(None, config_file, overrides or {}, base=config_from_dict(meta["config"]))


def train(config: Config, resume: str | Path | None = None) -> Summary:
    """Train `config` into a new run folder (config.run_dir, else the next runs/NNNNN-…), or
    continue the run folder `resume` bit-exactly (pass resume_config(resume) or a variation of
    it). Under torchrun every rank calls this; only rank 0 writes."""
    resume_from = find_checkpoint(resume, "last") if resume else None
    if resume_from is not None:
        run_path: Path | None = resume_from.parent.parent
    else:
        run_path = Path(config.run_dir) if config.run_dir else None
        if run_path and (run_path / "checkpoints" / "last.safetensors").exists():
            raise GanforgeError(f"run folder '{run_path}' already holds a run; continue it with "
                                f"--resume {run_path} or pick another --run-dir")
    check_folder_exists(config.dataset)
    config = resolve_eval_features(config)  # before the run folder exists: may refuse the run
    dist = DistributedContext.from_environment(config.device)
    if run_path is None:
        # rank 0 numbers the new folder; the others take its choice (scanning runs/ on every rank
        # would race with rank 0 creating it)
        run_path = Path(dist.broadcast_object(str(new_run_path(config)) if dist.is_main else None))
    config = dataclasses.replace(config, run_dir=str(run_path))
    created_here = dist.is_main and resume_from is None and not run_path.exists()
    try:
        try:
            trainer = Trainer(config, RunDir.create(run_path) if dist.is_main else None, dist,
                              resume_from)
        except GanforgeError:
            if created_here:
                remove_if_empty(run_path)
            raise
        if dist.is_main:
            print(trainer.describe(), file=sys.stderr)
        return trainer.train()
    finally:
        dist.close()


def remove_if_empty(run_path: Path) -> None:
    """Remove a run folder that a refused setup (e.g. a model that does not fit the images) left
    with nothing in it but empty folders and its lock file."""
    if all(p.is_dir() or p.name == ".lock" for p in run_path.rglob("*")):
        shutil.rmtree(run_path, ignore_errors=True)


def evaluate(source: str | Path, *, dataset: str | None = None, data_dir: str | None = None,
             n: int = 10000, ref: str = "test", features: str | None = None, which: str = "auto",
             inception_weights: str | None = None, seed: int = 12345, device: str = "auto",
             bootstrap: int = 100, extra_protocols: bool = True, nearest: int | None = None,
             nearest_k: int = DEFAULT_K, nearest_dir: str | Path | None = None,
             select_by_d: float = 0.0, select_pool: int = DEFAULT_POOL) -> dict[str, Any]:
    """Evaluate a run folder or checkpoint (by sampling n images), a samples .npz or an image
    folder against the reference split: every number with its protocol and floor. For MNIST and
    Fashion-MNIST `extra_protocols` adds the second evaluator (domain2_*) and the other split
    (train_*); `bootstrap` resamples give the 95 % intervals of FID and KID. `nearest=N` adds the
    memorisation check: N samples against their `nearest_k` nearest training images (the run's
    own; a .npz or folder compares with `dataset`'s training split), copy rates (nearest_*) and
    two pictures, nearest.png and nearest_pixels.png, in `nearest_dir` (default: the run folder,
    else the folder holding the source). `select_by_d` > 0 keeps, of `select_pool` candidates
    per sample, those the run's own discriminator prefers (weights exp(select_by_d * logit);
    generation/selection.py)."""
    return evaluate_source(str(source), dataset=dataset, data_dir=data_dir, n=n, ref=ref,
                           features=features, which=which, inception_weights=inception_weights,
                           seed=seed, device=device, bootstrap=bootstrap,
                           extra_protocols=extra_protocols, nearest=nearest, nearest_k=nearest_k,
                           nearest_dir=nearest_dir,
                           selection=selection_of(select_by_d, select_pool))


def selection_of(select_by_d: float, select_pool: int) -> Selection | None:
    """The Selection the two arguments ask for (checked); None, plain sampling, at weight 0."""
    return Selection(select_by_d, select_pool) if select_by_d else None


def sample(source: str | Path, n: int = 64, *, seed: int = 0, label: int | None = None,
           which: str = "auto", ema: bool = True, device: str = "cpu",
           select_by_d: float = 0.0, select_pool: int = DEFAULT_POOL
           ) -> tuple[torch.Tensor, dict[str, Any]]:
    """(n uint8 images N×C×H×W, checkpoint metadata incl. its path and step) from a run folder or
    checkpoint; `label` draws one class of a conditional model (default: classes in the training set's
    shares, as evaluation draws them). `select_by_d` > 0 keeps the samples the run's
    discriminator prefers, as in `evaluate`."""
    if n <= 0:
        raise GanforgeError(f"--n must be > 0 (got {n})")
    selection = selection_of(select_by_d, select_pool)
    generator, _, meta = load_generator(source, which, ema, resolve_device(device))
    labels = class_labels(generator, label, n)
    if selection is None:
        return generate_uint8(generator, n, seed, labels=labels), meta
    if labels is None:
        labels = sample_labels(generator, n)
    discriminator = load_discriminator(meta, next(generator.parameters()).device)
    return select_uint8(generator, discriminator, n, seed, labels, selection), meta


def ensemble(sources: list[str | Path], out: str | Path, which: str = "auto") -> Path:
    """Write the uniform mixture of the generators of `sources` (run folders, checkpoints or
    pretrained:NAME, each at checkpoint `which`) as the run-like folder `out`, which `sample`,
    `evaluate` and the latent tools take like a run; returns its checkpoint file."""
    return write_ensemble([str(source) for source in sources], out, which)


def calibrate(source: str | Path, n: int = 5000, data_dir: str | Path | None = None) -> list[Path]:
    """Fit the output levels of every checkpoint of run folder `source` (or of one checkpoint
    file) to its training images from `n` samples, as `train --calibrate-levels n` would have;
    `n` = 0 removes them. Returns the checkpoint files rewritten (weights unchanged)."""
    return calibrate_checkpoints(source, n, None if data_dir is None else str(data_dir))
