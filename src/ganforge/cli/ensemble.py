"""`ganforge ensemble`: finished runs → one generator that samples their mixture."""

from __future__ import annotations

from ganforge import api


def register(commands) -> None:
    ensemble = commands.add_parser(
        "ensemble", help="combine trained runs into one generator (the mixture of their samples)")
    ensemble.add_argument("sources", nargs="+", metavar="RUN",
                          help="two or more run folders, checkpoints or pretrained:NAME")
    ensemble.add_argument("--out", required=True,
                          help="folder to create; sample, evaluate and the latent tools take it "
                               "like a run folder")
    ensemble.add_argument("--which", choices=("auto", "best", "last"), default="auto",
                          help="checkpoint of each run folder; auto = best if chosen by FID, "
                               "else last")
    ensemble.set_defaults(handler=cmd_ensemble)


def cmd_ensemble(args) -> None:
    path = api.ensemble(args.sources, args.out, args.which)
    print(f"wrote the ensemble of {len(args.sources)} generators to {path}; each sample comes "
          f"from one of them, chosen with equal probability")
