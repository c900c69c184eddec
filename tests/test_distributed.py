"""`torchrun --nproc-per-node 2 -m ganforge train` on CPU (gloo), end to end.

Two processes × batch 8 must train exactly like one process × batch 16 (same data, same noise,
gradients averaged by DDP, BatchNorm over the global batch): identical weights on both ranks after
every step, and the loss curve of one process to float tolerance. A run interrupted at step 5 and
resumed under torchrun must end bit-identical to the uninterrupted run, dropout streams included.

Run as a module (`python -m torch.distributed.run ... -m tests.test_distributed train ...`) this
file is the worker: `ganforge train` plus a hook that all-gathers a digest of each rank's weights
after every step (rank 0 appends them to $GANFORGE_TEST_DIGESTS) and copies the run folder after
step $GANFORGE_TEST_SNAPSHOT_AT (to <run>-snapshot).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # every test here starts torchrun processes

REPO = Path(__file__).resolve().parents[1]
STEPS = 10


def weights_digest(trainer) -> str:
    digest = hashlib.sha256()
    modules = [("G", trainer.G), ("D", trainer.D), ("G_ema", trainer.G_ema)]
    for prefix, module in modules:
        if module is None:
            continue
        for name, tensor in module.state_dict().items():
            digest.update(f"{prefix}/{name}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    # state that must agree across the ranks (ADA's per-rank partial sums legitimately differ)
    shared = []
    if trainer.ada is not None:
        shared += [trainer.ada.p, trainer.ada.rt]
    if trainer.lecam is not None:
        shared += [trainer.lecam.ema_real, trainer.lecam.ema_fake]
    if shared:
        digest.update(torch.stack(shared).cpu().numpy().tobytes())
    return digest.hexdigest()


def worker(argv: list[str]) -> None:
    import torch.distributed as dist

    from ganforge.cli import main
    from ganforge.training.trainer import Trainer

    digests_file = os.environ["GANFORGE_TEST_DIGESTS"]
    snapshot_at = int(os.environ.get("GANFORGE_TEST_SNAPSHOT_AT", "0"))
    # SIGTERM to rank 0 in the middle of this step (after D's update, before G's)
    signal_at = int(os.environ.get("GANFORGE_TEST_SIGTERM_AT", "0"))
    train_step, after_step = Trainer.train_step, Trainer.after_step
    generator_step = Trainer.generator_step

    def interrupted_generator_step(self, *args):
        if self.dist.is_main and self.step + 1 == signal_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return generator_step(self, *args)

    def checked_train_step(self):
        train_step(self)
        gathered = [None] * self.dist.world_size
        dist.all_gather_object(gathered, weights_digest(self))
        if self.dist.is_main:
            with open(digests_file, "a") as f:
                f.write(json.dumps({"step": self.step, "digests": gathered}) + "\n")

    def snapshot_after_step(self, progress):
        after_step(self, progress)
        if self.step == snapshot_at and self.out.active:
            shutil.copytree(self.out.path, f"{self.out.path}-snapshot")

    Trainer.train_step = checked_train_step
    Trainer.after_step = snapshot_after_step
    Trainer.generator_step = interrupted_generator_step
    main(argv)


if __name__ == "__main__":
    worker(sys.argv[1:])
else:
    import pytest
    from safetensors.torch import load_file

    from tests.conftest import cli, flags, tiny_overrides

    def config_flags(data_dir: str, run_dir: Path, batch_size: int, **extra) -> list[str]:
        values = tiny_overrides(data_dir, run_dir, model="dcgan", width=8, latent_dim=16,
                                batch_size=batch_size, steps=STEPS, log_every=1,
                                checkpoint_every=5, subset=0.02, augment="none")
        values.update(extra)
        return flags(values)

    def torchrun(args: list[str], digests: Path, snapshot_at: int = 0, cwd: Path = REPO,
                 sigterm_at: int = 0) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "GANFORGE_TEST_DIGESTS": str(digests),
               "GANFORGE_TEST_SNAPSHOT_AT": str(snapshot_at),
               "GANFORGE_TEST_SIGTERM_AT": str(sigterm_at),
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", "2", "-m", "tests.test_distributed", "train", *args]
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert (done.returncode != 0) == bool(sigterm_at), done.stdout[-3000:] + done.stderr[-3000:]
        return done

    def read_jsonl(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def assert_ranks_identical(digests: Path, steps: range) -> None:
        records = read_jsonl(digests)
        assert [r["step"] for r in records] == list(steps)
        for record in records:
            assert len(record["digests"]) == 2
            assert record["digests"][0] == record["digests"][1], f"ranks differ at {record}"

    def test_two_processes_train_like_one_with_the_global_batch(data_dir, tmp_path):
        run2, run1 = tmp_path / "two", tmp_path / "one"
        torchrun(config_flags(data_dir, run2, 8, dropout=0.0), tmp_path / "digests.jsonl")
        assert cli("train", *config_flags(data_dir, run1, 16, dropout=0.0)) == 0
        assert_ranks_identical(tmp_path / "digests.jsonl", range(1, STEPS + 1))
        two, one = read_jsonl(run2 / "metrics.jsonl"), read_jsonl(run1 / "metrics.jsonl")
        assert [r["step"] for r in two] == list(range(1, STEPS + 1))  # written once (rank 0)
        for a, b in zip(two, one, strict=True):
            for key in ("loss_d", "loss_g", "d_real", "d_fake"):
                assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (a["step"], key)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["digests.jsonl", "one", "two"]

    def test_ada_p_is_the_same_on_every_rank(data_dir, tmp_path):
        """Each rank scores its own real images, but r_t is averaged over the ranks: p and r_t
        (in every step's digest) never differ, and p moves."""
        run = tmp_path / "ada"
        # the learning rates of a D that gets confident within the test's few steps
        torchrun(config_flags(data_dir, run, 8, augment="ada", ada_interval=2, ada_kimg=0.2,
                              lr_g=2e-4, lr_d=2e-4),
                 tmp_path / "digests.jsonl")
        assert_ranks_identical(tmp_path / "digests.jsonl", range(1, STEPS + 1))
        assert any(r["ada_p"] > 0 for r in read_jsonl(run / "metrics.jsonl"))

    def test_lecam_averages_are_the_same_on_every_rank(data_dir, tmp_path):
        """Each rank scores its own half of the batch, but LeCam's moving averages of D's scores
        are taken over both ranks: they (in every step's digest) never differ, and they move."""
        run = tmp_path / "lecam"
        torchrun(config_flags(data_dir, run, 8, lecam=0.1), tmp_path / "digests.jsonl")
        assert_ranks_identical(tmp_path / "digests.jsonl", range(1, STEPS + 1))
        saved = load_file(str(run / "checkpoints" / "last.safetensors"))
        assert float(saved["lecam/ema_real"]) != 0 and float(saved["lecam/ema_fake"]) != 0

    def test_resume_under_torchrun_is_exact(data_dir, tmp_path):
        """Dropout on: each rank's own random stream must come back from the checkpoint."""
        run = tmp_path / "run"
        torchrun(config_flags(data_dir, run, 8, dropout=0.3), tmp_path / "straight.jsonl",
                 snapshot_at=5)
        assert_ranks_identical(tmp_path / "straight.jsonl", range(1, STEPS + 1))
        snapshot = tmp_path / "run-snapshot"
        torchrun(["--resume", str(snapshot)], tmp_path / "resumed.jsonl")
        assert_ranks_identical(tmp_path / "resumed.jsonl", range(6, STEPS + 1))
        straight = load_file(str(run / "checkpoints" / "last.safetensors"))
        resumed = load_file(str(snapshot / "checkpoints" / "last.safetensors"))
        assert straight.keys() == resumed.keys() and "rng/rank1/torch" in straight
        assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []
        untimed = [{k: v for k, v in r.items() if k != "time_s"}
                   for r in read_jsonl(run / "metrics.jsonl")]
        assert untimed == [{k: v for k, v in r.items() if k != "time_s"}
                           for r in read_jsonl(snapshot / "metrics.jsonl")]

    def test_sigterm_under_torchrun_saves_every_rank_at_a_boundary_and_resumes_exactly(
            data_dir, tmp_path):
        """SIGTERM to rank 0 between D's and G's update of step 4: rank 0's flag stops every
        rank after that step, `last` holds step 4 with rank 1's random state, the message names
        the --resume command, and the resumed run ends bit-identical to an uninterrupted one."""
        straight, run = tmp_path / "straight", tmp_path / "run"
        torchrun(config_flags(data_dir, straight, 8, dropout=0.3), tmp_path / "straight.jsonl")
        done = torchrun(config_flags(data_dir, run, 8, dropout=0.3), tmp_path / "stopped.jsonl",
                        sigterm_at=4)
        assert f"saved step 4 to {run / 'checkpoints' / 'last.safetensors'}" in done.stderr
        assert f"continue with: ganforge train --resume {run}" in done.stderr
        saved = load_file(str(run / "checkpoints" / "last.safetensors"))
        assert "rng/rank1/torch" in saved
        torchrun(["--resume", str(run)], tmp_path / "resumed.jsonl")
        assert_ranks_identical(tmp_path / "resumed.jsonl", range(5, STEPS + 1))
        expected = load_file(str(straight / "checkpoints" / "last.safetensors"))
        resumed = load_file(str(run / "checkpoints" / "last.safetensors"))
        assert [k for k in expected if not torch.equal(expected[k], resumed[k])] == []

    def test_ranks_agree_on_a_new_numbered_run_folder(data_dir, tmp_path):
        """Without --run-dir, rank 0 numbers the folder and every rank uses it: exactly one."""
        (tmp_path / "runs" / "00004-old").mkdir(parents=True)
        args = config_flags(data_dir, Path(""), 8, steps=2)
        torchrun(args[:args.index("--run-dir")] + args[args.index("--run-dir") + 2:],
                 tmp_path / "digests.jsonl", cwd=tmp_path)
        assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
            "00004-old", "00005-dcgan-mnist"]
        assert (tmp_path / "runs" / "00005-dcgan-mnist" / "checkpoints" / "last.safetensors").exists()
