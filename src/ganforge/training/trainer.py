"""The training loop: build every part from the config, alternate D and G updates, write the run.

The hot path (`train_step`) does no host synchronisation: per-step statistics go into a small
on-device buffer that is read once per log interval, which is also where a NaN/inf loss is caught.
Checkpoints are only written after that check, so a diverged run never overwrites a good one.

Speed options (all off by default; measurements in docs/benchmarks.md): `--amp bf16|fp16`
(autocast around the forward passes; fp16 adds one GradScaler per network and needs CUDA),
`--channels-last` (conv models: weights and image batches in NHWC) and `--compile`
(torch.compile of G and D; checkpoints keep the plain modules' names). On the CPU the
discriminator's dropout draws its mask with one uniform draw + compare (`FastDropout`), which is
the same distribution as `nn.Dropout`'s Bernoulli mask at about half the cost.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config import Config
from ganforge.data import InMemoryBatches
from ganforge.data.augment import build_augmentation
from ganforge.data.fingerprint import content_hash
from ganforge.data.training_set import class_shares, load_training_set
from ganforge.device import resolve_device
from ganforge.errors import GanforgeError, Interrupted, TrainingDiverged
from ganforge.generation import checkpoint as ckpt
from ganforge.generation.levels import fit_output_levels, training_targets
from ganforge.generation.restore import LEVELS_KEY
from ganforge.generation.rundir import RunDir
from ganforge.generation.sampling import balanced_labels, generate, noise, recompute_batchnorm
from ganforge.losses import LeCam, build_loss
from ganforge.metrics.catalog import training_log_keys
from ganforge.metrics.evaluate import fid_text
from ganforge.models import ModelSpec, build_models
from ganforge.models.levels import OutputLevels
from ganforge.training.ada import AdaController
from ganforge.training.distributed import DistributedContext
from ganforge.training.interrupts import StopRequests
from ganforge.training.outputs import Outputs, RunOutputs

STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake")
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --amp, or a GanforgeError when the device cannot run it."""
    dtype = AMP_DTYPES[name]
    if dtype is torch.float16 and device.type != "cuda":
        raise GanforgeError(f"--amp fp16 needs a CUDA GPU (this run trains on {device.type}); "
                            "use --amp bf16 or --amp none")
    if dtype is torch.bfloat16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise GanforgeError("--amp bf16 needs a GPU with bfloat16 support; use --amp fp16")
    return dtype


