"""Every number `evaluate` reports, registered once: how it is computed and where it is shown.

A metric is one registered definition: a `compute` function from the samples' features (and the
cached reference) to its values, and the columns it fills. The columns decide everything
downstream — the order of `ganforge evaluate`'s table and eval.json, the `eval_*` lines the trainer
logs, the run report and the sweep tables/CSV — so adding a metric is one `@METRICS.register`
here, with no list to edit elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganforge.metrics import maths
from ganforge.registry import Registry


@dataclass(frozen=True)
class Column:
    key: str
    training_log: bool = False  # logged as eval_<key> in metrics.jsonl during training
    sweep: bool = False  # a column of sweep.csv / sweep.md
    report: bool = False  # a row of a run report's "evaluation:" block


@dataclass
class MetricInputs:
    fake: torch.Tensor  # N×D features of the samples
    probs: torch.Tensor | None  # N×K domain-classifier probabilities (None: no classifier)
    labels: torch.Tensor | None  # intended classes of a conditional generator's samples
    reference: object  # metrics.reference.Reference: features, mu, sigma, radii, floor
    device: torch.device


@dataclass(frozen=True)
class Metric:
    name: str
    columns: tuple[Column, ...]
    compute: Callable[[MetricInputs], dict]


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, *columns: Column) -> Callable[[Callable[[MetricInputs], dict]], Callable]:
    """Decorator: register `compute` as the metric `name` filling `columns`."""
    def add(compute: Callable[[MetricInputs], dict]) -> Callable[[MetricInputs], dict]:
        METRICS.register(name)(Metric(name, columns, compute))
        return compute

    return add


@metric("fid", Column("fid", training_log=True, sweep=True, report=True),
        Column("fid_over_floor", training_log=True, sweep=True, report=True),
        Column("floor_fid", training_log=True, sweep=True), Column("floor"))
def frechet_inception_distance(inputs: MetricInputs) -> dict:
    mu, sigma = maths.gaussian_stats(inputs.fake)
    reference = inputs.reference
    fid = maths.frechet_distance(mu, sigma, reference.mu, reference.sigma)
    floor = reference.floor_fid
    return {"fid": fid, "floor_fid": floor, "floor": reference.floor,
            "fid_over_floor": fid / floor if floor else None}


@metric("kid", Column("kid", training_log=True, sweep=True, report=True),
        Column("kid_std", sweep=True))
def kernel_inception_distance(inputs: MetricInputs) -> dict:
    mean, std = maths.kid(inputs.reference.features, inputs.fake)
    return {"kid": mean, "kid_std": std}


@metric("prdc", Column("precision", sweep=True, report=True),
        Column("recall", training_log=True, sweep=True, report=True),
        Column("density", sweep=True, report=True), Column("coverage", sweep=True, report=True))
def precision_recall_density_coverage(inputs: MetricInputs) -> dict:
    return maths.prdc(inputs.reference.features.to(inputs.device), inputs.fake.to(inputs.device),
                      real_radii=inputs.reference.radii)


@metric("classes", Column("score", sweep=True), Column("modes", training_log=True, sweep=True,
                                                       report=True),
        Column("kl_uniform", training_log=True, sweep=True), Column("label_accuracy"),
        Column("class_hist"))
def class_numbers(inputs: MetricInputs) -> dict:
    """Classifier score, mode coverage and (for conditional models) label accuracy; the keys
    stay, with None values, where the dataset has no domain classifier."""
    probs, labels = inputs.probs, inputs.labels
    if probs is None:
        result: dict = dict.fromkeys(("score", "modes", "kl_uniform", "class_hist"))
        if labels is not None:
            result["label_accuracy"] = None
        return result
    result = {"score": maths.classifier_score(probs),
              **maths.mode_coverage(maths.class_histogram(probs))}
    if labels is not None:
        result["label_accuracy"] = maths.label_accuracy(probs, labels)
    return result


# What every result carries besides the metrics: the protocol that makes them comparable.
PROTOCOL_COLUMNS = (
    Column("features", training_log=True, sweep=True),
    Column("n", training_log=True, sweep=True, report=True),
    Column("n_ref", training_log=True, sweep=True),
    Column("features_sha256"), Column("ref"), Column("dataset"), Column("ref_source"),
    Column("image_shape"),
    Column("reference_overlaps_training", training_log=True, sweep=True),
    Column("protocol", training_log=True, sweep=True))


def columns() -> list[Column]:
    return [c for m in METRICS.values() for c in m.columns] + list(PROTOCOL_COLUMNS)


def training_log_keys() -> tuple[str, ...]:
    return tuple(c.key for c in columns() if c.training_log)


def sweep_keys() -> tuple[str, ...]:
    return tuple(c.key for c in columns() if c.sweep)


def report_keys() -> tuple[str, ...]:
    return tuple(c.key for c in columns() if c.report)


def table_order() -> list[str]:
    """The order of `ganforge evaluate`'s table: each metric's columns, its interval after it."""
    keys = []
    for column in columns():
        keys.append(column.key)
        if column.key in ("fid", "kid"):
            keys.append(f"{column.key}_ci95")
    return keys
