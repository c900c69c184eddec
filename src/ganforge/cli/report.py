"""`ganforge dynamics` and `ganforge report` (see docs/explore.md)."""

from __future__ import annotations

import argparse


def register(commands) -> None:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    dynamics = commands.add_parser(
        "dynamics", formatter_class=formatter,
        help="distance from the BCE equilibrium and oscillation of D/G from metrics.jsonl")
    dynamics.add_argument("run", help="run folder")
    dynamics.add_argument("--window", type=int, default=100,
                          help="log points per sliding window for amplitude and period")
    dynamics.add_argument("--out", help="figure PNG (default RUN/dynamics.png)")
    dynamics.set_defaults(handler=cmd_dynamics)

    report = commands.add_parser(
        "report", formatter_class=formatter,
        help="self-contained report.html + report.md of a run or a sweep folder")
    report.add_argument("source", help="run folder or sweep folder")
    report.add_argument("--out", help="folder for report.html, report.md and report_files/ "
                                      "(default: the source folder)")
    report.add_argument("--window", type=int, default=100,
                        help="log points per window of the dynamics analysis")
    report.add_argument("--no-interpolation", dest="interpolation", action="store_false",
                        help="skip the interpolation strip (it loads the generator)")
    report.set_defaults(handler=cmd_report)


def cmd_dynamics(args) -> None:
    from ganforge.report.dynamics import format_table, run_dynamics

    result, path = run_dynamics(args.run, args.window, args.out)
    print(format_table(result))
    print(f"wrote {path}")


def cmd_report(args) -> None:
    from ganforge.report.html import write_report

    html_path, md_path = write_report(args.source, args.out, args.interpolation, args.window)
    print(f"wrote {html_path} and {md_path}")
