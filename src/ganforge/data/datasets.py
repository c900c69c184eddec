"""Datasets decoded once into one uint8 tensor (N×C×H×W) with integer labels.

MNIST, Fashion-MNIST and CIFAR-10 come through torchvision (downloaded when missing). `folder:PATH`
reads an image folder: class sub-folders give labels, a flat folder gives none. When MNIST can be
neither found nor downloaded, the bundled official MNIST test set (10,000 images) stands in.
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

log = logging.getLogger("ganforge")

BUILTIN = ("mnist", "fashion-mnist", "cifar10")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Horizontal flips turn digits into non-digits; clothes, CIFAR objects and faces survive them.
FLIPS_ALLOWED = {"mnist": False, "fashion-mnist": True, "cifar10": True, "folder": True}


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, N×C×H×W
    labels: torch.Tensor  # int64, N (all zero when the data has no classes)
    num_classes: int  # 0 when the data has no classes
    name: str  # dataset name as given in the config
    source: str  # where the images came from, for logs and reports

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def flips_allowed(self) -> bool:
        return FLIPS_ALLOWED[self.name.split(":", 1)[0]]


def check_dataset_name(name: str) -> None:
    if name in BUILTIN:
        return
    if name.startswith("folder:") and len(name) > len("folder:"):
        return
    raise GanforgeError(
        f"unknown dataset '{name}'; choose one of: {', '.join(BUILTIN)}, folder:PATH"
    )


def load_dataset(name: str, data_dir: str | Path, train: bool = True, download: bool = True,
                 image_size: int = 0, channels: int = 0) -> ImageSet:
    """Load a whole split into memory, resized to `image_size` and converted to `channels`."""
    check_dataset_name(name)
    if name.startswith("folder:"):
        data = load_folder(name, Path(name.split(":", 1)[1]).expanduser())
    else:
        data = load_torchvision(name, Path(data_dir).expanduser(), train, download)
    return ImageSet(resize_uint8(convert_channels(data.images, channels), image_size),
                    data.labels, data.num_classes, data.name, data.source)


def load_torchvision(name: str, root: Path, train: bool, download: bool) -> ImageSet:
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    split = "train" if train else "test"
    try:
        dataset = cls(str(root), train=train, download=False)
    except RuntimeError:
        dataset = try_download(cls, root, train) if download else None
    if dataset is None:
        if name == "mnist":
            log.warning(
                "MNIST not found in %s and could not be downloaded; using the bundled MNIST "
                "test set (10,000 images) instead", root)
            return bundled_mnist()
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
    expected = {
        "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]",
        "fashion-mnist": "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]",
        "cifar10": "cifar-10-batches-py/ (from cifar-10-python.tar.gz)",
    }[name]
    return (f"dataset '{name}' ({split} split) not found in '{root}' and the download failed "
            f"(offline?); put {expected} under --data-dir '{root}' or connect to the internet")


def bundled_mnist() -> ImageSet:
    folder = resources.files("ganforge.data") / "bundled"
    images = read_idx_gz(folder / "t10k-images-idx3-ubyte.gz", offset=16).reshape(-1, 1, 28, 28)
    labels = read_idx_gz(folder / "t10k-labels-idx1-ubyte.gz", offset=8).long()
    return ImageSet(images, labels, 10, "mnist", "bundled MNIST test set (10,000 images)")


def read_idx_gz(path, offset: int) -> torch.Tensor:
    raw = gzip.decompress(path.read_bytes())
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=offset).copy())


def load_folder(name: str, root: Path) -> ImageSet:
    """An image folder: class sub-folders (ImageFolder layout) or a flat folder of images."""
    if not root.is_dir():
        raise GanforgeError(f"image folder '{root}' does not exist; check the path in {name}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanforgeError(
            f"image folder '{root}' holds no images ({', '.join(IMAGE_SUFFIXES)}); check the path")
    class_names = sorted({p.parent.relative_to(root).as_posix() for p in files} - {"."})
    flat = not class_names or any(p.parent == root for p in files)
    class_index = {c: i for i, c in enumerate(class_names)}
    labels = [0 if flat else class_index[p.parent.relative_to(root).as_posix()] for p in files]
    images = decode_images(files)
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64),
                    0 if flat else len(class_names), name, str(root))


def decode_images(files: list[Path]) -> torch.Tensor:
    """Decode every file once (threads; PIL releases the GIL) to one uint8 tensor."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image, UnidentifiedImageError

    def decode(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise GanforgeError(f"cannot read image '{path}' ({err}); remove or replace it") from None

    with ThreadPoolExecutor() as pool:
        arrays = list(pool.map(decode, files))
    size = arrays[0].shape[:2]
    if any(a.shape[:2] != size for a in arrays):
        side = min(min(a.shape[:2]) for a in arrays)
        arrays = [center_crop_resize(a, side) for a in arrays]
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    if bool((images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all()):
        images = images[:, :1].contiguous()  # grayscale files stay one channel
    return images


def center_crop_resize(array: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(array)
    w, h = image.size
    crop = min(w, h)
    left, top = (w - crop) // 2, (h - crop) // 2
    image = image.crop((left, top, left + crop, top + crop)).resize((side, side), Image.BICUBIC)
    return np.asarray(image)


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
