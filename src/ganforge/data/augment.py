"""Batched image augmentation on the training device (no per-sample Python).

- basic:    small random shifts (±2 px at 28 px) of real images — the training-stability write-up's
            basic augmentation.
- advanced: random crops (scale 0.8–1, random position, resized back) plus horizontal flips where
            the dataset allows them (not for digits) — the training-stability write-up's advanced one.
- diffaug:  DiffAugment (Zhao et al. 2020): translation, cutout and, for RGB, colour jitter, applied
            differentiably to every image the discriminator sees, real and fake alike.
- ada:      adaptive discriminator augmentation (Karras et al. 2020) with DiffAugment's transforms:
            each transform is applied to each D input, real and fake, with probability p; the
            trainer adjusts p from D's overfitting (ganforge.training.ada).

Geometric transforms are one `affine_grid` + `grid_sample` over the whole batch. Images are in
[-1, 1] with -1 as background, so out-of-frame pixels are filled with -1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ganforge.registry import Registry

Augment = Callable[[torch.Tensor], torch.Tensor]


def identity(images: torch.Tensor) -> torch.Tensor:
    return images


def affine(images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
           flip: torch.Tensor | None = None, mode: str = "bilinear") -> torch.Tensor:
    """Per-image zoom `scale` (N), translation `shift` (N×2, in [-1, 1] units) and x-flip."""
    n = images.shape[0]
    theta = torch.zeros(n, 2, 3, device=images.device, dtype=images.dtype)
    sign = 1.0 - 2.0 * flip.to(images.dtype) if flip is not None else 1.0
    theta[:, 0, 0] = scale * sign
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    shifted = F.grid_sample(images + 1, grid, mode=mode, padding_mode="zeros",
                            align_corners=False)
    return shifted - 1


def random_shift(images: torch.Tensor, max_pixels: float) -> torch.Tensor:
    """Translate each image by a random whole number of pixels in [-max_pixels, max_pixels]."""
    n, size = images.shape[0], images.shape[-1]
    pixels = torch.randint(-int(max_pixels), int(max_pixels) + 1, (n, 2), device=images.device)
    shift = pixels.to(images.dtype) * 2 / size
    return affine(images, torch.ones(n, device=images.device), shift, mode="nearest")


def basic(images: torch.Tensor) -> torch.Tensor:
    return random_shift(images, max(1, round(images.shape[-1] / 14)))


def advanced(flips_allowed: bool) -> Augment:
    def augment(images: torch.Tensor) -> torch.Tensor:
        n, device = images.shape[0], images.device
        scale = torch.empty(n, device=device).uniform_(0.8, 1.0)  # crop side / image side
        shift = (torch.rand(n, 2, device=device) * 2 - 1) * (1 - scale).unsqueeze(1)
        flip = torch.rand(n, device=device) < 0.5 if flips_allowed else None
        return affine(images, scale, shift, flip)

    return augment


def diff_translation(images: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    return random_shift(images, max(1, round(images.shape[-1] * ratio)))


def diff_cutout(images: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero (set to background) one random square of side ratio·size per image."""
    n, size, device = images.shape[0], images.shape[-1], images.device
    side = max(1, round(size * ratio))
    corner = torch.randint(0, size - side + 1, (n, 2, 1), device=device)
    coords = torch.arange(size, device=device)
    inside_y = (coords >= corner[:, 0]) & (coords < corner[:, 0] + side)  # N×size
    inside_x = (coords >= corner[:, 1]) & (coords < corner[:, 1] + side)
    mask = (inside_y[:, :, None] & inside_x[:, None, :]).unsqueeze(1)
    return torch.where(mask, torch.full_like(images, -1.0), images)


def diff_color(images: torch.Tensor) -> torch.Tensor:
    n, device = images.shape[0], images.device
    brightness = torch.rand(n, 1, 1, 1, device=device) - 0.5
    images = images + brightness
    mean = images.mean(dim=1, keepdim=True)
    images = (images - mean) * (torch.rand(n, 1, 1, 1, device=device) * 2) + mean  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (torch.rand(n, 1, 1, 1, device=device) + 0.5) + mean  # contrast


def diffaug(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 3:
        images = diff_color(images)
    return diff_cutout(diff_translation(images))


class AdaptiveAugment:
    """ADA's augmentation of every discriminator input: translation, cutout and, for RGB, colour
    jitter, each applied to each image independently with probability `p` (a 0-dim tensor on the
    training device, so that changing it needs no host synchronisation).

    Every transform is computed for the whole batch and kept where a per-image draw falls below p,
    so the random numbers drawn do not depend on p, and p = 0 returns the images unchanged."""

    def __init__(self, p: float | torch.Tensor = 0.0) -> None:
        self.p = torch.as_tensor(p, dtype=torch.float32)

    def chosen(self, images: torch.Tensor) -> torch.Tensor:
        """Which images (N×1×1×1, bool) one transform applies to."""
        return (torch.rand(images.shape[0], 1, 1, 1, device=images.device) < self.p)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 3:
            images = torch.where(self.chosen(images), diff_color(images), images)
        images = torch.where(self.chosen(images), diff_translation(images), images)
        return torch.where(self.chosen(images), diff_cutout(images), images)


# name -> (flips allowed by the dataset -> (augmentation of real training images, augmentation of
# every discriminator input, real and fake))
AUGMENTATIONS: Registry[Callable[[bool], tuple[Augment, Augment]]] = Registry("augmentation")
AUGMENTATIONS.register("none")(lambda flips_allowed: (identity, identity))
AUGMENTATIONS.register("basic")(lambda flips_allowed: (basic, identity))
AUGMENTATIONS.register("advanced")(lambda flips_allowed: (advanced(flips_allowed), identity))
AUGMENTATIONS.register("diffaug")(lambda flips_allowed: (identity, diffaug))
AUGMENTATIONS.register("ada")(lambda flips_allowed: (identity, AdaptiveAugment()))


def build_augmentation(name: str, flips_allowed: bool) -> tuple[Augment, Augment]:
    """(augmentation of real training images, augmentation of every discriminator input)."""
    return AUGMENTATIONS.get(name)(flips_allowed)
