"""InceptionV3 pool3 features, from pytorch-fid's port of the 2015 TensorFlow FID network.

Only this exact network gives FID numbers comparable with papers, so the model code is pytorch-fid's
own (`pytorch_fid.inception.InceptionV3`); we only control where its weights come from: an explicit
file (`--inception-weights PATH`), else the torch hub cache where pytorch-fid keeps them, else a
download. The file is read with `torch.load(weights_only=True)`, so a hostile file cannot run code.
"""

from __future__ import annotations

import contextlib
import socket
from functools import lru_cache
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError

# sha256 of pt_inception-2015-12-05-6726825d.pth (torch.hub names files by this hash's first 8 hex
# digits): other weights give FIDs that compare with nothing, so they are refused.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

# pool3, the layer every published FID uses. pytorch-fid's other blocks (64, 192, 768) are allowed
# for parity with its --dims option; the tests use 64 to keep a 2048×2048 sqrtm off a 2-core CPU.
DIMS = 2048


def fid_weights_url() -> str:
    from pytorch_fid.inception import FID_WEIGHTS_URL

    return FID_WEIGHTS_URL


def hub_weights_path() -> Path:
    """Where pytorch-fid (via torch.hub) caches the weights: <hub dir>/checkpoints/<file name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / fid_weights_url().rsplit("/", 1)[-1]


def missing_weights_message(reason: str) -> str:
    return (f"{reason}; download {fid_weights_url()} and pass --inception-weights PATH "
            f"(or save it as {hub_weights_path()}); MNIST/Fashion-MNIST can use --features domain")


@contextlib.contextmanager
def socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download_weights(target: Path) -> Path:
    """Fetch the weights into the hub cache; offline this fails fast with the how-to line."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with socket_timeout(30):
            torch.hub.download_url_to_file(fid_weights_url(), str(target), progress=False)
    except OSError as err:  # URLError, socket timeouts and HTTP errors are all OSErrors
        raise GanforgeError(missing_weights_message(
            f"the FID Inception weights are not in {target.parent} and the download failed "
            f"({type(err).__name__})")) from None
    return target


def find_weights(path: str | Path | None = None, download: bool = True) -> Path:
    """The weights file to use: the given one (must exist), the hub cache, or a fresh download."""
    if path:
        given = Path(path).expanduser()
        if not given.is_file():
            raise GanforgeError(missing_weights_message(
                f"Inception weights file '{given}' does not exist"))
        return given
    cached = hub_weights_path()
    if cached.is_file():
        return cached
    if not download:
        raise GanforgeError(missing_weights_message(
            f"the FID Inception weights are not in {cached.parent}"))
    return download_weights(cached)


@lru_cache(maxsize=4)
def checked_weights_hash(path: str) -> str:
    """The file's sha256 when it is the FID Inception weights file, else one clear error."""
    from ganforge.metrics.classifier import sha256_file

    digest = sha256_file(path)
    if digest != WEIGHTS_SHA256:
        raise GanforgeError(missing_weights_message(
            f"'{path}' is not the FID Inception weights file (sha256 {digest[:12]}…, expected "
            f"{WEIGHTS_SHA256[:12]}…), so its FIDs would compare with nothing"))
    return digest


def read_state_dict(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise GanforgeError(missing_weights_message(
            f"cannot read Inception weights '{path}' ({type(err).__name__})")) from None


@lru_cache(maxsize=2)
def load_inception(path: str, dims: int = DIMS) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 up to the block giving `dims` features, with its weight download
    replaced by reading `path`."""
    from pytorch_fid import inception as fid_inception

    block = fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]
    state = read_state_dict(Path(path))
    try:
        with mock.patch.object(fid_inception, "load_state_dict_from_url",
                               lambda *args, **kwargs: state):
            model = fid_inception.InceptionV3([block])
    except RuntimeError as err:  # load_state_dict: missing/unexpected keys or wrong shapes
        first = str(err).splitlines()[0]
        raise GanforgeError(missing_weights_message(
            f"'{path}' is not the FID Inception state dict ({first})")) from None
    return model.eval()


@torch.inference_mode()
def inception_features(model: torch.nn.Module, images: torch.Tensor, device: str | torch.device,
                       batch_size: int = 50) -> torch.Tensor:
    """N×2048 float32 pool3 features for uint8 images (grey is repeated to RGB). Input scaling is
    pytorch-fid's: [0, 1] floats (ToTensor), resized to 299 and normalised inside the model; lower
    blocks are average-pooled to vectors as pytorch-fid's get_activations does."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GanforgeError(f"expected uint8 images shaped N×1×H×W or N×3×H×W, got {images.dtype} "
                            f"{tuple(images.shape)}; convert with ganforge.data.datasets.to_uint8")
    model = model.to(device).eval()
    out = []
    for part in images.split(batch_size):
        x = part.to(device).float().div(255.0).expand(-1, 3, -1, -1)
        pred = model(x)[0]
        if pred.shape[2:] != (1, 1):
            pred = F.adaptive_avg_pool2d(pred, output_size=(1, 1))
        out.append(pred.flatten(1).float().cpu())
    return torch.cat(out)