class FastDropout(nn.Dropout):
    """nn.Dropout with the same semantics — each element is zeroed with probability p, the rest
    are scaled by 1/(1-p) — whose mask is `rand >= p` (one uniform draw per element, in float32,
    so p keeps 2^-24 resolution) instead of `bernoulli_`, about 2x cheaper on the CPU."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return input
        if self.p == 1:
            return input * 0
        mask = torch.rand(input.shape, device=input.device).ge_(self.p).mul_(1 / (1 - self.p))
        if self.inplace:
            return input.mul_(mask)
        return input * mask


def use_fast_dropout(module: nn.Module) -> None:
    """Swap every plain nn.Dropout inside `module` for FastDropout (no parameters change)."""
    for name, child in module.named_children():
        if type(child) is nn.Dropout:
            setattr(module, name, FastDropout(child.p, child.inplace))
        else:
            use_fast_dropout(child)


def match_memory_format(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor (Adam's moments) its parameter's memory layout.

    Checkpoints store tensors contiguous (NCHW); with --channels-last the parameters are NHWC,
    and the CPU fused Adam kernel pairs elements by memory position, not by index: mismatched
    layouts give wrong updates (and would break exact resume)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if (torch.is_tensor(value) and value.shape == param.shape
                        and value.stride() != param.stride()):
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


@dataclass
class Summary:
    run_dir: str
    steps: int
    wall_time_s: float
    steps_per_s: float
    images_per_s: float
    best_metric: str
    best_value: float | None
    final: dict[str, float]
    best_eval: dict[str, Any] | None = None  # the best evaluation with its protocol

    def describe(self) -> str:
        """What `ganforge train` prints when it finishes."""
        text = (f"done: {self.steps} steps in {self.wall_time_s:.0f} s "
                f"({self.steps_per_s:.1f} steps/s, {self.images_per_s:.0f} images/s); "
                f"run folder: {self.run_dir}")
        if self.best_eval:
            text += f"\nbest FID {fid_text(self.best_eval)}: {self.best_eval['protocol']}"
        return text


def paired_labels(labels: torch.Tensor | None) -> torch.Tensor | None:
    """The first half of `labels` twice, so that the mode-seeking pairs (i, i + B/2) share a class."""
    if labels is None:
        return None
    half = len(labels) // 2
    return torch.cat([labels[:half], labels[:half], labels[2 * half:]])


class Trainer:
    def __init__(self, config: Config, run: RunDir | None,
                 dist: DistributedContext | None = None, resume_from: Path | None = None) -> None:
        from ganforge.evaluation import resolve_eval_features

        self.config = config = resolve_eval_features(config)
        self.dist = dist or DistributedContext.single()
        self.out = RunOutputs(run, config) if run is not None and self.dist.is_main else Outputs()
        self.out.lock()  # before anything in the folder is read or changed
        try:
            self.build(config, resume_from)
        except BaseException:
            self.out.unlock()
            raise

    def build(self, config: Config, resume_from: Path | None) -> None:
        """Every part of the run, from the config (and the checkpoint when resuming)."""
        self.device = self.dist.device or resolve_device(config.device)
        self.amp_dtype = resolve_amp(config.amp, self.device)
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.data = load_training_set(config)
        self.train_hashes = None  # content hashes of the training images, on first evaluation
        self.data_identity = None  # the training set's count and pixel hash, on first checkpoint
        self.spec = ModelSpec(self.data.shape[0], self.data.shape[1],
                              self.data.num_classes if config.conditional else 0)
        self.G, self.D = (m.to(self.device) for m in build_models(config, self.spec))
        if self.device.type == "cpu":
            use_fast_dropout(self.D)
            use_fast_dropout(self.G)
        # NHWC only helps convolutions; the image batches follow the discriminator's layout
        self.inputs_channels_last = config.channels_last and has_conv(self.D)
        for module in (self.G, self.D):
            if config.channels_last and has_conv(module):
                module.to(memory_format=torch.channels_last)
        if self.spec.num_classes:  # samples for evaluation draw classes in these shares
            self.G.class_prior = class_shares(self.data.labels, self.spec.num_classes)
        self.G_ema = copy.deepcopy(self.G).eval() if config.ema else None
        self.G_train, self.D_train = self.dist.wrap(self.G), self.dist.wrap(self.D)
        self.D_frozen = self.D  # the G update's discriminator: unwrapped, weights frozen
        self.D_parameters = list(self.D.parameters())  # toggled every step: collected once
        if config.compile:
            self.G_train, self.D_train = torch.compile(self.G_train), torch.compile(self.D_train)
            self.D_frozen = (self.D_train if self.dist.world_size == 1
                             else torch.compile(self.D))
        self.opt_G = self.adam(self.G, config.lr_g)
        self.opt_D = self.adam(self.D, config.lr_d)
        fp16 = self.amp_dtype is torch.float16
        self.scaler_G = torch.amp.GradScaler(self.device.type) if fp16 else None
        self.scaler_D = torch.amp.GradScaler(self.device.type) if fp16 else None
        self.ema_pairs = self.ema_tensors() if self.G_ema is not None else None
        self.loss = build_loss(config)
        self.augment_real, self.augment_d = build_augmentation(config.augment,
                                                               self.data.flips_allowed)
        self.ada = (AdaController(self.augment_d, config, self.device, self.dist)
                    if config.augment == "ada" else None)
        self.lecam = LeCam(self.device, self.dist.mean) if config.lecam else None
        self.batches = InMemoryBatches(self.data, config.batch_size, config.seed, self.device,
                                       self.dist.rank, self.dist.world_size)
        # the noise stream is global (same on every rank), each rank keeps its slice of it
        self.noise_generator = torch.Generator(self.device).manual_seed(config.seed + 2)
        self.fixed_z = noise(config.grid_size, config.latent_dim, config.seed + 1, self.device)
        self.fixed_labels = (balanced_labels(config.grid_size, self.spec.num_classes, self.device)
                             if self.spec.num_classes else None)
        self.step, self.best_value = 0, math.inf
        self.ema_batchnorm_step: int | None = None  # the step G_ema's statistics were set at
        self.output_levels: OutputLevels | None = None  # --calibrate-levels: the latest fit
        self.levels_step: int | None = None  # the step it was fitted at
        self.level_targets: list[torch.Tensor] | None = None  # the training images' levels
        self.best_eval: dict[str, Any] | None = None
        self.wall_time_before = 0.0  # training time of earlier sessions of a resumed run
        self.session_start = time.perf_counter()
        # a time budget without a step cap runs until the clock stops it (out_of_time)
        self.total_steps = config.steps or config.epochs * max(
            1, self.batches.batches_per_epoch // config.d_steps) or sys.maxsize
        self.stats = torch.zeros(config.log_every, len(STAT_NAMES), device=self.device)
        self.stats_count, self.last_stats = 0, {}
        torch.manual_seed(config.seed + 1000 * self.dist.rank)  # per-rank noise/dropout streams
        if resume_from is not None:
            self.load(resume_from)

    # ----- construction -----
    def adam(self, module: torch.nn.Module, lr: float) -> torch.optim.Adam:
        # CPU: fused Adam, one kernel for the whole update (measured 1.13x faster mlp steps than
        # foreach, docs/benchmarks.md); elsewhere foreach: one multi-tensor kernel per operation
        fused = self.device.type == "cpu"
        return torch.optim.Adam(module.parameters(), lr=lr, foreach=None if fused else True,
                                fused=fused or None, betas=(self.config.beta1, self.config.beta2))

    def describe(self) -> str:
        """What `ganforge train` prints as it starts."""
        config = self.config
        steps = f"{self.total_steps} steps" if self.total_steps != sys.maxsize else "steps"
        length = f"{steps} for up to {config.minutes:g} min" if config.minutes else steps
        return (f"training {config.model} on {self.data.source}: {len(self.data)} images "
                f"{self.spec.channels}×{self.spec.image_size}×{self.spec.image_size}, "
                f"{length} of batch {config.batch_size} on {self.device}; "
                f"run folder: {config.run_dir}")

    def ema_tensors(self) -> tuple[list[torch.Tensor], ...]:
        """(EMA params, online params, EMA buffers, online buffers), collected once."""
        return ([p.detach() for p in self.G_ema.parameters()],
                [p.detach() for p in self.G.parameters()],
                list(self.G_ema.buffers()), list(self.G.buffers()))

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ----- one training step -----
    def train_step(self) -> None:
        config = self.config
        for d_iteration in range(config.d_steps):
            real, labels = self.batches.next()
            real = self.augment_real(real)
            if self.inputs_channels_last:
                real = real.contiguous(memory_format=torch.channels_last)
            labels = labels if self.spec.num_classes else None
            fake_labels = paired_labels(labels) if config.mode_seeking else labels
            z = self.draw_noise()
            last = d_iteration == config.d_steps - 1
            with torch.set_grad_enabled(last), self.autocast():  # only the last fake feeds G
                fake = self.G_train(z, fake_labels)
            loss_d, d_real, d_fake = self.discriminator_step(real, fake.detach(), labels,
                                                             fake_labels)
        loss_g = self.generator_step(fake, fake_labels, z)
        if config.lr_decay:
            self.decay_learning_rates()
        if self.ema_pairs is not None:
            self.update_ema()
        self.record(loss_d, loss_g, d_real, d_fake)
        self.step += 1
        if self.ada is not None:
            self.ada.after_step(self.step)

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema ← decay·ema + (1 − decay)·online for parameters; buffers (BatchNorm statistics) are
        copied. The tensor lists are collected once, in ema_tensors."""
        ema_params, params, ema_buffers, buffers = self.ema_pairs
        torch._foreach_lerp_(ema_params, params, 1.0 - self.ema_decay_now(self.config.ema_decay))
        if ema_buffers:
            torch._foreach_copy_(ema_buffers, buffers)

    def ema_decay_now(self, decay: float) -> float:
        """`decay`, or under --ema-rampup min(decay, (1+step)/(10+step)) at this step."""
        if self.config.ema_rampup:
            return min(decay, (1 + self.step) / (10 + self.step))
        return decay

    def progress(self) -> float:
        """How much of the run is done, in [0, 1]: by steps, or by the clock under --minutes."""
        by_steps = self.step / self.total_steps
        if not self.config.minutes:
            return by_steps
        return min(1.0, max(by_steps, self.elapsed() / (60 * self.config.minutes)))

    def decay_learning_rates(self) -> None:
        """Both learning rates fall linearly to 0 over the final --lr-decay fraction of the run."""
        factor = min(1.0, (1.0 - self.progress()) / self.config.lr_decay)
        for optimizer, lr in ((self.opt_G, self.config.lr_g), (self.opt_D, self.config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = lr * factor

    def draw_noise(self) -> torch.Tensor:
        batch, rank = self.config.batch_size, self.dist.rank
        z = torch.randn(batch * self.dist.world_size, self.config.latent_dim,
                        generator=self.noise_generator, device=self.device)
        return z[rank * batch:(rank + 1) * batch]

    def discriminator_step(self, real, fake, labels, fake_labels):
        real_in, fake_in = self.augment_d(real), self.augment_d(fake)
        r1_scale = self.r1_scale()
        if r1_scale:
            real_in = real_in.detach().requires_grad_(True)
        # one forward over real and fake together: bigger matrix products, one DDP reduction
        both_labels = None if labels is None else torch.cat([labels, fake_labels])
        with self.autocast():
            scores = self.D_train(torch.cat([real_in, fake_in]), both_labels).float()
            scores_real, scores_fake = scores.split(len(real_in))
            if self.ada is not None:
                self.ada.observe(scores_real)
            loss = self.loss.discriminator_total(self.D, real_in, fake_in, scores_real,
                                                 scores_fake, labels, r1_scale)
            if self.lecam is not None:
                loss = loss + self.config.lecam * self.lecam.penalty(scores_real, scores_fake)
        self.update(loss, self.opt_D, self.scaler_D)
        return loss.detach(), self.score_mean(scores_real), self.score_mean(scores_fake)

    def r1_scale(self) -> float:
        """Lazy R1 (StyleGAN2): the penalty on every --r1-every-th step only, multiplied by that
        interval so its average strength is --r1-gamma; 0 on the other steps."""
        if not self.config.r1_gamma or self.step % self.config.r1_every:
            return 0.0
        return float(self.config.r1_every)

    def generator_step(self, fake, fake_labels, z):
        # D's weight gradients are not needed here (and the unwrapped D skips a DDP reduction)
        for parameter in self.D_parameters:
            parameter.requires_grad_(False)
        with self.autocast():
            scores = self.D_frozen(self.augment_d(fake), fake_labels).float()
            loss, adversarial = self.loss.generator_total(scores, fake, z)
        self.update(loss, self.opt_G, self.scaler_G)
        for parameter in self.D_parameters:
            parameter.requires_grad_(True)
        return adversarial.detach()  # logged: comparable across runs and with the equilibrium

    @staticmethod
    def update(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler | None) -> None:
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped when the scaled gradients overflowed
        scaler.update()

    def score_mean(self, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.detach().float()
        return (torch.sigmoid(scores) if self.loss.probabilistic else scores).mean()

    def record(self, *values: torch.Tensor) -> None:
        if self.stats_count == len(self.stats):  # only when stepping without the logging loop
            self.flush_stats()
        self.stats[self.stats_count] = torch.stack(values).float()
        self.stats_count += 1

    # ----- statistics, logging, divergence -----
    def flush_stats(self, across_ranks: bool = True) -> dict[str, float]:
        """Average the buffered per-step stats (over the ranks too: under torchrun every rank
        calls this at the same steps); raise TrainingDiverged on a NaN/inf loss."""
        if self.stats_count == 0:
            return self.last_stats
        rows = self.stats[: self.stats_count]
        if across_ranks:
            rows = self.dist.mean(rows)
        rows = rows.cpu()
        first_step = self.step - self.stats_count + 1
        bad = (~torch.isfinite(rows[:, :2])).any(dim=1).nonzero()
        self.stats_count = 0
        if len(bad):
            raise TrainingDiverged(
                f"training diverged: a loss became NaN/inf at step {first_step + int(bad[0])}; "
                "the last good checkpoint is kept — lower the learning rates or try "
                "--loss hinge / --spectral-norm d, then --resume")
        self.last_stats = dict(zip(STAT_NAMES, rows.mean(0).tolist()))
        if self.ada is not None:
            self.last_stats.update(self.ada.stats())
        return self.last_stats

    def log(self, stats: dict[str, float], elapsed: float) -> None:
        epoch = self.step / max(1, self.batches.batches_per_epoch / self.config.d_steps)
        record = {"step": self.step, "epoch": round(epoch, 3), **stats,
                  "time_s": round(elapsed, 2)}
        self.out.log_training(record, stats)

    # ----- samples, checkpoints, evaluation -----
    def sampling_generator(self) -> torch.nn.Module:
        return self.G_ema if self.G_ema is not None else self.G

    def recompute_ema_batchnorm(self) -> None:
        """G_ema's own BatchNorm statistics, once per step at most, before it is evaluated or
        saved. The online G's, copied every step, average ~10 batches of other weights: the same
        EMA weights scored 1.43-2.01x the floor with three draws of such copies (docs/results.md,
        round 16)."""
        if (self.G_ema is None or not self.config.ema_bn_samples
                or self.ema_batchnorm_step == self.step):
            return
        recompute_batchnorm(self.G_ema, self.config.ema_bn_samples, self.config.seed + 3)
        self.ema_batchnorm_step = self.step

    def fit_output_levels(self) -> None:
        """--calibrate-levels: refit the sampling generator's tone curve to the training images,
        once per step at most, before it is evaluated or saved (models/levels.py)."""
        if not self.config.calibrate_levels or self.levels_step == self.step:
            return
        self.recompute_ema_batchnorm()
        with torch.random.fork_rng(devices=[]):
            if self.level_targets is None:
                self.level_targets = training_targets(self.data.images)
            self.output_levels = fit_output_levels(self.sampling_generator(), self.level_targets,
                                                   self.config.calibrate_levels,
                                                   self.config.seed + 5)
        self.levels_step = self.step

    @contextlib.contextmanager
    def sampler(self):
        """The sampling generator with the latest output levels; the online G must train
        without them, so they are attached only while sampling."""
        generator = self.sampling_generator()
        generator.output_levels = self.output_levels
        try:
            yield generator
        finally:
            generator.output_levels = None

    def save_samples(self, name: str) -> None:
        with self.sampler() as generator:
            images = generate(generator, self.fixed_z, self.fixed_labels)
        self.out.save_samples(name, images, self.step)

    def state_tensors(self, rank_rng: list[dict[str, torch.Tensor]] | None = None
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, optimizer_meta = ckpt.training_tensors(
            {"G": self.G, "D": self.D, "G_ema": self.G_ema},
            {"opt_G": self.opt_G, "opt_D": self.opt_D}, self.noise_generator.get_state(),
            self.batches.state_dict(), rank_rng,
            {name: part.state() for name, part in self.stateful_parts().items()})
        meta = {
            "config": self.config.to_dict(),
            "spec": {"channels": self.spec.channels, "image_size": self.spec.image_size,
                     "num_classes": self.spec.num_classes},
            "class_prior": self.G.class_prior,
            "step": self.step, "wall_time_s": self.elapsed(), "best_value": self.best_value,
            "best_eval": self.best_eval, "data": self.training_set_identity(), **optimizer_meta,
            "ganforge": __import__("ganforge").__version__,
        }
        if self.scaler_G is not None:
            meta["scalers"] = {"G": self.scaler_G.state_dict(), "D": self.scaler_D.state_dict()}
        if self.output_levels is not None:
            meta[LEVELS_KEY] = self.output_levels.to_meta()
        return tensors, meta

    def stateful_parts(self) -> dict:
        """The training parts in use whose state a checkpoint keeps, by checkpoint group name."""
        return {name: part for name, part in (("ada", self.ada), ("lecam", self.lecam))
                if part is not None}

    def save_checkpoint(self, name: str,
                        rank_rng: list[dict[str, torch.Tensor]] | None = None) -> None:
        self.recompute_ema_batchnorm()
        self.fit_output_levels()
        self.out.save_checkpoint(name, *self.state_tensors(rank_rng))

    def load(self, path: Path) -> None:
        tensors, meta = ckpt.load_checkpoint(path)
        try:
            self.restore(tensors, meta)
        except KeyError as err:
            raise GanforgeError(f"checkpoint '{path}' lacks {err} needed to resume; resume from "
                                f"another checkpoint of the run, or start a new run") from None

    def training_set_identity(self) -> dict[str, Any]:
        """What a resumed run must be fed again: the image count and a hash of the pixels."""
        if self.data_identity is None:
            content = self.data.content_key or content_hash(self.data.images)
            self.data_identity = {"images": len(self.data), "content": content[:16],
                                  "source": self.data.source}
        return self.data_identity

    def check_same_training_set(self, tensors: dict[str, torch.Tensor],
                                meta: dict[str, Any]) -> None:
        """Resuming on other images (another --data-dir, a relative path read from another
        folder, the bundled fallback) would silently train a different run, or fail mid-step."""
        saved = meta.get("data")
        if saved is None:  # checkpoints before the identity was saved: the count must still fit
            saved = {"images": len(tensors["data/permutation"]), "content": None}
        now = self.training_set_identity()
        if saved["images"] != now["images"] or saved["content"] not in (None, now["content"]):
            was = f" ({saved['source']})" if "source" in saved else ""
            raise GanforgeError(
                f"cannot resume: the run was trained on {saved['images']} images{was}, but "
                f"{now['images']} other images load now ({now['source']}); pass the original "
                f"--data-dir (a relative data_dir in config.yaml is read from the current folder)")

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.check_same_training_set(tensors, meta)
        for prefix, module in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            if module is not None:
                ckpt.load_module(prefix, module, tensors)
        for name, optimizer in (("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            # the implementation (fused/foreach) is this device's choice, not the checkpoint's
            implementation = {k: optimizer.param_groups[0][k] for k in ("foreach", "fused")}
            ckpt.load_optimizer(name, optimizer, tensors, meta[name])
            for group in optimizer.param_groups:
                group.update(implementation)
            match_memory_format(optimizer)
        self.batches.load_state_dict(ckpt.data_state(tensors))
        self.restore_rank_rng(tensors, meta["step"])
        self.noise_generator.set_state(ckpt.noise_state(tensors))
        for name, part in self.stateful_parts().items():
            part.load_state(ckpt.group_state(tensors, name))
        if self.scaler_G is not None and "scalers" in meta:
            self.scaler_G.load_state_dict(meta["scalers"]["G"])
            self.scaler_D.load_state_dict(meta["scalers"]["D"])
        self.step, self.wall_time_before = meta["step"], meta["wall_time_s"]
        self.best_value, self.best_eval = meta["best_value"], meta.get("best_eval")
        if self.config.calibrate_levels and meta.get(LEVELS_KEY) is not None:
            self.output_levels = OutputLevels.from_meta(meta[LEVELS_KEY])  # until the next fit
        self.out.forget_after(self.step)

    def restore_rank_rng(self, tensors: dict[str, torch.Tensor], step: int) -> None:
        """Rank 0 (and a single process) takes `rng/…`; rank r takes `rng/rank{r}/…` when the
        checkpoint has it (same number of processes), else a fresh stream seeded by rank and step
        (then the resumed run is valid but not bit-identical to an uninterrupted one)."""
        own = ckpt.rank_rng_tensors(tensors, self.dist.rank)
        if own is not None:
            ckpt.restore_rng(own)
        else:
            torch.manual_seed(self.config.seed + 1000 * self.dist.rank + 7919 * step)

    def best_candidate(self, stats: dict[str, float], fid: float | None) -> float | None:
        """The value `best` is chosen by: FID when evaluation is on (None at checkpoints without an
        evaluation, which then cannot become best), else the generator loss."""
        if self.config.eval_every:
            return fid
        return stats.get("loss_g", math.inf)

    def evaluate(self) -> dict[str, Any]:
        from ganforge.data.fingerprint import image_hashes
        from ganforge.evaluation import evaluate_generator

        if self.train_hashes is None:
            self.train_hashes = image_hashes(self.data.images)
        self.recompute_ema_batchnorm()
        self.fit_output_levels()
        with torch.random.fork_rng(devices=[]), self.sampler() as generator:
            # evaluation must not shift training randomness
            return evaluate_generator(generator, self.config, n=self.config.eval_n,
                                      ref=self.config.eval_ref, device=self.device,
                                      train_hashes=self.train_hashes)

    # ----- the loop -----
    def elapsed(self) -> float:
        return self.wall_time_before + time.perf_counter() - self.session_start

    def train(self) -> Summary:
        self.out.start()
        progress = self.progress_bar()
        self.session_start, start_step = time.perf_counter(), self.step
        epoch = self.batches.epoch
        with StopRequests() as stop, self.holding_run_folder():
            try:
                while self.step < self.total_steps:
                    self.train_step()
                    if self.out_of_time():
                        self.total_steps = self.step  # this step becomes the final one
                    self.after_step(progress)
                    if self.batches.epoch != epoch and self.out.active:
                        epoch = self.batches.epoch
                        self.save_samples(f"epoch_{epoch:04d}")
                    if self.stop_requested(stop):
                        progress.close()
                        self.stop_at_boundary(stop)
            except KeyboardInterrupt:  # a second Ctrl-C, or one with no handler installed
                progress.close()
                raise Interrupted(f"aborted during step {self.step + 1}, nothing saved for it; "
                                  f"{self.resume_hint()}") from None
            progress.close()
            return self.finish(start_step)

    @contextlib.contextmanager
    def holding_run_folder(self):
        try:
            yield
        finally:
            self.out.unlock()

    def stop_requested(self, stop: StopRequests) -> bool:
        """Rank 0's flag decides for every rank (each would otherwise stop at another step)."""
        if self.dist.world_size == 1:
            return stop.received is not None
        if self.step % self.config.log_every:
            return False
        return bool(self.dist.broadcast_object(stop.received is not None))

    def stop_at_boundary(self, stop: StopRequests) -> None:
        """Save `last` after a complete step (every rank's random state included), then stop."""
        self.flush_stats()
        self.save_checkpoint("last", self.dist.gather_rng_states())
        raise Interrupted(f"{stop.name or 'stop'} received: saved step {self.step} to "
                          f"{self.out.last_checkpoint}; continue with: ganforge train --resume "
                          f"{self.out.path}")

    def resume_hint(self) -> str:
        last = self.out.last_checkpoint
        if last is None or not last.exists():
            return "no checkpoint was written yet"
        return f"continue from the last checkpoint with: ganforge train --resume {self.out.path}"

    def out_of_time(self) -> bool:
        """--minutes spent? Checked at log boundaries; rank 0's clock decides for every rank."""
        if not self.config.minutes or self.step % self.config.log_every:
            return False
        return bool(self.dist.broadcast_object(self.elapsed() >= 60 * self.config.minutes))

    def after_step(self, progress) -> None:
        config, step = self.config, self.step
        progress.update(1)
        boundary = step % config.log_every == 0 or step == self.total_steps
        checkpoint_due = step % config.checkpoint_every == 0 or step == self.total_steps
        eval_due = config.eval_every and (step % config.eval_every == 0 or step == self.total_steps)
        if not (boundary or checkpoint_due or eval_due):
            return
        stats = self.flush_stats()
        progress.set_postfix({k: f"{v:.3f}" for k, v in stats.items()}, refresh=False)
        self.out.check_exists()
        # under torchrun every rank hands its random state to rank 0 for the checkpoint
        rank_rng = self.dist.gather_rng_states() if checkpoint_due or eval_due else None
        if self.out.active:  # rank 0 logs, samples, evaluates and saves; the others wait
            if boundary:
                self.log(stats, self.elapsed())
            if config.sample_every and step % config.sample_every == 0:
                self.save_samples(f"step_{step:06d}")
            fid = self.evaluate_and_log() if eval_due else None
            if checkpoint_due or fid is not None:
                self.checkpoint(stats, fid, rank_rng)
        if eval_due:
            self.dist.barrier()  # the other ranks wait while rank 0 evaluates

    def evaluate_and_log(self) -> float:
        result = self.evaluate()
        # what each evaluation logs (as eval_<key>): the registered metrics' training-log
        # columns and their protocol
        logged = {k: result[k] for k in training_log_keys()}
        record = {"step": self.step, "time_s": round(self.elapsed(), 2),
                  **{f"eval_{k}": v for k, v in logged.items()}}
        self.out.log_evaluation(record, result)
        if result["fid"] < self.best_value:
            self.best_eval = logged
        return result["fid"]

    def checkpoint(self, stats: dict[str, float], fid: float | None,
                   rank_rng: list[dict[str, torch.Tensor]] | None = None) -> None:
        value = self.best_candidate(stats, fid)
        improved = value is not None and value < self.best_value
        if improved:
            self.best_value = value
        self.save_checkpoint("last", rank_rng)
        if improved:
            self.save_checkpoint("best", rank_rng)

    def finish(self, start_step: int) -> Summary:
        session_time = time.perf_counter() - self.session_start
        summary = self.summary(session_time, start_step)
        if self.out.active:
            self.save_samples("final")
            self.out.finish(summary.__dict__)
        return summary

    def summary(self, session_time: float, start_step: int) -> Summary:
        rate = (self.step - start_step) / session_time if session_time > 0 else 0.0
        images = rate * self.config.batch_size * self.config.d_steps * self.dist.world_size
        metric = "fid" if self.config.eval_every else "loss_g"
        return Summary(str(self.out.path), self.step, round(self.elapsed(), 2), round(rate, 3),
                       round(images, 1), metric,
                       None if math.isinf(self.best_value) else self.best_value, self.last_stats,
                       self.best_eval)

    def progress_bar(self):
        from tqdm.auto import tqdm

        total = None if self.total_steps == sys.maxsize else self.total_steps
        return tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True,
                    disable=not (self.config.progress and self.dist.is_main), desc="train")

