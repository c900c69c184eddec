"""A generator's output levels mapped onto the training images': a fixed monotone tone curve.

GAN samples get the pixel *levels* of their data slightly wrong even where shapes are right: MNIST
generators draw bolder, greyer strokes and a faint background haze (docs/results.md, round 21).
`OutputLevels` is histogram matching learned once: per channel, a piecewise-linear, non-decreasing
curve that sends the generator's pixel value at quantile p to the training images' value at
quantile p. It is fitted from samples and training images only (never the test split), applied
after the generator's tanh, and stored in a checkpoint's JSON metadata as knots (no code, no
pickle). Training never sees it: it changes what is sampled, not what is learned.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ganforge.errors import GanforgeError

QUANTILES = 1024  # probabilities the curve is fitted at; flat runs collapse to their two ends
DAMAGED = ("the checkpoint's output_levels metadata is damaged (each channel's curve needs finite "
           "knots, inputs increasing, outputs non-decreasing); retrain, or load the run's other "
           "checkpoint")


class OutputLevels:
    """One curve per image channel (colour images are matched channel by channel), or one curve
    for every channel."""

    def __init__(self, curves: list[tuple[list[float], list[float]]]) -> None:
        if not isinstance(curves, list) or not curves:
            raise GanforgeError(DAMAGED)
        for inputs, outputs in curves:
            check_knots(inputs, outputs)
        self.curves = [(torch.tensor(inputs, dtype=torch.float32),
                        torch.tensor(outputs, dtype=torch.float32)) for inputs, outputs in curves]

    @classmethod
    def fit(cls, generated: torch.Tensor, targets: list[torch.Tensor]) -> OutputLevels:
        """The curves that map the pixel distribution of each channel of `generated` (N×C×H×W,
        scaled to [-1, 1]) onto the reference's, given as its `level_targets`."""
        if generated.shape[1] != len(targets):
            raise ValueError("generated and reference images need the same channels")
        return cls([fit_curve(generated[:, c], target) for c, target in enumerate(targets)])

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """`images` (N×C×H×W) through the curves."""
        if len(self.curves) == 1:
            return apply_curve(images, *self.curves[0])
        if images.shape[1] != len(self.curves):
            raise GanforgeError(f"the output_levels curves are for {len(self.curves)} channels, "
                                f"the images have {images.shape[1]}; fit them again")
        return torch.stack([apply_curve(images[:, c], *curve)
                            for c, curve in enumerate(self.curves)], dim=1)

    def to_meta(self) -> dict[str, Any]:
        return {"channels": [{"inputs": x.tolist(), "outputs": y.tolist()} for x, y in self.curves]}

    @classmethod
    def from_meta(cls, meta: Any) -> OutputLevels:
        channels = meta.get("channels") if isinstance(meta, dict) else None
        if (not isinstance(channels, list)
                or not all(isinstance(c, dict) and {"inputs", "outputs"} <= c.keys()
                           for c in channels)):
            raise GanforgeError(DAMAGED)
        return cls([(c["inputs"], c["outputs"]) for c in channels])


def level_targets(reference: torch.Tensor, quantiles: int = QUANTILES) -> list[torch.Tensor]:
    """Per channel, the values of `reference` (N×C×H×W in [-1, 1]) at `quantiles` evenly spaced
    probabilities: what a fit maps samples onto (computed once per training set)."""
    p = probabilities(quantiles)
    return [quantiles_of(reference[:, c], p) for c in range(reference.shape[1])]


def probabilities(quantiles: int) -> torch.Tensor:
    return torch.linspace(0, 1, quantiles, dtype=torch.float64)


def fit_curve(generated: torch.Tensor, target: torch.Tensor) -> tuple[list[float], list[float]]:
    """Knots sending the value at quantile p of `generated` to `target`'s value at p, for the
    evenly spaced p that `target` was taken at."""
    x = quantiles_of(generated, probabilities(len(target)))
    y = target.double()
    x, group = torch.unique_consecutive(x, return_inverse=True)  # saturated pixels repeat
    y = (torch.zeros(len(x), dtype=torch.float64).index_add_(0, group, y)
         / torch.bincount(group, minlength=len(x)))
    if len(x) < 2:
        raise GanforgeError("the generator's samples have a single pixel value, so their levels "
                            "cannot be mapped; train longer before calibrating")
    keep = without_flat_interiors(y)
    return x[keep].tolist(), y[keep].tolist()


def apply_curve(images: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation through the knots; constant beyond the end ones."""
    x, y = x.to(images.device), y.to(images.device)
    v = images.float().clamp(x[0], x[-1]).contiguous()
    right = torch.searchsorted(x, v).clamp_(1, len(x) - 1)
    x0, x1, y0, y1 = x[right - 1], x[right], y[right - 1], y[right]
    return (y0 + (v - x0) / (x1 - x0) * (y1 - y0)).to(images.dtype)


def quantiles_of(images: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    values = images.detach().flatten().double().sort().values
    return values[(p * (len(values) - 1)).round().long()]


def without_flat_interiors(y: torch.Tensor) -> torch.Tensor:
    """Indices of the knots that shape the curve: where y stays constant only the two ends of the
    run matter (80 % of MNIST's pixels are 0, so most knots map to -1)."""
    same_as_prev = torch.zeros(len(y), dtype=torch.bool)
    same_as_prev[1:] = y[1:] == y[:-1]
    same_as_next = torch.zeros(len(y), dtype=torch.bool)
    same_as_next[:-1] = y[:-1] == y[1:]
    return (~(same_as_prev & same_as_next)).nonzero().squeeze(1)


def check_knots(inputs: Any, outputs: Any) -> None:
    ok = (isinstance(inputs, list) and isinstance(outputs, list) and len(inputs) == len(outputs)
          and len(inputs) >= 2
          and all(isinstance(v, (int, float)) and math.isfinite(v) for v in inputs + outputs)
          and all(a < b for a, b in zip(inputs, inputs[1:]))
          and all(a <= b for a, b in zip(outputs, outputs[1:])))
    if not ok:
        raise GanforgeError(DAMAGED)
