"""Evaluation maths against independent references, the shipped evaluators, the cache, and the
Inception path against pytorch-fid itself. Kept small (n ≤ 500) so the file runs in seconds."""

from __future__ import annotations

import itertools
import math
import os
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import classifier, evaluate, inception, maths
from ganforge.metrics.evaluate import evaluate_images, format_table, load_images

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GANFORGE_DATA", REPO.parent / "shared" / "data"))
# pytorch-fid's sqrtm call uses a SciPy argument deprecated in 1.16, and the tiny sample counts
# used here make covariances singular; both warnings are expected in this file.
pytestmark = [pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Matrix is singular")]
RESULT_KEYS = {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "score",
               "modes", "kl_uniform", "class_hist", "n", "n_ref", "features", "features_sha256",
               "ref", "dataset", "ref_source", "floor_fid", "floor", "fid_over_floor",
               "reference_overlaps_training", "protocol"}


def needs_data(folder: str):
    return pytest.mark.skipif(not (DATA / folder / "raw").is_dir(),
                              reason=f"real data not found at {DATA / folder}/raw "
                                     f"(set GANFORGE_DATA to a torchvision data folder)")


def random_features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=torch.Generator().manual_seed(99)) / math.sqrt(d)
    return torch.randn(n, d, generator=generator) @ mixing + shift


# ---------------------------------------------------------------- maths


def eigh_frechet(mu1, s1, mu2, s2) -> float:
    """Independent float64 FID: tr sqrt(S1 S2) = Σ sqrt(eig(S1^½ S2 S1^½)), all via eigh."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_root = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_frechet_distance_matches_float64_eigh(shift):
    a, b = random_features(2000, 24, 0), random_features(1500, 24, 1, shift) * 1.2
    mu1, s1 = maths.gaussian_stats(a)
    mu2, s2 = maths.gaussian_stats(b)
    ours, reference = maths.frechet_distance(mu1, s1, mu2, s2), eigh_frechet(mu1, s1, mu2, s2)
    assert ours == pytest.approx(reference, rel=1e-6, abs=1e-9)


def brute_force_mmd2(x: list[list[float]], y: list[list[float]]) -> float:
    """Unbiased polynomial-kernel MMD² with plain Python loops (Bińkowski et al., eq. 4)."""
    d = len(x[0])

    def k(a, b):
        return (sum(p * q for p, q in zip(a, b, strict=True)) / d + 1) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_brute_force():
    x, y = random_features(9, 4, 2), random_features(9, 4, 3, shift=0.5)
    mean, std = maths.kid(x, y, subset_size=9, subsets=3)
    assert mean == pytest.approx(brute_force_mmd2(x.tolist(), y.tolist()), rel=1e-5)  # float32
    assert std == pytest.approx(0.0, abs=1e-5)  # full sets each time: only the order changes


def test_kid_near_zero_for_same_distribution_positive_for_shifted():
    real = random_features(3000, 32, 4)
    same, shifted = random_features(3000, 32, 5), random_features(3000, 32, 6, shift=0.3)
    same_kid, same_std = maths.kid(real, same, subsets=20)
    shifted_kid, _ = maths.kid(real, shifted, subsets=20)
    assert abs(same_kid) < max(3 * same_std, 1e-3)
    assert shifted_kid > 20 * max(abs(same_kid), same_std)


def brute_force_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """The reference `prdc` package's formulas on full numpy distance matrices."""
    def dist(a, b):
        return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))

    real_radii = np.sort(dist(real, real), axis=1)[:, k]
    fake_radii = np.sort(dist(fake, fake), axis=1)[:, k]
    d = dist(real, fake)
    return {"precision": (d < real_radii[:, None]).any(0).mean(),
            "recall": (d < fake_radii[None]).any(1).mean(),
            "density": (d < real_radii[:, None]).sum(0).mean() / k,
            "coverage": (d.min(1) < real_radii).mean()}


