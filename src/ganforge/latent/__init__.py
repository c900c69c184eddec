"""Exploring a trained generator's latent space: interpolation (slerp/lerp), latent arithmetic on
seed groups, and attribute directions (ink mass, slant, classifier classes, labelled files)."""

from ganforge.latent.arithmetic import Term, combine, evaluate_expression, parse_expression
from ganforge.latent.directions import (
    attribute_direction,
    attribute_scorer,
    direction_from_attribute_file,
    directions_from_labels,
    ink_mass,
    read_attribute_file,
    slant,
    traverse,
)
from ganforge.latent.interpolate import (
    class_morph_row,
    class_sweep_row,
    interpolation_path,
    lerp,
    pair_rows,
    seed_latents,
    slerp,
)

__all__ = [
    "Term",
    "attribute_direction",
    "attribute_scorer",
    "class_morph_row",
    "class_sweep_row",
    "combine",
    "direction_from_attribute_file",
    "directions_from_labels",
    "evaluate_expression",
    "ink_mass",
    "interpolation_path",
    "lerp",
    "pair_rows",
    "parse_expression",
    "read_attribute_file",
    "seed_latents",
    "slant",
    "slerp",
    "traverse",
]
