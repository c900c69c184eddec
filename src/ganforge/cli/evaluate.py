"""`ganforge evaluate`: the metrics of a run, checkpoint, .npz or image folder, as a table."""

from __future__ import annotations

import json
from pathlib import Path

from ganforge import api
from ganforge.cli.common import add_selection_flags
from ganforge.metrics.evaluate import format_table
from ganforge.metrics.features import FEATURES
from ganforge.metrics.nearest import DEFAULT_K, DEFAULT_SAMPLES


def register(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="FID/KID/precision/recall/modes of a run, .npz or image folder")
    evaluate.add_argument("source", help="run folder, checkpoint, samples .npz or image folder")
    evaluate.add_argument("--dataset", help="reference dataset (default: the run's, else mnist)")
    evaluate.add_argument("--data-dir", help="dataset folder (default: the run's, else data)")
    evaluate.add_argument("--n", type=int, default=10000, help="images to evaluate")
    evaluate.add_argument("--ref", choices=("train", "test"), default="test",
                          help="reference split")
    evaluate.add_argument("--features", choices=FEATURES.names(),
                          help="feature network (default: the run's; domain for MNIST/Fashion)")
    evaluate.add_argument("--inception-weights", metavar="PATH",
                          help="local pt_inception-2015-12-05 weights file")
    evaluate.add_argument("--which", choices=("auto", "best", "last"), default="auto",
                          help="checkpoint of a run folder")
    evaluate.add_argument("--seed", type=int, default=12345, help="sampling seed")
    evaluate.add_argument("--device", default="auto", help="auto|cpu|cuda|mps for sampling and "
                                                            "features (auto: CUDA, MPS, else CPU)")
    evaluate.add_argument("--bootstrap", type=int, default=100, metavar="N",
                          help="resamples for the 95 %% intervals of FID and KID; 0 = none")
    evaluate.add_argument("--main-only", action="store_true",
                          help="only the main protocol (MNIST/Fashion otherwise also report the "
                               "second evaluator, domain2, and FID against the other split)")
    evaluate.add_argument("--nearest", type=int, nargs="?", const=DEFAULT_SAMPLES, metavar="N",
                          help=f"memorisation check: N samples (default {DEFAULT_SAMPLES}) "
                               f"against their nearest training images, copy rate and pictures "
                               f"nearest.png, nearest_pixels.png (next to --out, else in the run "
                               f"folder)")
    evaluate.add_argument("--nearest-k", type=int, default=DEFAULT_K, metavar="K",
                          help="training images shown per sample by --nearest")
    add_selection_flags(evaluate)
    evaluate.add_argument("--out", help="write the results as JSON here")
    evaluate.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args) -> None:
    result = api.evaluate(args.source, dataset=args.dataset, data_dir=args.data_dir, n=args.n,
                          ref=args.ref, features=args.features, which=args.which,
                          inception_weights=args.inception_weights, seed=args.seed,
                          device=args.device, bootstrap=args.bootstrap,
                          extra_protocols=not args.main_only, nearest=args.nearest,
                          nearest_k=args.nearest_k,
                          nearest_dir=Path(args.out).parent if args.out else None,
                          select_by_d=args.select_by_d, select_pool=args.select_pool)
    print(format_table(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
