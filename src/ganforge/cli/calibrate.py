"""`ganforge calibrate`: fit (or remove) a finished run's output levels, without retraining."""

from __future__ import annotations

from ganforge import api


def register(commands) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="map a trained run's pixel levels onto its training images' (a tone "
                          "curve kept in its checkpoints)")
    calibrate.add_argument("source", metavar="RUN", help="run folder (every checkpoint in it) or "
                                                         "one checkpoint file")
    calibrate.add_argument("--n", type=int, default=5000,
                           help="samples the curve is fitted from (as --calibrate-levels N); "
                                "0 removes the curves")
    calibrate.add_argument("--data-dir", help="where the run's training data is (default: the "
                                              "run's data_dir)")
    calibrate.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args) -> None:
    paths = api.calibrate(args.source, args.n, args.data_dir)
    names = ", ".join(path.name for path in paths)
    if args.n:
        print(f"fitted output levels from {args.n} samples into {names}; sample, evaluate and the "
              f"latent tools now apply them (--n 0 removes them)")
    else:
        print(f"removed the output levels of {names}")
