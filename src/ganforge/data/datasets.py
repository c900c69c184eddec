"""Datasets decoded once into one uint8 tensor (N×C×H×W) with integer labels.

MNIST, Fashion-MNIST and CIFAR-10 come through torchvision (downloaded when missing). `folder:PATH`
reads an image folder: class sub-folders give labels, a flat folder gives none. When MNIST can be
neither found nor downloaded, the bundled copies stand in: the first 10,000 official training images
for training, the official 10,000-image test set as the evaluation reference.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.registry import Registry

log = logging.getLogger("ganforge")



@dataclass(frozen=True)
class DatasetKind:
    """A dataset name the config accepts: where it comes from and what augmentation may do."""

    torchvision_class: str | None  # torchvision.datasets class; None: an image folder
    layout: str  # what --data-dir must hold, for the error when it is missing
    flips_allowed: bool  # horizontal flips turn digits into non-digits; clothes survive them


DATASETS: Registry[DatasetKind] = Registry("dataset")
DATASETS.register("mnist")(DatasetKind(
    "MNIST", "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]", False))
DATASETS.register("fashion-mnist")(DatasetKind(
    "FashionMNIST", "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]", True))
DATASETS.register("cifar10")(DatasetKind(
    "CIFAR10", "cifar-10-batches-py/ (from cifar-10-python.tar.gz)", True))
DATASETS.register("folder")(DatasetKind(None, "an image folder: folder:PATH", True))
BUILTIN = tuple(name for name in DATASETS.names() if DATASETS.get(name).torchvision_class)


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, N×C×H×W
    labels: torch.Tensor  # int64, N (all zero when the data has no classes)
    num_classes: int  # 0 when the data has no classes
    name: str  # dataset name as given in the config
    source: str  # where the images came from, for logs and reports
    # identifies `images` exactly (image folders: their cache key), so the reference cache need
    # not hash the pixels; None when unknown
    content_key: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def flips_allowed(self) -> bool:
        return DATASETS.get(self.name.split(":", 1)[0]).flips_allowed


def check_dataset_name(name: str) -> None:
    if name in BUILTIN:
        return
    if name.startswith("folder:") and len(name) > len("folder:"):
        return
    raise GanforgeError(
        f"unknown dataset '{name}'; choose one of: {', '.join(BUILTIN)}, folder:PATH"
    )


def check_folder_exists(name: str) -> None:
    """A missing image folder is the first thing to say, before any other setting is judged."""
    if name.startswith("folder:"):
        root = Path(name.split(":", 1)[1]).expanduser()
        if not root.is_dir():
            raise GanforgeError(f"image folder '{root}' does not exist; check the path in {name}")


def load_dataset(name: str, data_dir: str | Path, train: bool = True, download: bool = True,
                 image_size: int = 0, channels: int = 0) -> ImageSet:
    """Load a whole split into memory, resized to `image_size` and converted to `channels`."""
    check_dataset_name(name)
    if name.startswith("folder:"):
        from ganforge.data.folders import load_folder  # imports ImageSet from here

        data = load_folder(name, Path(name.split(":", 1)[1]).expanduser(), image_size)
    else:
        data = load_torchvision(name, Path(data_dir).expanduser(), train, download)
    images = resize_uint8(convert_channels(data.images, channels), image_size)
    content_key = data.content_key if images is data.images else None  # converted: key no longer fits
    return ImageSet(images, data.labels, data.num_classes, data.name, data.source, content_key)


def load_torchvision(name: str, root: Path, train: bool, download: bool) -> ImageSet:
    import torchvision.datasets as tvd

    cls = getattr(tvd, DATASETS.get(name).torchvision_class)
    split = "train" if train else "test"
    try:
        dataset = cls(str(root), train=train, download=False)
    except RuntimeError:
        dataset = try_download(cls, root, train) if download else None
    if dataset is None:
        if name == "mnist":
            bundled = bundled_mnist(train)
            log.warning("MNIST (%s split) not found in %s and could not be downloaded; using "
                        "the %s instead", split, root, bundled.source)
            return bundled
        raise GanforgeError(missing_dataset_message(name, root, split))
    images = torch.as_tensor(np.asarray(dataset.data))
    images = images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)
    labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return ImageSet(images.contiguous(), labels, 10, name, f"{root} ({split})")


def try_download(cls, root: Path, train: bool):
    """Download quietly; None when there is no network (or the mirrors refuse)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return cls(str(root), train=train, download=True)
    except (RuntimeError, OSError, ValueError):
        return None


def missing_dataset_message(name: str, root: Path, split: str) -> str:
    expected = DATASETS.get(name).layout
    return (f"dataset '{name}' ({split} split) not found in '{root}' and the download failed "
            f"(offline?); put {expected} under --data-dir '{root}' or connect to the internet")


BUNDLED_MNIST = {  # split → (file prefix, description); see README "Data and licences"
    True: ("train-10k", "bundled MNIST training subset (the first 10,000 official training images)"),
    False: ("t10k", "bundled MNIST test set (the official 10,000 test images)"),
}


def bundled_mnist(train: bool) -> ImageSet:
    """The offline stand-in for MNIST: genuine training images to train on, and the official test
    set as the evaluation reference, so the two never overlap."""
    prefix, description = BUNDLED_MNIST[train]
    folder = resources.files("ganforge.data") / "bundled"
    images = read_idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", offset=16).reshape(-1, 1, 28, 28)
    labels = read_idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", offset=8).long()
    return ImageSet(images, labels, 10, "mnist", description)


def read_idx_gz(path, offset: int) -> torch.Tensor:
    raw = gzip.decompress(path.read_bytes())
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=offset).copy())


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    have = images.shape[1]
    if channels in (0, have):
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * luma).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    if size in (0, images.shape[-1]) and images.shape[-1] == images.shape[-2]:
        return images
    size = size or images.shape[-1]
    out = [F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False).round().clamp(0, 255).to(torch.uint8)
           for part in images.split(chunk)]
    return torch.cat(out)


def parse_classes(text: str) -> list[int]:
    """'0,3' → [0, 3]; '' → [] (every class)."""
    try:
        return sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise GanforgeError(f"bad value classes={text!r}; give comma-separated integers like "
                            "'0,1'") from None


def select(data: ImageSet, classes: list[int], subset: float, seed: int) -> ImageSet:
    """Keep only some classes and/or a seeded random fraction of the images."""
    keep = torch.arange(len(data))
    if classes:
        bad = [c for c in classes if not 0 <= c < max(data.num_classes, 1)]
        if bad:
            raise GanforgeError(f"classes {bad} do not exist in {data.name} "
                                f"({data.num_classes} classes); pick from 0..{data.num_classes - 1}")
        keep = keep[torch.isin(data.labels, torch.tensor(classes))]
    if subset < 1:
        order = torch.randperm(len(keep), generator=torch.Generator().manual_seed(seed))
        keep = keep[order[: max(1, int(round(subset * len(keep))))]].sort().values
    if len(keep) == len(data):
        return data
    return ImageSet(data.images[keep], data.labels[keep], data.num_classes, data.name,
                    f"{data.source}, {len(keep)} selected")


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1], the generator's output range."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255] (rounded, clamped)."""
    return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)
