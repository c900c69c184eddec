"""`ganforge sweep`: a grid of config values → runs → one table (see ganforge.sweep)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.cli.common import add_config_flags
from ganforge.config import CONFIG_FIELDS, PRESETS
from ganforge.errors import GanforgeError
from ganforge.metrics.features import FEATURES
from ganforge.sweep import default_out, parse_grid, run_sweep, sweep_table


def register(commands) -> None:
    sweep = commands.add_parser(
        "sweep", formatter_class=argparse.ArgumentDefaultsHelpFormatter, conflict_handler="resolve",
        help="train and evaluate every combination of a grid of config values")
    sweep.add_argument("--grid", action="append", required=True, metavar="SPEC",
                       help='fields and values, e.g. "latent_dim=16,100 hidden_dim=16,100" '
                            "(may be repeated)")
    sweep.add_argument("--preset", choices=sorted(PRESETS),
                       help="named setup every combination starts from")
    sweep.add_argument("--config", dest="config_file", metavar="FILE",
                       help="YAML file of config fields every combination starts from")
    sweep.add_argument("--jobs", type=int, default=1,
                       help="combinations trained at once (parallel subprocesses)")
    sweep.add_argument("--out", help="sweep folder (default sweeps/<grid fields>)")
    sweep.add_argument("--seeds", type=int, default=1,
                       help="train every combination with S seeds (--seed S0 … S0+S-1) and "
                            "tabulate mean ± sd, marking what differs beyond the seed noise")
    sweep.add_argument("--eval-features", dest="sweep_features", choices=FEATURES.names(),
                       help="feature network for FID (default: the run's)")
    add_config_flags(sweep)
    # replaces the config field's flag: one count for the final evaluation of every combination
    # and for the --eval-every evaluations during training
    sweep.add_argument("--eval-n", "--eval_n", dest="sweep_eval_n", type=int, default=10_000,
                       help="generated images per evaluation of each combination (also used by "
                            "--eval-every during training); 0 = do not evaluate")
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args) -> None:
    grid = parse_grid(" ".join(args.grid))
    overrides = {k: v for k, v in vars(args).items() if k in CONFIG_FIELDS}
    if args.sweep_eval_n > 0:
        overrides["eval_n"] = args.sweep_eval_n
    out = Path(args.out) if args.out else default_out(grid)
    combos = run_sweep(grid, out, args.preset, args.config_file, overrides, args.jobs,
                       args.sweep_eval_n, args.sweep_features, seeds=args.seeds)
    print(sweep_table(combos, grid))
    failed = [c.name for c in combos if c.status.startswith("failed")]
    if failed:
        what = "runs" if args.seeds > 1 else "combinations"
        raise GanforgeError(f"{len(failed)} of {len(combos)} {what} failed ({failed[0]}"
                            f"{', …' if len(failed) > 1 else ''}); see their train.log or the "
                            f"messages above, then rerun the same command")
