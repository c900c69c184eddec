"""A generator's output levels mapped onto the training images': a fixed monotone tone curve.

GAN samples get the pixel *levels* of their data slightly wrong even where shapes are right: MNIST
generators draw bolder, greyer strokes and a faint background haze (docs/results.md, round 21).
`OutputLevels` is histogram matching learned once: a piecewise-linear, non-decreasing curve that
sends the generator's pixel value at quantile p to the training images' value at quantile p. It is
fitted from samples and training images only (never the test split), applied after the generator's
tanh, and stored in a checkpoint's JSON metadata as its knots (no code, no pickle). Training never
sees it: it changes what is sampled, not what is learned.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ganforge.errors import GanforgeError

QUANTILES = 1024  # probabilities the curve is fitted at; flat runs collapse to their two ends


class OutputLevels:
    def __init__(self, inputs: list[float], outputs: list[float]) -> None:
        check_knots(inputs, outputs)
        self.inputs = torch.tensor(inputs, dtype=torch.float32)
        self.outputs = torch.tensor(outputs, dtype=torch.float32)

    @classmethod
    def fit(cls, generated: torch.Tensor, reference: torch.Tensor,
            quantiles: int = QUANTILES) -> OutputLevels:
        """The curve that maps the pixel distribution of `generated` onto that of `reference`
        (both images scaled to [-1, 1], any shape)."""
        p = torch.linspace(0, 1, quantiles, dtype=torch.float64)
        x = quantiles_of(generated, p)
        y = quantiles_of(reference, p)
        x, group = torch.unique_consecutive(x, return_inverse=True)  # saturated pixels repeat
        y = (torch.zeros(len(x), dtype=torch.float64).index_add_(0, group, y)
             / torch.bincount(group, minlength=len(x)))
        if len(x) < 2:
            raise GanforgeError("the generator's samples have a single pixel value, so their "
                                "levels cannot be mapped; train longer before calibrating")
        keep = without_flat_interiors(y)
        return cls(x[keep].tolist(), y[keep].tolist())

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = self.inputs.to(images.device)
        y = self.outputs.to(images.device)
        v = images.float().clamp(x[0], x[-1]).contiguous()
        right = torch.searchsorted(x, v).clamp_(1, len(x) - 1)
        x0, x1, y0, y1 = x[right - 1], x[right], y[right - 1], y[right]
        mapped = y0 + (v - x0) / (x1 - x0) * (y1 - y0)
        return mapped.to(images.dtype)

    def to_meta(self) -> dict[str, Any]:
        return {"inputs": self.inputs.tolist(), "outputs": self.outputs.tolist()}

    @classmethod
    def from_meta(cls, meta: Any) -> OutputLevels:
        if not isinstance(meta, dict) or not {"inputs", "outputs"} <= meta.keys():
            raise GanforgeError("the checkpoint's output_levels metadata is damaged (it needs "
                                "inputs and outputs); retrain, or load the run's other checkpoint")
        return cls(meta["inputs"], meta["outputs"])


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
        raise GanforgeError("the checkpoint's output_levels curve is damaged (knots must be finite, "
                            "inputs increasing, outputs non-decreasing); retrain, or load the run's "
                            "other checkpoint")
