"""Every `ganforge …` command shown in README.md and docs/*.md runs, shortened to a few steps.

The commands are read from the documents' fenced code blocks, so a changed flag or a new example is
covered without editing this file. Placeholders are given real targets: `RUN`, `runs/NNNNN-…` and
unknown `*.safetensors` paths become a small trained conditional run; `~` is a temporary home whose
`data` is the real data; `folder:~/celeba/…` is a generated folder of JPEGs, with a random
`~/celeba/list_attr_celeba.txt`; `fashion-boots/` holds random PNGs and their labels.txt. A command that needs
something this machine cannot have (the Inception weights offline, a CUDA GPU) must fail with one
clear line that says so, and a training command refused only for the Inception weights must run
once `--eval-every 0` is added. Projections of real images run 5 optimisation steps.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import DATA_DIR, HAVE_MNIST, REPO, cli, flags, tiny_overrides

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN_PLACEHOLDER = re.compile(r"^(RUN|runs/\d{5}-[\w.-]+|runs/default)$")
TRAIN_SHORTENING = ["--steps", "2", "--batch-size", "8", "--eval-n", "40", "--log-every", "1",
                    "--ema-bn-samples", "200", "--no-progress", "--no-tensorboard"]
# (why a command may fail on this machine, the text its one error line must contain)
UNAVAILABLE_HERE = [("Inception weights offline", "Inception weights"),
                    ("no CUDA GPU", "CUDA is not available")]


def documented_commands(documents: list[Path] = DOCUMENTS) -> list[tuple[str, str]]:
    """(document name, command line quoted as a shell needs it) for every `ganforge …` line in a
    fenced code block of `documents`, with backslash continuations joined and trailing comments
    dropped; each command once."""
    seen, commands = set(), []
    for document in documents:
        in_block, pending = False, ""
        for line in document.read_text().splitlines():
            if line.strip().startswith("```"):
                in_block, pending = not in_block, ""
                continue
            if not in_block:
                continue
            pending += line.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            for part in pending.split("&&"):
                argv = shlex.split(part, comments=True)
                if argv[:1] == ["ganforge"] and tuple(argv) not in seen:
                    seen.add(tuple(argv))
                    commands.append((document.name, shlex.join(argv)))
            pending = ""
    return commands


def test_the_documents_show_commands():
    """The extraction itself can fail: it must find the README's examples."""
    commands = [c for _, c in documented_commands()]
    assert "ganforge train" in commands and len(commands) >= 30
    assert any(c.startswith("ganforge sweep") for c in commands)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A working folder with everything the documents refer to."""
    root = tmp_path_factory.mktemp("docs")
    home, work = root / "home", root / "work"
    for folder in (home, work, root / "shared"):
        folder.mkdir()
    for link in (home / "data", work / "data", root / "shared" / "data"):
        link.symlink_to(DATA_DIR)
    faces = home / "celeba" / "img_align_celeba"
    faces.mkdir(parents=True)
    generator = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(generator.integers(0, 256, (60, 50, 3), dtype=np.uint8)).save(
            faces / f"{i:06d}.jpg")
    rows = [f"{i:06d}.jpg {' '.join(str(v) for v in values)}"
            for i, values in enumerate(generator.choice([-1, 1], size=(24, 3)))]
    (home / "celeba" / "list_attr_celeba.txt").write_text(
        "24\nEyeglasses Male Smiling\n" + "\n".join(rows) + "\n")
    (work / "fashion-boots" / "images").mkdir(parents=True)
    boots = []
    for i in range(16):
        Image.fromarray(generator.integers(0, 256, (28, 28), dtype=np.uint8)).save(
            work / "fashion-boots" / "images" / f"test{i:05d}.png")
        boots.append(f"test{i:05d}.png {1 if i % 2 else -1}")
    (work / "fashion-boots" / "labels.txt").write_text("16\nboot\n" + "\n".join(boots) + "\n")
    (work / "my_images").mkdir()
    for i in range(12):
        Image.fromarray(generator.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            work / "my_images" / f"{i}.png")
    (work / "my.yaml").write_text("preset: seed000-mlp\nlatent_dim: 16\n")
    run = root / "trained"
    # copied BatchNorm statistics: with its own, this 20-step G_ema's samples all score the same
    # for class:8, which `arithmetic --direction class:8` rightly refuses ("train the model longer")
    assert cli("train", *flags(tiny_overrides(str(DATA_DIR), run, conditional=True, steps=20,
                                              eval_every=10, eval_n=60, ema_bn_samples=0))) == 0
    assert cli("sample", "--run", str(run), "--n", "40", "--npz", str(work / "samples.npz")) == 0
    return {"home": home, "work": work, "run": run}


def concrete(argv: list[str], workspace: dict, index: str) -> list[str]:
    """The documented argv with its placeholders pointed at real things, and training shortened."""
    run, out = workspace["run"], []
    resuming = "--resume" in argv
    skip_value = False
    for position, arg in enumerate(argv):
        if skip_value:
            skip_value = False
            continue
        if argv[0] == "train" and arg in ("--steps", "--epochs", "--run-dir"):
            skip_value = True  # set again below
            continue
        if RUN_PLACEHOLDER.match(arg) or (arg.endswith(".safetensors") and not Path(arg).exists()):
            if resuming and argv[position - 1] == "--resume":
                copy = workspace["work"] / f"resumed-{index}"
                shutil.copytree(run, copy)
                arg = str(copy)
            else:
                arg = str(run)
        out.append(arg)
    if argv[0] == "train":
        if resuming:
            out += ["--steps", "22", "--no-progress", "--no-tensorboard"]
        else:
            out += [*TRAIN_SHORTENING, "--run-dir", str(workspace["work"] / f"run-{index}")]
    if argv[0] == "sweep":
        out += ["--steps", "2", "--eval-n", "40", "--no-progress", "--no-tensorboard"]
    if argv[0] == "evaluate":
        out += ["--n", "300", "--bootstrap", "5"]
    if argv[0] == "project":
        out += ["--steps", "5"]
    if argv[0] in ("interpolate", "arithmetic") and any("real:" in arg for arg in argv):
        out += ["--project-steps", "5"]
    return out


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("ganforge: error")]


# one test per document, so the test workers share the documents out; a document's commands run
# in their order, in one workspace, as a reader would type them
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MNIST, reason=f"real MNIST not found in {DATA_DIR} (set GANFORGE_DATA)")
@pytest.mark.parametrize("document", [d for d in DOCUMENTS if documented_commands([d])],
                         ids=lambda path: path.name)
def test_every_documented_command_runs(document, workspace, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(workspace["home"]))
    monkeypatch.chdir(workspace["work"])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(workspace["home"] / "hub"))
    failures = []
    for number, (name, command) in enumerate(documented_commands([document])):
        index = f"{document.stem}-{number}"  # the workspace is shared by the documents
        argv = concrete(shlex.split(command)[1:], workspace, index)
        capsys.readouterr()
        code = cli(*argv)
        errors = error_lines(capsys)
        if code == 0:
            continue
        why = next((why for why, text in UNAVAILABLE_HERE if errors and text in errors[0]), None)
        if code != 2 or len(errors) != 1 or why is None:
            failures.append(f"{name}: `{command}` → exit {code}: {errors or 'no error line'}")
        elif why.startswith("Inception") and argv[0] == "train":
            retry = [*argv, "--eval-every", "0", "--run-dir", str(workspace["work"] / f"r-{index}")]
            if cli(*retry) != 0:
                failures.append(f"{name}: `{command} --eval-every 0` failed: "
                                f"{error_lines(capsys)}")
    assert not failures, "\n".join(failures)
