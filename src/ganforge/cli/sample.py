"""`ganforge sample`: a grid PNG and/or an .npz of images from a trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge import api
from ganforge.cli.common import add_selection_flags, add_source_flags, generator_source
from ganforge.generation.images import save_grid


def register(commands) -> None:
    sample = commands.add_parser("sample", help="write a grid or N samples from a trained run")
    add_source_flags(sample)
    sample.add_argument("--n", type=int, default=64, help="number of images")
    sample.add_argument("--out", help="grid PNG path (default: RUN/samples/sample.png)")
    sample.add_argument("--npz", help="write the images as an .npz (array x, uint8 N×C×H×W)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed")
    sample.add_argument("--class", dest="label", type=int,
                        help="class to draw (conditional models)")
    add_selection_flags(sample)
    sample.set_defaults(handler=cmd_sample)


def cmd_sample(args) -> None:
    images, meta = api.sample(generator_source(args), args.n, seed=args.seed, label=args.label,
                              which=args.which, ema=args.ema, device=args.device,
                              select_by_d=args.select_by_d, select_pool=args.select_pool)
    if args.npz:
        np.savez_compressed(args.npz, x=images.numpy())
        print(f"wrote {args.n} images to {args.npz}")
    if args.out or not args.npz:
        out = Path(args.out) if args.out else Path(meta["output_dir"]) / "samples" / "sample.png"
        save_grid(images, out)
        print(f"wrote a grid of {args.n} images to {out}")
    print(f"(generator: {meta['checkpoint_path']}, step {meta['step']})")
