"""Sample-quality evaluation: FID, KID, precision/recall/density/coverage, classifier score and
mode coverage, with offline domain classifiers for MNIST/Fashion-MNIST and pytorch-fid's
InceptionV3 for everything else. Start with `evaluate_images`; see docs/evaluation.md."""

from ganforge.metrics.evaluate import evaluate_images, format_table, load_images
from ganforge.metrics.features import FEATURES, feature_net
from ganforge.metrics.maths import (
    class_histogram,
    classifier_score,
    frechet_distance,
    gaussian_stats,
    kid,
    label_accuracy,
    mode_coverage,
    prdc,
)

__all__ = [
    "FEATURES",
    "class_histogram",
    "classifier_score",
    "evaluate_images",
    "feature_net",
    "format_table",
    "frechet_distance",
    "gaussian_stats",
    "kid",
    "label_accuracy",
    "load_images",
    "mode_coverage",
    "prdc",
]
