"""Sample grids and GIFs (torchvision's grid maker, Pillow's GIF writer)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from ganforge.data.datasets import to_uint8


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """A PIL image of a grid of float [-1, 1] or uint8 images (N×C×H×W)."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    nrow = nrow or max(1, int(math.sqrt(len(images))))
    grid = make_grid(images.cpu(), nrow=nrow, padding=padding, pad_value=255)
    array = grid.permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if images.shape[1] == 1 else array)


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, nrow).save(path)
    return path


def save_gif(frames: list[Image.Image] | list[Path], path: Path, frame_ms: int = 300) -> Path | None:
    """An animated GIF of the frames (PIL images or image files); None when there are none."""
    images = [Image.open(f).convert("RGB") if isinstance(f, Path) else f.convert("RGB")
              for f in frames]
    if not images:
        return None
    images[0].save(path, save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return path
