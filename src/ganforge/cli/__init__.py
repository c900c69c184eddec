"""Command line: parse → Config (or options) → call one function of the library API (ganforge.api).

Every user-fixable problem surfaces as a GanforgeError and is printed as one line on stderr with
exit code 2 (130 after Ctrl-C); nothing deeper reads sys.argv. Each sub-command lives in its own
module here and registers its parser through `register(commands)`.
"""

from __future__ import annotations

import logging
import sys

from ganforge.cli import (
    calibrate,
    ensemble,
    evaluate,
    latent,
    listing,
    project,
    report,
    sample,
    sweep,
    train,
)
from ganforge.cli.common import Parser
from ganforge.errors import GanforgeError, Interrupted

COMMAND_MODULES = (train, sample, evaluate, ensemble, calibrate, latent, project, report, sweep,
                   listing)


def build_parser() -> Parser:
    parser = Parser(prog="ganforge", description="Train, evaluate and explore GANs.")
    parser.add_argument("--version", action="version",
                        version=f"ganforge {__import__('ganforge').__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="ganforge: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except GanforgeError as err:
        sys.stderr.write(f"ganforge: error: {err}\n")
        raise SystemExit(130 if isinstance(err, Interrupted) else 2) from None


if __name__ == "__main__":
    main()
