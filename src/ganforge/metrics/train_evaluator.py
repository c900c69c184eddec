"""Train a domain evaluator (a feature network for FID) and ship it.

    python -m ganforge.metrics.train_evaluator --dataset mnist --data-dir ../shared/data
    python -m ganforge.metrics.train_evaluator --dataset mnist --network domain2 --seed 1 ...

Trains on the real training split, seeded, reports accuracy on the official test split, and writes
fp16 safetensors weights and their sha256 into `weights/manifest.json`, which the loader checks.
The two networks differ in everything but the data, so they make independent judges: `domain`
(plain CNN, random ±2 px shifts) and `domain2` (small ResNet, random affine warps: rotation,
scale, shift); both add horizontal flips for Fashion-MNIST. CPU, a few minutes.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.data.datasets import load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import (
    DOMAIN_DATASETS,
    MANIFEST,
    NETWORKS,
    features_and_probs,
    new_network,
    prepare,
    read_manifest,
    sha256_file,
    weights_dir,
    weights_file,
)

log = logging.getLogger("ganforge")

EPOCHS = {("domain", "mnist"): 15, ("domain", "fashion-mnist"): 6,
          ("domain2", "mnist"): 8, ("domain2", "fashion-mnist"): 5}
SHIFT = 2
ROTATION_DEGREES, SCALE, AFFINE_SHIFT = 12.0, 0.1, 0.1  # affine warp ranges for domain2


def shift_batch(x: torch.Tensor, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """Random integer shifts of up to ±SHIFT px (background-padded), and optional mirror flips:
    cheap augmentation that keeps digits legible and adds variety to a small training set."""
    n, _, h, w = x.shape
    padded = F.pad(x, (SHIFT,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * SHIFT + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * SHIFT + 1, (n, 1), generator=generator)
    rows = (torch.arange(h) + dy)[:, :, None]
    cols = (torch.arange(w) + dx)[:, None, :]
    out = padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)
    if flip:
        mirror = torch.rand(n, generator=generator) < 0.5
        out[mirror] = out[mirror].flip(-1)
    return out.contiguous(memory_format=torch.channels_last)


def affine_batch(x: torch.Tensor, generator: torch.Generator, flip: bool) -> torch.Tensor:
    """Random rotations (±12°), scalings (±10 %) and shifts (±10 % of the side), one per image,
    background-filled, plus optional mirror flips: the second evaluator sees other variations
    than the first."""
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * ROTATION_DEGREES * torch.pi / 180
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * SCALE
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * AFFINE_SHIFT * 2
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if flip \
        else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], 1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    warped = F.grid_sample(x + 1, grid, padding_mode="zeros", align_corners=False) - 1
    return warped.contiguous(memory_format=torch.channels_last)


AUGMENTATIONS = {"domain": shift_batch, "domain2": affine_batch}


def train(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int, flip: bool,
          network: str = "domain", batch_size: int = 128) -> torch.nn.Module:
    """SGD + one-cycle schedule: reaches its accuracy in few epochs, which is what CPU time buys."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    augment = AUGMENTATIONS[network]
    model = new_network(network).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    steps = epochs * ((len(images) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=steps,
                                                   pct_start=0.25)
    x_all = prepare(images).contiguous()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for batch in order.split(batch_size):
            loss = F.cross_entropy(model(augment(x_all[batch], generator, flip)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        log.info("epoch %d/%d  loss %.4f", epoch + 1, epochs, total / len(images))
    return model.eval()


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    _, probs = features_and_probs(model, images, "cpu")
    return (probs.argmax(1) == labels).float().mean().item()


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """fp16 safetensors: half the size, and features move by well under 1e-3."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    save_file(state, str(path), metadata={"format": "ganforge-evaluator-1"})
    path.chmod(0o644)  # safetensors creates 0600 files; installed package data must be readable


def record(path: Path, info: dict) -> None:
    """Add the weights' sha256 (and how they were made) to the manifest the loader checks."""
    manifest = read_manifest(path.parent)
    manifest[path.name] = {"sha256": sha256_file(path), **info}
    (path.parent / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def reload_fp16(path: Path, network: str) -> torch.nn.Module:
    from safetensors.torch import load_file

    model = new_network(network)
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()}, strict=False)
    return model.eval().to(memory_format=torch.channels_last)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=DOMAIN_DATASETS)
    parser.add_argument("--network", default="domain", choices=sorted(NETWORKS))
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--epochs", type=int, default=0, help="0: the dataset's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where to write weights (default: the package's weights folder)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = args.epochs or EPOCHS[args.network, args.dataset]
    train_set = load_dataset(args.dataset, args.data_dir, train=True, download=True)
    test_set = load_dataset(args.dataset, args.data_dir, train=False, download=True)
    start = time.perf_counter()
    model = train(train_set.images, train_set.labels, epochs, args.seed,
                  flip=args.dataset == "fashion-mnist", network=args.network)
    seconds = time.perf_counter() - start
    info = {"dataset": args.dataset, "network": args.network, "train_images": len(train_set),
            "test_images": len(test_set), "epochs": epochs, "seed": args.seed,
            "augmentation": AUGMENTATIONS[args.network].__name__,
            "train_seconds": round(seconds), "dtype": "float16"}
    path = (args.out_dir or weights_dir()) / weights_file(args.dataset, args.network)
    save_weights(model, path)
    reloaded = reload_fp16(path, args.network)
    info["test_accuracy"] = round(accuracy(reloaded, test_set.images, test_set.labels), 4)
    record(path, info)
    return {"path": str(path), **info}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = run(parse_args(argv))
    except GanforgeError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"{result['path']}: test accuracy {100 * result['test_accuracy']:.2f}% "
          f"({result['test_images']} test images, {result['train_images']} training images, "
          f"{result['epochs']} epochs, {result['train_seconds']} s)")


if __name__ == "__main__":
    main()
