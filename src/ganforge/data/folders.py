"""Image folders (`folder:PATH`), decoded once at training size into a memory-mapped cache.

Decoding every file at full resolution and stacking the result needs the whole folder in RAM
(CelebA: 23 GB) before anything is resized. Instead:

- Listing: the files (class sub-folders give labels, a flat folder gives none), with their sizes
  and modification times; one `stat` per file, no image opened.
- Pass 1 reads only the headers (size and mode, no pixels) to choose the side (the requested one,
  else the smallest min(w, h)) and the channels (1 when every file is greyscale). The result is
  kept next to the cache, keyed by the listing, so a later load opens no image for it either.
- The cache key is a sha256 over the relative paths, file sizes, mtimes, side, channels and
  CACHE_VERSION: changing, adding or removing a file changes it. A hit memory-maps
  `$GANFORGE_CACHE/folders/<key>.npy`: nothing is decoded, pages are read when training uses them.
- On a miss, pass 2 decodes in a thread pool, chunk by chunk, centre-crops each image to a square
  and resizes it with PIL's LANCZOS (as StyleGAN2-ADA's dataset_tool does: no squashing), writing
  straight into a preallocated uint8 N×C×S×S `.npy` memory map. Peak memory is that array plus one
  full-size image per thread. The file gets its name only when complete, so an interrupted run
  never leaves half a cache; an unwritable cache folder means an in-memory array instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganforge.cache import ganforge_cache_dir
from ganforge.data.datasets import ImageSet
from ganforge.errors import GanforgeError

log = logging.getLogger("ganforge")

CACHE_VERSION = 1  # bump when the decoded pixels for the same files would change
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
CHUNK = 512  # files in flight at once: bounds the queued work, not the decoded pixels
DECODE_ERRORS = (UnidentifiedImageError, OSError, Image.DecompressionBombError)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Listing:
    root: Path
    files: list[Path]  # sorted
    labels: list[int]  # one per file, all 0 for a flat folder
    num_classes: int  # 0 for a flat folder
    stats: list[os.stat_result]


def folder_cache_dir() -> Path:
    return ganforge_cache_dir() / "folders"


def load_folder(name: str, root: Path, image_size: int = 0) -> ImageSet:
    """The folder as a uint8 N×C×S×S set at side `image_size` (0: the smallest image side)."""
    listing = list_folder(name, root)
    listed = listing_key(listing)
    smallest, channels = header_summary(listing, listed)
    side = image_size or smallest
    key = hashlib.sha256(f"{listed} side={side} channels={channels}".encode()).hexdigest()
    path = folder_cache_dir() / f"{key}.npy"
    shape = (len(listing.files), channels, side, side)
    images = read_cache(path, shape)
    if images is None:
        images = build(listing, path, shape)
    else:
        log.info("image folder %s: %d images from the cache %s", root, len(images), path)
    return ImageSet(as_tensor(images), torch.tensor(listing.labels, dtype=torch.int64),
                    listing.num_classes, name, str(root), content_key=key)


def list_folder(name: str, root: Path) -> Listing:
    """Every image file under `root`, sorted; class sub-folders (ImageFolder layout) give labels."""
    if not root.is_dir():
        raise GanforgeError(f"image folder '{root}' does not exist; check the path in {name}")
    candidates = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    stats = [p.stat() for p in candidates]
    files = [p for p, s in zip(candidates, stats) if stat.S_ISREG(s.st_mode)]
    stats = [s for s in stats if stat.S_ISREG(s.st_mode)]
    if not files:
        raise GanforgeError(
            f"image folder '{root}' holds no images ({', '.join(IMAGE_SUFFIXES)}); check the path")
    class_names = sorted({p.parent.relative_to(root).as_posix() for p in files} - {"."})
    flat = not class_names or any(p.parent == root for p in files)
    class_index = {c: i for i, c in enumerate(class_names)}
    labels = [0 if flat else class_index[p.parent.relative_to(root).as_posix()] for p in files]
    return Listing(root, files, labels, 0 if flat else len(class_names), stats)


def listing_key(listing: Listing) -> str:
    """sha256 over each file's relative path, size and mtime_ns, and CACHE_VERSION: what
    identifies the files' contents without reading them."""
    digest = hashlib.sha256(f"ganforge-folder v{CACHE_VERSION}\n".encode())
    for path, s in zip(listing.files, listing.stats):
        relative = path.relative_to(listing.root).as_posix().encode("utf-8", "surrogateescape")
        digest.update(relative + f"\0{s.st_size}\0{s.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def header_summary(listing: Listing, listed: str) -> tuple[int, int]:
    """(smallest side, channels) of the listed files: from the headers (pass 1) the first time,
    then from a small file beside the cache, so a cache hit opens no image at all."""
    memo = folder_cache_dir() / f"{listed}.headers.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        info = json.loads(memo.read_text())
        return int(info["smallest_side"]), int(info["channels"])
    with ThreadPoolExecutor() as pool:
        sizes, modes = zip(*chunked_map(pool, read_header, listing.files))
    smallest = min(min(size) for size in sizes)
    channels = 1 if all(mode in GREY_MODES for mode in modes) else 3
    with contextlib.suppress(OSError):  # unwritable: build() says so once
        write_json(memo, {"smallest_side": smallest, "channels": channels})
    return smallest, channels


def read_header(path: Path) -> tuple[tuple[int, int], str]:
    """Width × height and mode; PIL parses the header here and decodes pixels only on demand."""
    try:
        with Image.open(path) as image:
            return image.size, image.mode
    except DECODE_ERRORS as err:
        raise unreadable(path, err) from None


def read_cache(path: Path, shape: tuple[int, int, int, int]) -> np.ndarray | None:
    """The cached array, memory-mapped copy-on-write (torch may write to it, the file never
    changes); None when absent or unreadable, and the folder is then decoded again."""
    if not path.is_file():
        return None
    try:
        images = np.load(path, mmap_mode="c")
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable folder cache %s (%s)", path, err)
        return None
    if images.dtype != np.uint8 or images.shape != shape:
        log.warning("ignoring folder cache %s of shape %s (expected %s)", path, images.shape, shape)
        return None
    return images


def build(listing: Listing, path: Path, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Decode the folder into the cache file at `path` (in memory when it cannot be written)."""
    log.info("image folder %s: decoding %d images to %d×%d×%d", listing.root, *shape)
    temporary = path.with_name(f"{path.stem}.tmp{os.getpid()}.npy")
    try:
        images = create_memmap(temporary, shape)
    except OSError as err:  # a read-only or full disk must not stop training
        log.warning("cannot cache the decoded image folder in %s (%s); keeping it in memory",
                    path.parent, err)
        images = np.empty(shape, np.uint8)
        decode_all(listing.files, images)
        return images
    try:
        decode_all(listing.files, images)
        images.flush()
        del images  # unmap before the rename; the finished file is mapped again below
        write_json(path.with_suffix(".json"), {
            "version": CACHE_VERSION, "source": str(listing.root), "shape": list(shape),
            "num_classes": listing.num_classes, "labels": listing.labels})
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return np.load(path, mmap_mode="c")


def create_memmap(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A uint8 `.npy` memory map with its disk blocks claimed up front, so a full disk is an
    OSError here rather than a SIGBUS when a page is first written mid-decode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if hasattr(os, "posix_fallocate"):
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, path.stat().st_size)
        except OSError:
            del images
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
    return images


def decode_all(files: Sequence[Path], out: np.ndarray) -> None:
    """Fill `out` (N×C×S×S) image by image in threads: PIL releases the GIL while decoding and
    resizing, and each thread holds one full-size image at a time."""
    channels, side = out.shape[1], out.shape[-1]

    def decode_into(index: int) -> None:
        out[index] = decode_image(files[index], side, channels)

    with ThreadPoolExecutor() as pool:
        for _ in chunked_map(pool, decode_into, range(len(files))):
            pass


def decode_image(path: Path, side: int, channels: int) -> np.ndarray:
    """One file as uint8 C×side×side: centre-cropped to a square, then resized with LANCZOS."""
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
    except DECODE_ERRORS as err:
        raise unreadable(path, err) from None
    width, height = image.size
    crop = min(width, height)
    left, top = (width - crop) // 2, (height - crop) // 2
    # crop, then resize: resize(box=...) would let the filter reach past the crop's edges
    image = image.crop((left, top, left + crop, top + crop))
    image = image.resize((side, side), Image.Resampling.LANCZOS)
    array = np.asarray(image)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def chunked_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T],
                chunk: int = CHUNK) -> Iterator[R]:
    """pool.map in slices: submitting 200k files at once would queue 200k futures."""
    for start in range(0, len(items), chunk):
        yield from pool.map(fn, items[start:start + chunk])


def unreadable(path: Path, err: BaseException) -> GanforgeError:
    return GanforgeError(f"cannot read image '{path}' ({err}); remove or replace it")


def write_json(path: Path, info: dict) -> None:
    """Write under a temporary name, then rename: readers never see half a file."""
    temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary.write_text(json.dumps(info))
    os.replace(temporary, path)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """Shares the memory map (or array): no copy, pages load when read."""
    return torch.from_numpy(np.asarray(images))
