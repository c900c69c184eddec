"""The one configuration object: defaults ← preset ← YAML file ← command-line flags, validated once.

Every field carries a one-line help text (meaning and unit); the command line is generated from it,
so a new field is automatically a `--flag`. The validated config is saved as `config.yaml` in the run
folder and inside every checkpoint, so a run rebuilds its own networks.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ganforge.data.augment import AUGMENTATIONS
from ganforge.data.datasets import check_dataset_name, parse_classes
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.models import MODELS


def option(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class Config:
    # --- run ---
    run_dir: str = option("", "run folder; empty = runs/<NNNNN>-<model>-<dataset>")
    seed: int = option(0, "seed of every random stream (weights, data order, noise)")
    device: str = option("auto", "auto|cpu|cuda|mps; auto picks CUDA, then MPS, then CPU")
    # --- data ---
    dataset: str = option("mnist", "mnist|fashion-mnist|cifar10|folder:PATH")
    data_dir: str = option("data", "where datasets live (torchvision layout) or are downloaded to")
    image_size: int = option(0, "side of the square training images in px; 0 = dataset's own")
    channels: int = option(0, "1 (grayscale) or 3 (RGB); 0 = dataset's own")
    subset: float = option(1.0, "fraction of the training set to use, in (0, 1]")
    classes: str = option("", "comma-separated class indices to keep, e.g. '0,1'; empty = all")
    augment: str = option("none", "none|basic|advanced|diffaug|ada")
    ada_target: float = option(0.6, "ada: target of the overfitting heuristic r_t = mean "
                                    "sign(D(real)); p rises while r_t is above it; in (0, 1)")
    ada_kimg: float = option(100.0, "ada: thousands of real images over which p can move by 1 "
                                    "(100: 0 to 1 in 1,563 steps of batch 64)")
    ada_interval: int = option(4, "ada: steps between adjustments of p")
    # --- model ---
    model: str = option("dcgan", "architecture, see `ganforge models`")
    latent_dim: int = option(100, "size of the noise vector z")
    hidden_dim: int = option(256, "width of the first hidden layer of MLP models (units)")
    depth: int = option(3, "number of hidden layers of MLP models")
    width: int = option(64, "base channel count of convolutional models")
    g_width: int = option(0, "dcgan: base channel count of G alone, so G can be wider than D (G "
                             "holds about 2/5 of a step's arithmetic at width 32); 0 = --width")
    kernel_size: int = option(5, "dcgan: side of every convolution kernel (5 as in the "
                                 "TensorFlow tutorial; 3 costs about a third of the arithmetic); "
                                 "an even one (4, as in the DCGAN paper) sets the stride-2 layers, "
                                 "free of checkerboard overlap, and G's stride-1 layer takes one "
                                 "more")
    stem_kernel: int = option(0, "dcgan: kernel of G's one stride-1 layer, at the start size (7 px "
                                 "for 28); it holds most of G's arithmetic (3 costs 0.36x of 5); "
                                 "odd; 0 = the odd one of kernel_size, kernel_size + 1")
    d_layers: int = option(0, "dcgan, mlp-conv: stride-2 convolutions in D, channels doubling; "
                              "0 = until the map is 8 px or less (2 at 28 px, as in the "
                              "TensorFlow tutorial)")
    residual: str = option("g", "resnet only: residual blocks in g (generator) or gd (both)")
    dropout: float = option(0.3, "dropout probability in the discriminator")
    conditional: bool = option(False, "class-conditional G (label embedding) and D (projection)")
    minibatch_std: int = option(0, "group size of D's minibatch standard-deviation input "
                                    "(ProGAN): D sees how varied each group of real or generated "
                                    "images is, against collapse; must divide batch_size; 0 = off")
    spectral_norm: str = option("none", "none|d|gd: spectral normalisation of D, or of G and D")
    # --- loss ---
    loss: str = option("bce", "adversarial loss, see `ganforge losses`")
    label_smoothing: float = option(0.0, "one-sided label smoothing: real target = 1 - this")
    gp_weight: float = option(10.0, "wgan-gp: gradient-penalty weight")
    r1_gamma: float = option(0.0, "R1 penalty weight on real images; 0 = off")
    r1_every: int = option(1, "apply R1 every N steps, weighted by N (lazy regularisation as "
                              "in StyleGAN2: 16 makes it almost free; 1 = every step)")
    lecam: float = option(0.0, "LeCam regularisation weight (Tseng et al. 2021): D's scores on "
                               "real and generated images are pulled towards the moving averages "
                               "of the other kind, against D overfitting a small training set; "
                               "0 = off")
    mode_seeking: float = option(0.0, "MSGAN mode-seeking weight: G is penalised for mapping two "
                                      "noise vectors (of the same class) to similar images; 0 = off")
    # --- optimisation ---
    batch_size: int = option(64, "images per step (per process under torchrun)")
    steps: int = option(0, "generator updates to train for; 0 = use epochs")
    epochs: int = option(0, "passes over the training set; used when steps is 0")
    minutes: float = option(0.0, "time budget in minutes (training and its evaluations): stop "
                                 "cleanly when it is spent, evaluate, keep the best; steps or "
                                 "epochs, if also given, cap it; 0 = off")
    d_steps: int = option(1, "discriminator updates per generator update")
    lr_g: float = option(2e-4, "generator Adam learning rate")
    lr_d: float = option(2e-4, "discriminator Adam learning rate")
    beta1: float = option(0.5, "Adam beta1 (both networks)")
    beta2: float = option(0.999, "Adam beta2 (both networks)")
    ema: bool = option(True, "keep an exponential moving average of G for sampling/evaluation")
    ema_decay: float = option(0.999, "EMA decay per step")
    ema_rampup: bool = option(False, "EMA decay min(ema_decay, (1+step)/(10+step)): early "
                                     "averages forget the random initial weights quickly")
    # 5,000 samples cost ~23 steps of the default run per checkpoint and move a FID by ~0.002;
    # with copies, the same weights scored FIDs from 0.059 to 0.083 (docs/results.md, round 16)
    ema_bn_samples: int = option(5000, "before G_ema is evaluated or saved, set its BatchNorm "
                                       "statistics from this many of its own samples (the online "
                                       "G's, copied every step, average ~10 batches of other "
                                       "weights); 0 = keep the copied ones")
    calibrate_levels: int = option(0, "before G is evaluated or saved, fit a tone curve that maps "
                                      "the pixel levels of this many of its samples onto the "
                                      "training images' (histogram matching; kept in checkpoints "
                                      "and applied whenever the run is sampled); 0 = off")
    lr_decay: float = option(0.0, "final fraction of the run (of --steps/--epochs, or of "
                                  "--minutes) over which both learning rates fall linearly to 0")
    # --- outputs ---
    log_every: int = option(50, "steps between metrics.jsonl / progress-bar / TensorBoard updates")
    sample_every: int = option(0, "steps between extra sample grids; 0 = once per epoch only")
    checkpoint_every: int = option(1000, "steps between checkpoints (always one at the end)")
    grid_size: int = option(64, "images in each sample grid (from a fixed noise vector)")
    tensorboard: bool = option(True, "write TensorBoard event files")
    progress: bool = option(True, "show a progress bar")
    # --- evaluation during training ---
    eval_every: int = option(0, "steps between FID evaluations (best = lowest FID); 0 = off")
    eval_n: int = option(5000, "generated images per evaluation during training")
    eval_ref: str = option("train", "split the FID during training (and so the best checkpoint) "
                                    "is measured against; train keeps the test set for "
                                    "`ganforge evaluate` alone (runs saved before this "
                                    "option used test)")
    features: str = option("domain", "feature network for FID: domain|domain2|inception; domain "
                                     "falls back to inception where no domain evaluator exists")
    inception_weights: str = option("", "pt_inception-2015-12-05 weights file for inception "
                                        "features; empty = torch hub cache, else download")
    # --- speed ---
    amp: str = option("none", "none|bf16|fp16 mixed precision (fp16 needs CUDA)")
    compile: bool = option(False, "torch.compile G and D")
    channels_last: bool = option(False, "channels_last memory format for conv models")

    @property
    def image_dataset_name(self) -> str:
        return self.dataset.split(":", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CONFIG_FIELDS = {f.name: f for f in fields(Config)}

# Fixed choices of a config field; registered ones (models, losses, augmentations) come from
# their registries, and feature networks (a metrics-layer registry) are checked by the evaluation
# when it settles the run's features (evaluation.resolve_eval_features).
CHOICES = {
    "device": ("auto", "cpu", "cuda", "mps"),
    "augment": tuple(AUGMENTATIONS.names()),
    "residual": ("g", "gd"),
    "spectral_norm": ("none", "d", "gd"),
    "amp": ("none", "bf16", "fp16"),
    "eval_ref": ("train", "test"),
}

# the best recipe measured to fit 10 minutes on 2 CPU cores, under both shipped evaluators
# (docs/results.md): a DCGAN of half the seed's width without dropout (dropout costs a third of
# the step time on CPUs), with a third convolution in D (28 -> 14 -> 7 -> 4 px: the tutorial's
# two-layer D was the bottleneck), spectral normalisation of D and 4x4 stride-2 kernels (D no
# longer overfits the 14,262 training images as the run gets longer: round 9's quick starts,
# 2.2x / 2.5x the floors against 3.5x / 3.1x for the same network without them),
# class-conditional (label embedding in G, projection D; unconditional where the data has no
# classes) with MSGAN's mode-seeking term against within-class collapse, EMA of G with a
# ramp-up, FID-selected best checkpoint, batch 32, 17,000 steps or 8.5 minutes of training,
# whichever comes first (8.5 leaves `ganforge evaluate`, ~25-45 s, inside the 10-minute budget).
# Round 12: G's stride-1 layer is 3x3 (at 5x5 it held most of G's arithmetic; 3x3 runs 1.18x
# the steps) and the learning rates decay to 0 over the last 45 % (beat 60 % at 8,854 steps;
# at round 4's 17,700 steps 60 % had beaten 30 %); each won under both evaluators on two seeds
# at an equal 8-minute budget. Round 13: Adam lr 2e-4 with betas (0, 0.99): with spectral norm
# in D each beat lr 1.4e-4 and betas (0.5, 0.999) under both evaluators on two seeds, and
# together they beat either (before spectral norm, rounds 4-5 had found both worse).
DEFAULT_PRESET: dict[str, Any] = dict(
    model="dcgan", width=32, d_layers=3, kernel_size=4, stem_kernel=3,
    spectral_norm="d", dropout=0.0, conditional=True, mode_seeking=0.2,
    batch_size=32, steps=17000, minutes=8.5, lr_g=2e-4, lr_d=2e-4, beta1=0.0,
    beta2=0.99, lr_decay=0.45, ema_rampup=True, eval_every=4000, eval_n=5000)

# Each seed preset reproduces one seed document's stated setup (README, "Presets").
PRESETS: dict[str, dict[str, Any]] = {
    "default": DEFAULT_PRESET,  # described above
    # the best recipe measured for 60 minutes of 2 CPU cores (docs/results.md, round 15): the
    # default network and Adam settings at batch 64 (0.57x the steps of batch 32 in the same
    # time; it beat batch 32 at equal time under both evaluators on two seeds), learning rates
    # decayed over the whole run, a FID and a checkpoint every 3,000 steps. 24,000 steps: 60
    # minutes of the 2 cores of rounds 11-15's Zen 3 CPU, less time on a faster one.
    # Two seeds with G_ema's own BatchNorm statistics (round 17): 1.52x / 1.52x and 1.58x / 1.61x
    # the floors (round 18: lr 2.8e-4, scaled to the batch, tied: 1.65x / 1.58x, 1.51x / 1.54x;
    # round 19: --g-width 48 for the same time tied; round 20: 49,300 steps, a Zen 4's whole hour,
    # 1.41x / 1.53x on one seed, so the hour is not step-limited and the steps stay fixed;
    # round 21: mode seeking 0.1 met 1.5x under both on two of four seeds and averaged 1.56x /
    # 1.50x against the preset's 1.50x / 1.58x over three, a trade, so it stays at 0.2;
    # round 22: four such runs at 0.1 mixed by `ganforge ensemble`, the whole hour of a Zen 4's
    # 2 cores, average 1.47x / 1.42x over 15 groups, and the preset's five seeds 1.52x / 1.58x;
    # round 23: --calibrate-levels helps domain only, so it stays off; sampling four runs with
    # `evaluate --select-by-d 0.5` gives 1.48x / 1.55x against their control draws' 1.58x / 1.67x;
    # round 24: 6 candidates per sample, the new default pool, over six seeds 1.48x / 1.52x against
    # 1.60x / 1.65x, two of six under 1.5x under both),
    # where round 7's hour (batch 32, 5x5 stride-1 layer, Adam 1.4e-4 with betas
    # (0.5, 0.999), 90,700 steps, about two hours of that CPU) scored 1.7x / 1.7x
    "hour": {**DEFAULT_PRESET, "batch_size": 64, "steps": 24000, "minutes": 0.0,
             "lr_decay": 1.0, "eval_every": 3000, "checkpoint_every": 3000},
    # the MLP-GAN write-up (seed document 000): MLP GAN, batch 64, 5000 steps, a latent_dim x
    # hidden_dim sweep (best 100 x 100).
    "seed000-mlp": dict(model="mlp", latent_dim=100, hidden_dim=100, depth=4, batch_size=64,
                        steps=5000),
    # the TensorFlow-tutorial DCGAN write-up (seed document 001): Adam 1e-4 (Keras default
    # betas), batch 256, 50 epochs, z=100.
    "seed001-dcgan": dict(model="dcgan", width=64, latent_dim=100, batch_size=256, epochs=50,
                          lr_g=1e-4, lr_d=1e-4, beta1=0.9, beta2=0.999, dropout=0.3),
    # the "realistic images" write-up (seed document 002): fully connected G (BatchNorm+ReLU)
    # and D (LeakyReLU+Dropout), BCE with label smoothing, Adam, 50 epochs, z=100.
    "seed002-mlp": dict(model="mlp", latent_dim=100, hidden_dim=256, depth=3, batch_size=64,
                        epochs=50, label_smoothing=0.1),
    # the latent-interpolation write-up (seed document 004): fully connected G, convolutional D,
    # ~50 epochs, best model kept.
    "seed004-mlp-conv": dict(model="mlp-conv", latent_dim=100, hidden_dim=256, depth=3,
                             batch_size=64, epochs=50),
}


def build_config(preset: str | None = None, yaml_path: str | None = None,
                 overrides: dict[str, Any] | None = None, base: Config | None = None,
                 default_preset: str | None = None) -> Config:
    """defaults (or `base`, e.g. a resumed run's config) ← preset ← YAML ← overrides, validated.

    The preset is the one named here, else the YAML file's `preset:` key, else `default_preset`
    (the command line passes "default", so flags always layer on top of a complete setup)."""
    values = (base or Config()).to_dict()
    file_values = load_yaml(yaml_path) if yaml_path else {}
    file_preset = file_values.pop("preset", None)
    preset = preset or file_preset or default_preset
    if preset is not None:
        if preset not in PRESETS:
            from ganforge.registry import unknown_choice_message

            raise GanforgeError(unknown_choice_message("preset", preset, sorted(PRESETS)))
        apply_layer(values, PRESETS[preset])
    apply_layer(values, file_values)
    for key in overrides or {}:
        check_key(key, "command-line override")
    apply_layer(values, overrides or {})
    config = Config(**{k: coerce(k, v) for k, v in values.items()})
    validate(config)
    return config


def apply_layer(values: dict[str, Any], layer: dict[str, Any]) -> None:
    """A layer that sets only one of steps/epochs/minutes switches the run length to that unit
    (minutes alone: no step cap)."""
    values.update(layer)
    lengths = ("steps", "epochs", "minutes")
    for unit in lengths:
        if layer.get(unit) and not any(other in layer for other in lengths if other != unit):
            values.update({other: 0 for other in lengths if other != unit})


def load_yaml(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise GanforgeError(f"config file '{path}' not found; pass an existing YAML file")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise GanforgeError(f"config file '{path}' is not valid YAML ({err}); fix its syntax") from None
    if not isinstance(data, dict):
        raise GanforgeError(f"config file '{path}' must hold a mapping of option: value")
    for key in data:
        if key != "preset":
            check_key(key, f"config file '{path}'")
    return data


def check_key(key: str, where: str) -> None:
    if key not in CONFIG_FIELDS:
        close = difflib.get_close_matches(key, list(CONFIG_FIELDS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise GanforgeError(
            f"config key '{key}' in {where} does not exist; {hint}see `ganforge train --help`"
        )


def coerce(key: str, value: Any) -> Any:
    """Turn YAML/CLI values into the field's type, with a clear error when impossible."""
    kind = type(CONFIG_FIELDS[key].default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
                return value.lower() in ("true", "yes", "1")
            raise ValueError
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        if kind is int:
            return int(float(value)) if isinstance(value, str) and "e" in value else int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise GanforgeError(
            f"config value {key}={value!r} is not a valid {kind.__name__}; give a {kind.__name__}"
        ) from None


def validate(config: Config) -> None:
    MODELS.get(config.model)
    LOSSES.get(config.loss)
    check_dataset_name(config.dataset)
    for key, choices in CHOICES.items():
        value = getattr(config, key)
        if value not in choices:
            raise GanforgeError(f"bad value {key}={value!r}; choose one of: {', '.join(choices)}")
    positive = ("batch_size", "latent_dim", "hidden_dim", "depth", "width", "d_steps",
                "log_every", "checkpoint_every", "grid_size", "eval_n", "ada_kimg", "ada_interval",
                "r1_every")
    for key in positive:
        if getattr(config, key) <= 0:
            raise GanforgeError(f"bad value {key}={getattr(config, key)}; it must be > 0")
    non_negative = ("steps", "epochs", "minutes", "sample_every", "eval_every", "label_smoothing",
                    "d_layers", "g_width",
                    "gp_weight", "r1_gamma", "lecam", "mode_seeking", "minibatch_std", "image_size",
                    "seed", "ema_bn_samples", "calibrate_levels")
    for key in non_negative:
        if getattr(config, key) < 0:
            raise GanforgeError(f"bad value {key}={getattr(config, key)}; it must be >= 0")
    if config.minibatch_std and config.batch_size % config.minibatch_std:
        raise GanforgeError(f"minibatch_std={config.minibatch_std} must divide batch_size="
                            f"{config.batch_size} (groups must not mix real and generated "
                            "images); e.g. --minibatch-std 4")
    if config.mode_seeking and config.batch_size < 2:
        raise GanforgeError("mode_seeking compares pairs of samples: use --batch-size 2 or more, "
                            "or --mode-seeking 0")
    for key in ("lr_g", "lr_d"):
        if not getattr(config, key) > 0:
            raise GanforgeError(f"bad value {key}={getattr(config, key)}; learning rates must be > 0")
    for key in ("beta1", "beta2", "ema_decay"):
        if not 0 <= getattr(config, key) < 1:
            raise GanforgeError(f"bad value {key}={getattr(config, key)}; it must be in [0, 1)")
    if not 0 <= config.dropout < 1 or not 0 <= config.label_smoothing < 0.5:
        raise GanforgeError("bad value: dropout must be in [0, 1) and label_smoothing in [0, 0.5)")
    if not 0 < config.ada_target < 1:
        raise GanforgeError(f"bad value ada_target={config.ada_target}; it must be in (0, 1), "
                            "e.g. 0.6 (the ADA paper's)")
    if not 0 <= config.lr_decay <= 1:
        raise GanforgeError(f"bad value lr_decay={config.lr_decay}; it must be in [0, 1]")
    if not 0 < config.subset <= 1:
        raise GanforgeError(f"bad value subset={config.subset}; it must be in (0, 1]")
    if config.kernel_size < 2:
        raise GanforgeError(f"bad value kernel_size={config.kernel_size}; it must be >= 2, "
                            "e.g. 4 or 5")
    if config.stem_kernel and (config.stem_kernel < 1 or config.stem_kernel % 2 == 0):
        raise GanforgeError(f"bad value stem_kernel={config.stem_kernel}; it must be odd (same "
                            "padding), e.g. 3 or 5, or 0 for the kernel_size rule")
    if config.g_width and config.model != "dcgan":
        raise GanforgeError(f"g_width={config.g_width} applies to the dcgan model only; use "
                            f"--width for {config.model}, or --model dcgan")
    if config.channels not in (0, 1, 3):
        raise GanforgeError(f"bad value channels={config.channels}; choose 0, 1 or 3")
    if config.steps == 0 and config.epochs == 0 and not config.minutes:
        raise GanforgeError("set how long to train: --steps N, --epochs N or --minutes M")
    if config.steps and config.epochs:
        raise GanforgeError("give either --steps or --epochs, not both")
    parse_classes(config.classes)  # raises on a malformed list


def save_yaml(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def config_from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a saved config (from a run folder or checkpoint); unknown keys are an error."""
    for key in values:
        check_key(key, "saved config")
    # a run saved before eval_ref existed chose its best checkpoint against the test split: it
    # keeps doing so when resumed, or its best FID and the new ones would not be comparable
    values = {"eval_ref": "test", **values}
    config = Config(**{k: coerce(k, v) for k, v in values.items()})
    validate(config)
    return config
