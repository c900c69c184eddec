"""Small per-dataset CNN classifiers whose penultimate layer is the "domain" FID feature space.

Inception features were trained on ImageNet photos; on 28×28 grey digits they mostly measure
resizing artefacts. A classifier trained on the dataset itself gives features that react to what
matters there (stroke shapes, garment outlines) and its softmax gives the classifier score, the
class histogram and the label accuracy of conditional models — all offline, in milliseconds.

The weights ship inside the package (`weights/<dataset>-classifier.safetensors`); their sha256 is
recorded in `weights/manifest.json` and checked on load, so a corrupted or swapped file is refused
instead of silently producing different numbers.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.checksums import sha256_file
from ganforge.data.datasets import convert_channels, resize_uint8, to_float
from ganforge.errors import GanforgeError

DOMAIN_DATASETS = ("mnist", "fashion-mnist")
IMAGE_SIZE = 28
WIDTHS = (32, 64, 96, 128)  # the last width is the feature dimension
FEATURE_DIM = WIDTHS[-1]
RESIDUAL_WIDTHS = (24, 48, 96, 192)
MANIFEST = "manifest.json"


class DomainClassifier(nn.Module):
    """conv-bn-relu ×4 (max-pool after the first three: 28→14→7→3) → global average pool (the
    128-d feature vector) → dropout → 10 logits. Small enough to run 10k images in seconds on a
    laptop CPU, deep enough for >99 % on MNIST."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for index, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if index < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N×128) for float input in [-1, 1], N×1×28×28."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


class ResidualBlock(nn.Module):
    """Two 3×3 conv-bn layers with a (strided 1×1 conv) shortcut, as in ResNet's BasicBlock."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                      nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResidualClassifier(nn.Module):
    """The second, independent evaluator: a small ResNet (stem conv → residual stages 28→14→7→4,
    no max-pooling) whose global-average-pooled last stage is a 192-d feature vector. Different
    architecture, feature size, seed and augmentation from DomainClassifier, so the two can
    disagree where one network's blind spots would otherwise pick a recipe."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = RESIDUAL_WIDTHS) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*(ResidualBlock(a, b, stride=2)
                                      for a, b in zip(widths, widths[1:], strict=False)))
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(widths[-1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N×192) for float input in [-1, 1], N×1×28×28."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


# feature network name → (module class, weights file suffix)
NETWORKS = {"domain": (DomainClassifier, "classifier"), "domain2": (ResidualClassifier, "resnet")}


def prepare(images: torch.Tensor) -> torch.Tensor:
    """uint8 images of any size / channel count → float [-1, 1], 1×28×28, as the net was trained.
    RGB becomes luma and other sizes are resized (antialiased bilinear) so any generator fits."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise GanforgeError(f"expected uint8 images shaped N×C×H×W, got {images.dtype} "
                            f"{tuple(images.shape)}; convert with ganforge.data.datasets.to_uint8")
    images = resize_uint8(convert_channels(images, 1), IMAGE_SIZE)
    return to_float(images).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def features_and_probs(model: nn.Module, images: torch.Tensor, device: str | torch.device,
                       batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(N×D float32 features, N×10 float32 softmax) on the CPU, batched to bound memory."""
    model = model.to(device).eval()
    feats, probs = [], []
    for part in images.split(batch_size):
        x = prepare(part).to(device)
        f = model.features(x)
        feats.append(f.float().cpu())
        probs.append(F.softmax(model.head(f).float(), dim=1).cpu())
    return torch.cat(feats), torch.cat(probs)


def weights_dir() -> Path:
    return Path(str(resources.files("ganforge.metrics") / "weights"))


def weights_file(dataset: str, network: str = "domain") -> str:
    return f"{dataset}-{NETWORKS[network][1]}.safetensors"


def read_manifest(folder: Path | None = None) -> dict:
    """weights file name → {sha256, how it was trained, its test accuracy}."""
    path = (folder or weights_dir()) / MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def check_domain_dataset(dataset: str) -> None:
    if dataset not in DOMAIN_DATASETS:
        raise GanforgeError(f"domain features exist only for {' and '.join(DOMAIN_DATASETS)}, "
                            f"not '{dataset}'; use --features inception")


def new_network(network: str) -> nn.Module:
    return NETWORKS[network][0]()


@lru_cache(maxsize=8)
def load_domain_classifier(dataset: str, network: str = "domain") -> tuple[nn.Module, str]:
    """The shipped evaluator `network` for `dataset` (fp32, eval mode) and its weights' sha256."""
    from safetensors.torch import load_file

    check_domain_dataset(dataset)
    name = weights_file(dataset, network)
    entry = read_manifest().get(name)
    path = weights_dir() / name
    retrain = (f"python -m ganforge.metrics.train_evaluator --dataset {dataset} "
               f"--network {network}")
    if entry is None or not path.is_file():
        raise GanforgeError(f"the {dataset} evaluator weights {name} are missing from "
                            f"{weights_dir()}; reinstall ganforge or run {retrain}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise GanforgeError(f"{path} has sha256 {digest[:12]}…, the manifest expects "
                            f"{entry['sha256'][:12]}…; reinstall ganforge or retrain it with "
                            f"{retrain}")
    model = new_network(network)
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    wrong = [k for k in missing if not k.endswith("num_batches_tracked")] + unexpected
    if wrong:  # num_batches_tracked is not shipped; anything else means a different network
        raise GanforgeError(f"{path} does not fit the {network} evaluator network "
                            f"({', '.join(wrong[:3])}); retrain it with {retrain}")
    return fuse_batchnorm(model.eval()).to(memory_format=torch.channels_last), digest


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the conv just before it (in every sub-module): same
    function, one pass less over every activation map (about a third of the CPU inference time)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in list(model.modules()):
        children = list(module.named_children())
        for (name, layer), (next_name, after) in zip(children, children[1:], strict=False):
            if isinstance(layer, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
                setattr(module, name, fuse_conv_bn_eval(layer, after))
                setattr(module, next_name, nn.Identity())
    return model
