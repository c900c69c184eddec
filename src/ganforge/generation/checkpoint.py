"""Checkpoints as one safetensors file: tensors only, plus JSON metadata — nothing is unpickled.

Layout of the tensor names: `G/…`, `D/…`, `G_ema/…` (module state dicts), `opt_G/…`, `opt_D/…`
(optimiser state tensors), `rng/…` and `data/…` (random-generator states and the data order), so a
run resumes bit-exactly. The metadata holds the config, the model spec, the step and the optimiser
hyper-parameters. Writes go to a temporary file that is renamed into place, so a crash mid-write
never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ganforge.errors import GanforgeError

FORMAT = "ganforge-checkpoint"
VERSION = 1
REQUIRED_META = ("config", "spec", "step")  # what rebuilding the networks needs


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "version": str(VERSION), "meta": json.dumps(meta)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, SafetensorError) as err:  # e.g. a full disk: the old checkpoint stays
        reason = getattr(err, "strerror", None) or str(err)
        raise GanforgeError(f"could not write checkpoint '{path}' ({reason}); the previous one "
                            "is kept — free disk space, then continue with --resume") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """A checkpoint's metadata (config, spec, step, …) from its header alone — no tensor is read.
    Corrupt or foreign files raise a one-line GanforgeError."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"checkpoint '{path}' not found; give a run folder or a .safetensors "
                            "checkpoint written by ganforge")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise corrupt(path, err) from None
    if metadata.get("format") != FORMAT:
        raise GanforgeError(f"'{path}' is a safetensors file but not a ganforge checkpoint; "
                            "pass a checkpoint written by `ganforge train`")
    if int(metadata.get("version", -1)) > VERSION:
        raise GanforgeError(f"checkpoint '{path}' was written by a newer ganforge "
                            f"(format v{metadata['version']}); upgrade ganforge")
    try:
        meta = json.loads(metadata["meta"])
    except (KeyError, ValueError) as err:
        raise GanforgeError(f"checkpoint '{path}' has unreadable metadata ({type(err).__name__}); "
                            "use another checkpoint, e.g. checkpoints/best.safetensors") from None
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise GanforgeError(f"checkpoint '{path}' lacks '{missing[0]}' in its metadata; use another "
                            "checkpoint, e.g. checkpoints/best.safetensors")
    return meta


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a ganforge checkpoint; corrupt or foreign files raise a one-line
    GanforgeError."""
    meta = read_checkpoint_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise corrupt(Path(path), err) from None
    return tensors, meta


def corrupt(path: Path, err: Exception) -> GanforgeError:
    return GanforgeError(f"checkpoint '{path}' is corrupt or not a safetensors file ({err}); "
                         "use another checkpoint, e.g. checkpoints/best.safetensors")


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{k}": v for k, v in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + "/")}
    if not state:
        raise GanforgeError(f"the checkpoint holds no '{prefix}' weights; use a checkpoint written "
                            "by `ganforge train`")
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise GanforgeError(f"checkpoint weights do not fit the '{prefix}' network ({first}); "
                            "was it written by a different model config?") from None


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser state into tensors (for safetensors) and JSON-able hyper-parameters."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}/{index}/{name}"] = value
            else:
                scalars[f"{index}/{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer(prefix: str, optimizer: torch.optim.Optimizer,
                   tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "/"):
            index, name = key[len(prefix) + 1:].split("/", 1)
            state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_tensors() -> dict[str, torch.Tensor]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    if torch.backends.mps.is_available():
        tensors["rng/mps"] = torch.mps.get_rng_state()
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = sorted(k for k in tensors if k.startswith("rng/cuda/"))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    if "rng/mps" in tensors and torch.backends.mps.is_available():
        torch.mps.set_rng_state(tensors["rng/mps"])


def find_checkpoint(source: str | Path, which: str = "last") -> Path:
    """A run folder (→ its checkpoints/<which>.safetensors) or a checkpoint file itself."""
    source = Path(source)
    if source.is_dir():
        path = source / "checkpoints" / f"{which}.safetensors"
        if not path.is_file():
            raise GanforgeError(f"run folder '{source}' has no checkpoints/{which}.safetensors; "
                                "train it first (or give a checkpoint file)")
        return path
    if not source.exists():
        raise GanforgeError(f"'{source}' does not exist; give a run folder or a checkpoint file")
    return source


# ----- the layout of a training checkpoint (the only place that knows its tensor names) -----
def training_tensors(modules: dict[str, torch.nn.Module | None],
                     optimizers: dict[str, torch.optim.Optimizer], noise_state: torch.Tensor,
                     data_state: dict[str, torch.Tensor],
                     rank_rng: list[dict[str, torch.Tensor]] | None = None,
                     states: dict[str, dict[str, torch.Tensor]] | None = None
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, optimiser metadata by name) of everything an exact resume needs: module weights
    (`G/…`, `D/…`, `G_ema/…`), optimiser states, this process's random states (`rng/…`), the
    noise stream, every other rank's states (`rng/rank{r}/…`), the data order (`data/…`) and
    the state of stateful training parts by name (`states`: e.g. under --augment ada the
    augmentation probability and its statistic, `ada/…`; under --lecam the score averages,
    `lecam/…`)."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        if module is not None:
            tensors.update(module_tensors(prefix, module))
    optimizer_meta = {}
    for prefix, optimizer in optimizers.items():
        state, optimizer_meta[prefix] = optimizer_tensors(prefix, optimizer)
        tensors.update(state)
    tensors.update(rng_tensors())
    tensors["rng/noise"] = noise_state
    for rank, rng_states in enumerate(rank_rng or []):
        if rank:  # rank 0's states are this process's, stored above
            tensors.update({f"rng/rank{rank}/{k[4:]}": v for k, v in rng_states.items()})
    tensors.update({f"data/{k}": v for k, v in data_state.items()})
    for group, state in (states or {}).items():
        tensors.update({f"{group}/{k}": v for k, v in state.items()})
    return tensors, optimizer_meta


def noise_state(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return tensors["rng/noise"]


def data_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("data/"):]: v for k, v in tensors.items() if k.startswith("data/")}


def group_state(tensors: dict[str, torch.Tensor], group: str) -> dict[str, torch.Tensor]:
    """The `group/…` tensors (e.g. `ada`); KeyError('group/…') when the checkpoint has none."""
    state = {k[len(group) + 1:]: v for k, v in tensors.items() if k.startswith(group + "/")}
    if not state:
        raise KeyError(f"{group}/…")
    return state


def rank_rng_tensors(tensors: dict[str, torch.Tensor], rank: int
                     ) -> dict[str, torch.Tensor] | None:
    """The random states rank `rank` resumes with, in restore_rng's layout; None when the
    checkpoint has none for it (it was written by fewer processes)."""
    if rank == 0:
        return tensors
    prefix = f"rng/rank{rank}/"
    own = {"rng/" + k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return own or None
