"""Content hashes: per image, so evaluation can tell when a reference image was also trained on;
and of a whole image set, so a resumed run can tell it is fed the images it was trained on."""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def image_hashes(images: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """One int64 (an 8-byte BLAKE2b digest) per uint8 image N×C×H×W: equal images, equal hashes.

    Streamed chunk by chunk, so a memory-mapped dataset is never copied whole."""
    out = np.empty(len(images), dtype=np.int64)
    for start in range(0, len(images), chunk):
        part = np.ascontiguousarray(images[start:start + chunk].numpy()).reshape(
            min(chunk, len(images) - start), -1)
        out[start:start + len(part)] = [
            int.from_bytes(hashlib.blake2b(row.data, digest_size=8).digest(), "little", signed=True)
            for row in part]
    return torch.from_numpy(out)


def overlap_count(hashes: torch.Tensor, others: torch.Tensor) -> int:
    """How many of `hashes` also occur in `others`."""
    return int(torch.isin(hashes, others).sum())


def content_hash(images: torch.Tensor) -> str:
    """sha256 of the image bytes, streamed without copying the whole array."""
    digest = hashlib.sha256()
    for part in images.split(4096):
        digest.update(memoryview(np.ascontiguousarray(part.numpy())).cast("B"))
    return digest.hexdigest()
