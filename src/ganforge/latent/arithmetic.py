"""Latent arithmetic: `[1,5,9] - [2,4] + [7]`, `[3] + 2*thick` or `real:a.png - real:b.png + [7]`
(Radford et al. 2016, §6.3).

A term is a coefficient times a group of seeds — the mean of their latents, which averages
away what the seeds do not share —, the projected latent of a real image (`real:FILE` or
`real:test:7`, see project.py), or a named attribute direction (unit norm: `2*thick` moves two
standard deviations towards thicker strokes). The result is the coefficient-weighted sum of the
term vectors, so the whole thing is linear in the terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganforge.errors import GanforgeError
from ganforge.latent.interpolate import seed_latents

TOKEN = re.compile(r"\s*(?:(?P<real>real:\S*)|(?P<group>\[[^\]]*\])|(?P<number>\d+(?:\.\d*)?|\.\d+)"
                   r"|(?P<name>[A-Za-z_]\w*(?::\d+)?)|(?P<op>[-+*]))")
HELP = "write terms like [1,5,9] (seed group), 7 (one seed), thick, slant, class:3 or real:IMAGE " \
       "(then a space), joined by + and -, each optionally scaled as 2*term"


@dataclass(frozen=True)
class Term:
    coefficient: float
    seeds: tuple[int, ...] = ()
    direction: str = ""
    real: str = ""  # a real image (file or SPLIT:INDEX) whose projected latent is the term

    @property
    def label(self) -> str:
        if self.real:
            return f"real:{self.real}"
        return self.direction or "[" + ",".join(str(s) for s in self.seeds) + "]"

    def describe(self) -> str:
        sign = "-" if self.coefficient < 0 else "+"
        size = abs(self.coefficient)
        scale = "" if size == 1 else f"{size:g}*"
        if self.real:
            what = f"projected latent of real image {self.real}"
        elif self.direction:
            what = f"direction '{self.direction}' (unit norm)"
        else:
            what = f"mean latent of seed{'s' if len(self.seeds) > 1 else ''} {self.label}"
        return f"{sign} {scale}{what}"


def tokenize(expression: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = expression.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            raise GanforgeError(f"cannot read --expr at '{text[position:].strip()}'; {HELP}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def parse_group(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text[1:-1].split(",") if part.strip())
    except ValueError:
        raise GanforgeError(f"seed group {text} must hold integers like [1,5,9]") from None
    if not seeds:
        raise GanforgeError(f"seed group {text} is empty; list seeds like [1,5,9]")
    if any(seed < 0 for seed in seeds):
        raise GanforgeError(f"seed group {text}: seeds must be >= 0")
    return seeds


def parse_real(text: str) -> str:
    name = text[len("real:"):]
    if not name:
        raise GanforgeError("'real:' names no image in --expr; write real:FILE.png or "
                            "real:test:7, then a space before the next + or -")
    return name


def parse_expression(expression: str) -> list[Term]:
    """'[1,5,9] - [2] + 2*thick' → [Term(1, (1,5,9)), Term(-1, (2,)), Term(2, direction='thick')]."""
    tokens = tokenize(expression)
    if not tokens:
        raise GanforgeError(f"--expr is empty; {HELP}")
    terms, index, sign = [], 0, 1.0
    expect_term = True
    while index < len(tokens):
        kind, value = tokens[index]
        if not expect_term:
            if kind != "op" or value == "*":
                raise GanforgeError(f"expected + or - before '{value}' in --expr; {HELP}")
            sign, expect_term, index = (1.0 if value == "+" else -1.0), True, index + 1
            continue
        if kind == "op" and value in "+-" and not terms and sign == 1.0 and index == 0:
            sign, index = (1.0 if value == "+" else -1.0), index + 1
            continue
        coefficient = 1.0
        if kind == "number" and index + 1 < len(tokens) and tokens[index + 1] == ("op", "*"):
            coefficient, index = float(value), index + 2
            if index >= len(tokens):
                break
            kind, value = tokens[index]
        if kind == "real":
            terms.append(Term(sign * coefficient, real=parse_real(value)))
        elif kind == "group":
            terms.append(Term(sign * coefficient, seeds=parse_group(value)))
        elif kind == "number" and value.isdigit():
            terms.append(Term(sign * coefficient, seeds=(int(value),)))
        elif kind == "name":
            terms.append(Term(sign * coefficient, direction=value))
        else:
            raise GanforgeError(f"unexpected '{value}' in --expr; {HELP}")
        index, expect_term = index + 1, False
    if expect_term:
        raise GanforgeError(f"--expr '{expression}' ends with an operator; {HELP}")
    return terms


def term_vectors(terms: list[Term], latent_dim: int,
                 direction: Callable[[str], torch.Tensor] | None = None,
                 real: Callable[[str], torch.Tensor] | None = None) -> torch.Tensor:
    """The (unscaled) vector of each term: len(terms)×latent_dim. `real` gives the latent of a
    real image (see ganforge.latent.project.RealImages)."""
    vectors = []
    for term in terms:
        if term.real:
            if real is None:
                raise GanforgeError(f"'real:{term.real}' needs a generator to project it into; "
                                    f"use seed groups only")
            vectors.append(real(term.real).reshape(latent_dim).cpu().float())
        elif term.direction:
            if direction is None:
                raise GanforgeError(f"'{term.direction}' is a direction, which needs a generator "
                                    f"to measure it; use seed groups only")
            vectors.append(direction(term.direction).reshape(latent_dim).cpu())
        else:
            vectors.append(seed_latents(list(term.seeds), latent_dim).mean(0))
    return torch.stack(vectors)


def combine(terms: list[Term], vectors: torch.Tensor) -> torch.Tensor:
    """Σ coefficient_i · vector_i."""
    coefficients = torch.tensor([t.coefficient for t in terms], dtype=vectors.dtype)
    return (coefficients[:, None] * vectors).sum(0)


def evaluate_expression(expression: str, latent_dim: int,
                        direction: Callable[[str], torch.Tensor] | None = None,
                        real: Callable[[str], torch.Tensor] | None = None
                        ) -> tuple[list[Term], torch.Tensor, torch.Tensor]:
    """(terms, their vectors, the resulting latent) for an expression."""
    terms = parse_expression(expression)
    vectors = term_vectors(terms, latent_dim, direction, real)
    return terms, vectors, combine(terms, vectors)


def save_figure(term_images: list[torch.Tensor | None], terms: list[Term], result: torch.Tensor,
                out, title: str = "") -> None:
    """A row: one panel per term (its image, or its name for a direction), then '= result'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganforge.data.datasets import to_uint8

    def show(axis, image: torch.Tensor) -> None:
        array = to_uint8(image[None].cpu())[0].permute(1, 2, 0).numpy()
        axis.imshow(array[:, :, 0] if array.shape[2] == 1 else array, cmap="gray", vmin=0, vmax=255)

    panels = len(terms) + 1
    fig, axes = plt.subplots(1, panels, figsize=(1.8 * panels, 2.2), squeeze=False)
    for axis, term, image in zip(axes[0], terms, term_images):
        sign = "−" if term.coefficient < 0 else "+"
        scale = "" if abs(term.coefficient) == 1 else f"{abs(term.coefficient):g}·"
        axis.set_title(f"{sign} {scale}{term.label}", fontsize=9)
        if image is None:
            axis.text(0.5, 0.5, f"direction\n{term.direction}", ha="center", va="center",
                      fontsize=9, transform=axis.transAxes)
        else:
            show(axis, image)
    axes[0][-1].set_title("= result", fontsize=9)
    show(axes[0][-1], result)
    for axis in axes[0]:
        axis.set_xticks([])
        axis.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