def test_prdc_matches_brute_force_when_chunked():
    real, fake = random_features(150, 8, 7), random_features(130, 8, 8, shift=0.2)
    ours = maths.prdc(real, fake, chunk=17)
    reference = brute_force_prdc(real.double().numpy(), fake.double().numpy(), maths.PRDC_K)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-9), name


def test_prdc_identical_and_disjoint_sets():
    real = random_features(400, 16, 9)
    same = maths.prdc(real, real.clone())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = maths.prdc(real, real + 1000.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_classifier_score_extremes():
    uniform_confident = torch.eye(10).repeat(50, 1)
    assert maths.classifier_score(uniform_confident) == pytest.approx(10.0)
    one_class = torch.zeros(500, 10)
    one_class[:, 3] = 1.0
    assert maths.classifier_score(one_class) == pytest.approx(1.0)
    unsure = torch.full((500, 10), 0.1)  # every class used, but no confidence
    assert maths.classifier_score(unsure) == pytest.approx(1.0)


def test_mode_coverage_on_constructed_histograms():
    uniform = maths.mode_coverage(torch.full((10,), 0.1))
    assert uniform["modes"] == 10 and uniform["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    single = maths.mode_coverage(torch.tensor([0.0] * 9 + [1.0]))
    assert single["modes"] == 1 and single["kl_uniform"] == pytest.approx(math.log(10))
    skewed = torch.tensor([0.5, 0.3, 0.185, 0.015] + [0.0] * 6)  # 1.5 % is below the 2 % bar
    assert maths.mode_coverage(skewed)["modes"] == 3
    probs = torch.eye(4)[torch.tensor([0, 0, 1, 3])]
    assert maths.class_histogram(probs).tolist() == [0.5, 0.25, 0.0, 0.25]
    assert maths.label_accuracy(probs, torch.tensor([0, 1, 1, 3])) == 0.75


# ---------------------------------------------------------------- shipped domain classifiers


@pytest.mark.parametrize("network", sorted(classifier.NETWORKS))
@pytest.mark.parametrize("dataset", classifier.DOMAIN_DATASETS)
def test_shipped_weights_match_manifest(dataset, network):
    name = classifier.weights_file(dataset, network)
    entry = classifier.read_manifest()[name]
    assert entry["dataset"] == dataset and entry["network"] == network
    path = classifier.weights_dir() / name
    assert path.stat().st_size < 2_000_000  # a few hundred KB ships comfortably in the wheel
    model, digest = classifier.load_domain_classifier(dataset, network)
    assert digest == entry["sha256"]
    feats, probs = classifier.features_and_probs(model, torch.zeros(3, 1, 28, 28, dtype=torch.uint8),
                                                 "cpu")
    dims = {"domain": classifier.FEATURE_DIM, "domain2": classifier.RESIDUAL_WIDTHS[-1]}
    assert feats.shape == (3, dims[network]) and probs.shape == (3, 10)


def test_the_two_evaluators_are_independent_networks():
    """Different architecture, feature size, seed and augmentation: not one network twice."""
    manifest = classifier.read_manifest()
    for dataset in classifier.DOMAIN_DATASETS:
        first = manifest[classifier.weights_file(dataset, "domain")]
        second = manifest[classifier.weights_file(dataset, "domain2")]
        assert first["seed"] != second["seed"]
        assert first["augmentation"] != second["augmentation"]
    assert classifier.FEATURE_DIM != classifier.RESIDUAL_WIDTHS[-1]
    assert type(classifier.new_network("domain")) is not type(classifier.new_network("domain2"))


def test_fused_batchnorm_keeps_the_function():
    for network in classifier.NETWORKS:
        torch.manual_seed(0)
        model = classifier.new_network(network).train()
        x = torch.randn(16, 1, 28, 28)
        model(x)  # non-trivial running statistics
        model.eval()
        expected = model.features(x)
        fused = classifier.fuse_batchnorm(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
        torch.testing.assert_close(fused.features(x), expected, atol=1e-5, rtol=1e-4)


def test_bootstrap_intervals_narrow_with_more_samples():
    real = random_features(3000, 16, seed=0)
    mu, sigma = maths.gaussian_stats(real)
    widths = []
    for n in (300, 3000):
        fake = random_features(n, 16, seed=1, shift=0.3)
        fid = maths.frechet_distance(*maths.gaussian_stats(fake), mu, sigma)
        ci = maths.bootstrap_intervals(fake, real, mu, sigma, resamples=40)
        low, high = ci["fid_ci95"]
        assert low < high and low < fid * 1.5 and high > fid * 0.7
        assert ci["kid_ci95"][0] < ci["kid_ci95"][1]
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ten times the samples: a clearly narrower interval


def test_bootstrap_resamples_match_fid_and_kid_of_the_drawn_rows():
    """The count-weighted statistics equal pytorch-fid's FID and the unbiased MMD² computed on
    the drawn rows themselves (duplicates and all)."""
    real = random_features(700, 16, seed=0)
    fake = random_features(500, 16, seed=1, shift=0.3) * 1.2
    mu, sigma = maths.gaussian_stats(real)
    draws = torch.randint(500, (3, 500), generator=torch.Generator().manual_seed(5))
    counts = torch.zeros(3, 500, dtype=torch.float64).scatter_add_(
        1, draws, torch.ones(3, 500, dtype=torch.float64))
    fids = maths.resampled_fids(fake, counts, mu, sigma)
    kids = maths.resampled_kids(fake, real, counts, chunk=128)
    for b in range(3):
        picked = fake[draws[b]]
        expected_fid = maths.frechet_distance(*maths.gaussian_stats(picked), mu, sigma)
        expected_kid = maths.polynomial_mmd2(real.double(), picked.double()).item()
        assert fids[b] == pytest.approx(expected_fid, rel=1e-9)
        assert kids[b] == pytest.approx(expected_kid, rel=1e-9)
    assert len(set(fids.tolist())) == 3  # three different resamples


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    shutil.copytree(classifier.weights_dir(), tmp_path / "weights")
    weights = tmp_path / "weights" / classifier.weights_file("mnist", "domain")
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    monkeypatch.setattr(classifier, "weights_dir", lambda: tmp_path / "weights")
    classifier.load_domain_classifier.cache_clear()
    try:
        with pytest.raises(GanforgeError, match="sha256"):
            classifier.load_domain_classifier("mnist")
    finally:
        classifier.load_domain_classifier.cache_clear()


def test_prepare_converts_rgb_and_other_sizes():
    x = classifier.prepare(torch.full((2, 3, 32, 32), 255, dtype=torch.uint8))
    assert x.shape == (2, 1, 28, 28) and torch.allclose(x, torch.ones_like(x))


@pytest.mark.parametrize("dataset", ["cifar10", "folder:/tmp/x"])
def test_domain_features_unavailable_elsewhere(dataset):
    with pytest.raises(GanforgeError, match="--features inception"):
        evaluate_images(torch.zeros(10, 3, 32, 32, dtype=torch.uint8), dataset, DATA)


@needs_data("MNIST")
@pytest.mark.parametrize(("dataset", "minimum"), [("mnist", 0.985), ("fashion-mnist", 0.89)])
def test_shipped_classifier_accuracy_on_test_images(dataset, minimum):
    from ganforge.data.datasets import load_dataset

    data = load_dataset(dataset, DATA, train=False, download=False)
    model, _ = classifier.load_domain_classifier(dataset)
    _, probs = classifier.features_and_probs(model, data.images[:2000], "cpu")
    assert maths.label_accuracy(probs, data.labels[:2000]) >= minimum


# ---------------------------------------------------------------- evaluate_images


@pytest.fixture(autouse=True)
def fewer_kid_subsets(monkeypatch):
    """10 KID subsets instead of 100 keep these tests fast; the estimator is tested above."""
    monkeypatch.setattr(maths, "KID_SUBSETS", 10)


@needs_data("MNIST")
def test_real_images_score_well_and_reference_is_cached(tmp_path):
    from ganforge.data.datasets import load_dataset

    train = load_dataset("mnist", DATA, train=True, download=False)
    result = evaluate_images(train.images[:500], "mnist", DATA, n=500, cache_dir=tmp_path,
                             labels=train.labels[:500])
    assert RESULT_KEYS | {"label_accuracy"} <= set(result)
    assert result["n"] == result["n_ref"] == 500
    assert result["fid"] < 10 and result["precision"] > 0.6 and result["recall"] > 0.6
    assert result["score"] > 8 and result["modes"] == 10 and result["label_accuracy"] > 0.97
    assert len(list((tmp_path / "reference").glob("mnist-test-500-1x28x28-domain-mnist-*"))) == 1
    again = evaluate_images(train.images[:500], "mnist", DATA, n=500, cache_dir=tmp_path,
                            labels=train.labels[:500])
    assert again == result
    assert "fid" in format_table(result) and "class_hist" in format_table(result)


@needs_data("MNIST")
def test_every_fid_carries_its_protocol_and_floor(tmp_path):
    """The floor is the FID of held-out real images (train[:n]) under the same protocol, so a set
    of training images scores exactly the floor, and FID ÷ floor is 1. A reference of n images
    out of a larger split is spread over it (MNIST's test set has its cleaner half first): the
    protocol names the selection, and those very images score 0."""
    from ganforge.data.datasets import load_dataset
    from ganforge.metrics.classifier import load_domain_classifier

    train = load_dataset("mnist", DATA, train=True, download=False)
    test = load_dataset("mnist", DATA, train=False, download=False)
    result = evaluate_images(train.images[:400], "mnist", DATA, n=400, cache_dir=tmp_path)
    assert result["floor"] == "train[:400] vs test[::25]"
    assert result["floor_fid"] == pytest.approx(result["fid"], rel=1e-9)
    assert result["fid_over_floor"] == pytest.approx(1.0)
    digest = load_domain_classifier("mnist")[1]
    assert result["features_sha256"] == digest
    for part in ("domain-mnist", digest[:12], "400 samples 1×28×28", "mnist test[::25]",
                 f"floor {result['floor_fid']:.4g}"):
        assert part in result["protocol"]
    same = evaluate_images(test.images[::25], "mnist", DATA, n=400, cache_dir=tmp_path)
    first = evaluate_images(test.images[:400], "mnist", DATA, n=400, cache_dir=tmp_path)
    assert abs(same["fid"]) < 1e-6 < first["fid"]
    on_train = evaluate_images(train.images[:400], "mnist", DATA, n=400, ref="train",
                               cache_dir=tmp_path)
    spread = f"train[400 evenly spaced of {len(train)}]"
    assert on_train["floor"] == f"test[::25] vs {spread}" and spread in on_train["protocol"]


def test_prior_labels_follow_the_class_frequencies_in_every_prefix():
    from ganforge.generation.sampling import prior_labels

    prior = [0.1002, 0.1123, 0.0977, 0.1036, 0.0979, 0.0881, 0.0992, 0.1059, 0.0954, 0.0998]
    labels = prior_labels(10000, prior)
    assert labels.dtype == torch.int64 and int(labels.min()) == 0 and int(labels.max()) == 9
    for n in (100, 1000, 5000, 10000):
        counts = torch.bincount(labels[:n], minlength=10).double()
        assert (counts - n * torch.tensor(prior, dtype=torch.float64)).abs().max() <= 3, n
    assert torch.equal(prior_labels(1000, prior), labels[:1000])  # a longer draw extends it
    assert torch.equal(torch.bincount(prior_labels(50, [0.0, 1.0, 0.0])), torch.tensor([0, 50]))


@pytest.mark.slow
@needs_data("MNIST")
def test_evaluate_reports_both_evaluators_and_the_training_split(tmp_path):
    from ganforge.data.datasets import load_dataset
    from ganforge.metrics.evaluate import default_protocols

    train = load_dataset("mnist", DATA, train=True, download=False)
    also = default_protocols("mnist", "domain", "test")
    assert also == (("domain2", "test"), ("domain", "train"))
    assert default_protocols("cifar10", "inception", "test") == ()
    result = evaluate_images(train.images[:400], "mnist", DATA, n=400, cache_dir=tmp_path,
                             also=also, bootstrap=8)
    assert result["features"] == "domain-mnist" and result["domain2_features"] == "domain2-mnist"
    assert result["domain2_fid_over_floor"] == pytest.approx(1.0)  # held-out real images
    assert "domain2-mnist" in result["domain2_protocol"]
    assert result["train_ref"] == "train"
    assert f"mnist train[400 evenly spaced of {len(train)}]" in result["train_protocol"]
    assert len(result["fid_ci95"]) == 2 and len(result["domain2_fid_ci95"]) == 2
    table = format_table(result)
    assert "domain2" in table and "train" in table and "95% CI" in table


@needs_data("MNIST")
def test_reference_overlapping_the_training_set_is_reported(tmp_path):
    from ganforge.data.datasets import load_dataset
    from ganforge.data.fingerprint import image_hashes

    test = load_dataset("mnist", DATA, train=False, download=False)
    train = load_dataset("mnist", DATA, train=True, download=False)
    samples = train.images[:300]
    clean = evaluate_images(samples, "mnist", DATA, n=300, cache_dir=tmp_path,
                            training_hashes=image_hashes(train.images))
    assert clean["reference_overlaps_training"] is False
    leaky = evaluate_images(samples, "mnist", DATA, n=300, cache_dir=tmp_path,
                            training_hashes=image_hashes(test.images[250:2000]))
    # the reference is every 33.3rd test image: 52 of them fall in [250, 2000)
    assert leaky["reference_overlaps_training"] is True and leaky["reference_overlap_count"] == 52
    assert "REFERENCE OVERLAPS TRAINING" in leaky["protocol"]
    unknown = evaluate_images(samples, "mnist", DATA, n=300, cache_dir=tmp_path)
    assert unknown["reference_overlaps_training"] is None


@needs_data("MNIST")
def test_reference_is_resized_to_the_samples(tmp_path):
    from ganforge.data.datasets import load_dataset, resize_uint8

    train = load_dataset("mnist", DATA, train=True, download=False)
    big = resize_uint8(train.images[:300], 32)
    result = evaluate_images(big, "mnist", DATA, n=300, cache_dir=tmp_path)
    assert result["image_shape"] == [1, 32, 32]
    assert result["fid_over_floor"] == pytest.approx(1.0)  # floor images took the same resize
    assert list((tmp_path / "reference").glob("mnist-test-300-1x32x32-*"))


@needs_data("MNIST")
def test_noise_scores_badly(tmp_path):
    noise = torch.randint(0, 256, (300, 1, 28, 28), generator=torch.Generator().manual_seed(0),
                          dtype=torch.uint8)
    result = evaluate_images(noise, "mnist", DATA, n=300, cache_dir=tmp_path)
    assert set(result) >= RESULT_KEYS and "label_accuracy" not in result
    assert result["fid"] > 100 and result["precision"] < 0.05 and result["coverage"] < 0.05
    assert result["kid"] > 10 * result["kid_std"]


def test_cache_location_follows_env(tmp_path, monkeypatch):
    from ganforge.metrics.reference import cache_root

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "reference"
    assert cache_root(tmp_path / "x") == tmp_path / "x" / "reference"
    monkeypatch.delenv("GANFORGE_CACHE")
    assert cache_root() == Path("~/.cache/ganforge/reference").expanduser()


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(GanforgeError, match="uint8"):
        evaluate_images(torch.zeros(10, 1, 28, 28), "mnist", DATA)
    with pytest.raises(GanforgeError, match="at least"):
        evaluate_images(torch.zeros(3, 1, 28, 28, dtype=torch.uint8), "mnist", DATA)
    with pytest.raises(GanforgeError, match="unknown feature network"):
        evaluate_images(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), "mnist", DATA,
                        features="incepton")
    with pytest.raises(GanforgeError, match="reference split"):
        evaluate_images(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), "mnist", DATA, ref="val",
                        cache_dir=tmp_path)


# ---------------------------------------------------------------- load_images


def test_load_images_from_npz_and_folder(tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "u8.npz", x=pixels)
    assert torch.equal(load_images(tmp_path / "u8.npz"), torch.from_numpy(pixels))
    floats = pixels.transpose(0, 2, 3, 1).astype(np.float32) / 127.5 - 1  # N×H×W×C in [-1, 1]
    np.savez(tmp_path / "float.npz", x=floats)
    assert torch.equal(load_images(tmp_path / "float.npz"), torch.from_numpy(pixels))
    (tmp_path / "imgs").mkdir()
    for i, image in enumerate(pixels):
        Image.fromarray(image[0]).save(tmp_path / "imgs" / f"{i}.png")
    assert torch.equal(load_images(tmp_path / "imgs"), torch.from_numpy(pixels))


def test_load_images_errors(tmp_path):
    with pytest.raises(GanforgeError, match="does not exist"):
        load_images(tmp_path / "nope.npz")
    np.savez(tmp_path / "wrong_key.npz", images=np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(GanforgeError, match="no array 'x'.*images"):
        load_images(tmp_path / "wrong_key.npz")
    np.savez(tmp_path / "wrong_shape.npz", x=np.zeros((2, 5, 4, 4), np.uint8))
    with pytest.raises(GanforgeError, match="shape"):
        load_images(tmp_path / "wrong_shape.npz")
    np.savez(tmp_path / "range.npz", x=np.full((2, 1, 4, 4), 3.0, np.float32))
    with pytest.raises(GanforgeError, match=r"\[-1, 1\]"):
        load_images(tmp_path / "range.npz")


# ---------------------------------------------------------------- Inception (pytorch-fid)


@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory) -> Path:
    """A randomly initialised FID-Inception state dict. The real 2015 weights are not available
    offline (and 92 MB), so equality with pytorch-fid is checked with random weights instead:
    the architecture, preprocessing and state-dict loading are what is under test."""
    from pytorch_fid import inception as fid_inception

    torch.manual_seed(0)
    with mock.patch.object(fid_inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(torch.nn.Module, "load_state_dict", lambda *a, **k: None):
        model = fid_inception.fid_inception_v3()
    state = model.state_dict()
    for name, value in state.items():  # non-trivial BN statistics
        if name.endswith("running_var"):
            value.uniform_(0.5, 2.0)
        elif name.endswith("running_mean"):
            value.normal_(0.0, 0.1)
    path = tmp_path_factory.mktemp("inception") / "random-fid-inception.pth"
    torch.save(state, path)
    return path


@pytest.fixture()
def hub_with(tmp_path, random_inception_file):
    """Point torch.hub at a folder where pytorch-fid finds `random_inception_file` as its cache."""
    old = torch.hub.get_dir()
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    os.symlink(random_inception_file, hub / "checkpoints" / inception.hub_weights_path().name)
    torch.hub.set_dir(str(hub))
    yield hub
    torch.hub.set_dir(old)


def write_pngs(folder: Path, images: torch.Tensor) -> list[Path]:
    from PIL import Image

    folder.mkdir()
    paths = [folder / f"{i:03d}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        Image.fromarray(image[0].numpy()).save(path)
    return paths


@pytest.mark.slow
def test_inception_features_equal_pytorch_fid(hub_with, random_inception_file):
    """pool3 (2048-d) features from our loader (explicit file, weights_only) equal those of
    pytorch-fid's InceptionV3 loading the same weights from its own hub cache."""
    from pytorch_fid.inception import InceptionV3

    images = torch.randint(0, 256, (1, 1, 28, 28), generator=torch.Generator().manual_seed(2),
                           dtype=torch.uint8)
    ours = inception.load_inception(str(random_inception_file))
    with torch.inference_mode():
        theirs = InceptionV3([3]).eval()(images.float().div(255).expand(-1, 3, -1, -1))[0]
    torch.testing.assert_close(inception.inception_features(ours, images, "cpu"), theirs.flatten(1))
    assert inception.find_weights() == hub_with / "checkpoints" / inception.hub_weights_path().name


def test_inception_fid_equals_pytorch_fid(tmp_path, hub_with, random_inception_file, monkeypatch):
    """evaluate_images' FID equals pytorch-fid's own pipeline (PNG files →
    calculate_activation_statistics → calculate_frechet_distance) on the same images. Run with
    pytorch-fid's 64-d block (its --dims 64): a 2048×2048 sqrtm takes minutes on 2 CPU cores, and
    everything but the block index is the same code path as pool3."""
    from pytorch_fid.fid_score import calculate_activation_statistics, calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3

    monkeypatch.setattr(inception, "DIMS", 64)
    # random weights stand in for the real ones here (offline): this test is about the maths
    monkeypatch.setattr(inception, "WEIGHTS_SHA256", classifier.sha256_file(random_inception_file))
    inception.checked_weights_hash.cache_clear()
    generator = torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (8, 1, 28, 28), generator=generator, dtype=torch.uint8)
    fake = (real.float() * 0.6).to(torch.uint8)
    theirs = InceptionV3([0]).eval()
    stats = [calculate_activation_statistics([str(p) for p in write_pngs(tmp_path / name, x)],
                                             theirs, batch_size=8, dims=64)
             for name, x in (("fake", fake), ("real", real))]
    expected = calculate_frechet_distance(*stats[0], *stats[1])
    result = evaluate_images(fake, f"folder:{tmp_path / 'real'}", tmp_path, features="inception",
                             inception_weights=random_inception_file, n=8, cache_dir=tmp_path)
    assert result["fid"] == pytest.approx(expected, rel=1e-6)
    assert result["features"] == "inception-64"
    assert result["score"] is None and result["class_hist"] is None  # no folder classifier


def test_missing_inception_weights_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    from pytorch_fid.inception import FID_WEIGHTS_URL

    with pytest.raises(GanforgeError) as err:
        inception.find_weights(None)
    message = str(err.value)
    assert FID_WEIGHTS_URL in message and "--inception-weights" in message and "\n" not in message
    with pytest.raises(GanforgeError, match="does not exist"):
        inception.find_weights(tmp_path / "missing.pth")


def test_format_table_handles_missing_values():
    table = format_table({"fid": 1.5, "kid": 1e-5, "score": None, "class_hist": [0.5, 0.5],
                          "n": 10})
    assert "n/a" in table and "0.500 0.500" in table and "1.000e-05" in table
    assert evaluate.format_value(3) == "3"


def test_foreign_inception_weights_are_refused_in_one_line(random_inception_file, tmp_path, capsys):
    """Random or foreign weights give FIDs that compare with nothing: evaluate and train (with
    evaluation during training) refuse them before doing any work."""
    from ganforge.cli import main

    inception.checked_weights_hash.cache_clear()
    images = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8).numpy()
    np.savez(tmp_path / "s.npz", x=images)
    for argv in (["evaluate", str(tmp_path / "s.npz"), "--dataset", "mnist", "--features",
                  "inception", "--inception-weights", str(random_inception_file)],
                 ["train", "--dataset", "cifar10", "--eval-every", "5", "--steps", "5",
                  "--inception-weights", str(random_inception_file), "--run-dir",
                  str(tmp_path / "run")]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1
        assert "is not the FID Inception weights file" in err[0]
    assert not (tmp_path / "run" / "checkpoints" / "last.safetensors").exists()


@needs_data("MNIST")
def test_the_floor_of_a_training_reference_spreads_its_test_images_and_a_test_one_keeps_the_first():
    """The first 5,000 MNIST test digits are the cleaner half: a 5k floor must not use only them."""
    from ganforge.data.datasets import load_dataset
    from ganforge.metrics.reference import held_out_images

    test = load_dataset("mnist", DATA, train=False, download=False)
    images, floor = held_out_images("mnist", DATA, "train", 5000, "train[x]", None)
    assert floor == "test[::2] vs train[x]" and torch.equal(images, test.images[::2])
    train = load_dataset("mnist", DATA, train=True, download=False)
    images, floor = held_out_images("mnist", DATA, "test", 5000, "test[::2]", None)
    assert floor == "train[:5000] vs test[::2]" and torch.equal(images, train.images[:5000])
