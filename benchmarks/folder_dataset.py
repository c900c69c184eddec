"""Memory and time of loading an image folder: cold (decode into the cache) and warm (cache hit).

    python benchmarks/folder_dataset.py --n 20000

Generates once, into --work-dir, `--n` random-content 178×218 RGB JPEGs (CelebA's aligned size,
quality 90: smooth colour blobs plus a little noise, so they compress like photos), then runs each
measurement in a fresh subprocess, `load_dataset("folder:DIR", ".", image_size=64)` under its own
$GANFORGE_CACHE:

- baseline: the process after `import torch, ganforge` and nothing else;
- cold: empty cache, every file decoded, centre-cropped and resized into the memory-mapped cache;
- warm: the same cache again (nothing decoded, the array is memory-mapped);
- warm + read: the warm load followed by one pass over every image, as training makes.

Peak RSS is `resource.getrusage(RUSAGE_SELF).ru_maxrss`. The target from issue 11: peak RSS below
1.5× the uint8 array at 64 px. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 178, 218
MEASUREMENTS = ("baseline", "cold", "warm", "warm + read")


def make_image(path: Path, seed: int) -> None:
    """Smooth random colour blobs (a 10×12 grid, upsampled) plus mild noise, as a JPEG."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    blobs = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    pixels = np.asarray(blobs.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.int16)
    pixels = pixels + rng.integers(-8, 9, pixels.shape, dtype=np.int16)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def generate(folder: Path, n: int) -> None:
    """Write the images once; a complete folder from an earlier run is reused as it is."""
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == n:
        return
    shutil.rmtree(folder, ignore_errors=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    start = time.perf_counter()
    with ThreadPoolExecutor() as pool:
        list(pool.map(lambda i: make_image(partial / f"{i:06d}.jpg", i), range(n)))
    partial.rename(folder)
    print(f"generated {n} JPEGs in {folder} in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(what: str, folder: Path, image_size: int) -> dict:
    """One measurement, in this (fresh) process."""
    import torch  # noqa: F401

    import ganforge  # noqa: F401
    from ganforge.data import load_dataset

    if what == "baseline":
        return {"wall_s": 0.0, "peak_rss": peak_rss_bytes()}
    start = time.perf_counter()
    data = load_dataset(f"folder:{folder}", ".", image_size=image_size)
    if what == "warm + read":  # numpy's buffered reduction: no int64 copy of each chunk
        total = sum(int(part.numpy().sum(dtype=np.int64)) for part in data.images.split(1024))
        assert total > 0
    return {"wall_s": time.perf_counter() - start, "peak_rss": peak_rss_bytes(),
            "array_bytes": data.images.numel(), "shape": list(data.images.shape)}


def run_child(what: str, folder: Path, cache: Path, image_size: int) -> dict:
    command = [sys.executable, __file__, "--measure", what, "--folder", str(folder),
               "--image-size", str(image_size)]
    env = {**os.environ, "GANFORGE_CACHE": str(cache)}
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="/tmp/ganforge-folder-bench")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--measure", choices=MEASUREMENTS, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.image_size)))
        return
    work = Path(args.work_dir)
    folder = work / f"jpegs-{args.n}"
    generate(folder, args.n)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # the cold load starts from an empty cache
    rows = {what: run_child(what, folder, cache, args.image_size) for what in MEASUREMENTS}
    report(rows, args.n, folder)


def report(rows: dict[str, dict], n: int, folder: Path) -> None:
    mb = 2 ** 20
    baseline = rows["baseline"]["peak_rss"]
    array = rows["cold"]["array_bytes"]
    on_disk = sum(p.stat().st_size for p in folder.glob("*.jpg"))
    full_res = n * WIDTH * HEIGHT * 3
    print(f"\n{n} JPEGs of {WIDTH}×{HEIGHT} ({on_disk / mb:.0f} MiB on disk; {full_res / mb:.0f} MiB "
          f"decoded at full size) → uint8 {'×'.join(map(str, rows['cold']['shape']))} = "
          f"{array / mb:.1f} MiB; baseline RSS after `import torch, ganforge` {baseline / mb:.0f} MiB; "
          f"{os.cpu_count()} CPUs")
    print("| load | wall s | peak RSS MiB | (peak − baseline) / array | peak / array |")
    print("|---|---:|---:|---:|---:|")
    for what in MEASUREMENTS[1:]:
        row = rows[what]
        print(f"| {what} | {row['wall_s']:.1f} | {row['peak_rss'] / mb:.0f} | "
              f"{(row['peak_rss'] - baseline) / array:.2f} | {row['peak_rss'] / array:.2f} |")


if __name__ == "__main__":
    main()
