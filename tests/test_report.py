"""`ganforge dynamics` (period/amplitude of synthetic oscillations, the BCE equilibrium) and
`ganforge report` for a run and a sweep, checked in a real headless Chromium."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ganforge.errors import GanforgeError
from ganforge.report.dynamics import analyze, oscillation
from ganforge.report.html import write_report
from tests.conftest import RUNS, assert_one_line_error, run_cli

LN2 = math.log(2)


def sine_records(period: float = 230, amplitude: float = 0.3, every: int = 10, steps: int = 4000,
                 noise: float = 0.0, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for step in range(every, steps + 1, every):
        phase = 2 * math.pi * step / period
        records.append({
            "step": step,
            "loss_d": 2 * LN2 + amplitude * math.sin(phase) + noise * rng.standard_normal(),
            "loss_g": LN2 - amplitude / 2 * math.sin(phase) + 1e-4 * step,  # with a drift
            "d_real": 0.5 + 0.1 * math.cos(phase),
            "d_fake": 0.5,  # constant: no oscillation
        })
    return records


def test_dynamics_reports_the_period_and_amplitude_of_a_sine():
    result = analyze(sine_records(noise=0.03), window=100)
    rows = {r["signal"]: r for r in result.rows}
    for name, amplitude in (("loss_d", 0.3), ("loss_g", 0.15), ("d_real", 0.1)):
        assert rows[name]["period"] == pytest.approx(230, rel=0.03), name
        assert rows[name]["median_period"] == pytest.approx(230, rel=0.03), name
        assert rows[name]["amplitude"] == pytest.approx(amplitude, rel=0.1), name
    assert rows["d_fake"]["period"] is None and rows["d_fake"]["amplitude"] == 0
    assert rows["loss_d"]["off"] < 0.02 and rows["d_fake"]["off"] == 0
    assert rows["loss_g"]["final"] > rows["loss_g"]["first"]  # the drift is reported, not hidden
    # steps between log points are respected: the same signal logged every 50 steps
    coarse = analyze(sine_records(period=2000, every=50, steps=20000), window=100)
    assert coarse.rows[0]["period"] == pytest.approx(2000, rel=0.03)


def test_oscillation_of_noise_and_of_a_constant():
    rng = np.random.default_rng(1)
    amplitude, period = oscillation(rng.standard_normal(200) * 0.01)
    assert amplitude == pytest.approx(0.01 * math.sqrt(2), rel=0.2)
    assert oscillation(np.full(50, 0.7)) == (0.0, None)
    x = np.arange(120)
    assert oscillation(np.sin(2 * np.pi * x / 12))[1] == pytest.approx(12, rel=0.01)


def test_distance_is_zero_at_the_equilibrium_and_other_losses_have_none():
    still = [{"step": s, "loss_d": 2 * LN2, "loss_g": LN2, "d_real": 0.5, "d_fake": 0.5}
             for s in range(10, 500, 10)]
    result = analyze(still)
    assert np.allclose(result.signals["distance"], 0)
    assert analyze(still, loss="bce-minimax").signals["distance"].max() == pytest.approx(2 * LN2)
    assert "distance" not in analyze(still, loss="hinge").signals
    with pytest.raises(GanforgeError, match="at least 4"):
        analyze(still[:3])


def drifting_records(final_gap: float, steps: int = 20000, every: int = 50) -> list[dict]:
    """D(x) − D(G(z)) rising linearly from 0.1 to `final_gap` after a flat first quarter."""
    records = []
    for step in range(every, steps + 1, every):
        gap = 0.1 + (final_gap - 0.1) * max(0.0, (step - steps / 4) / (0.75 * steps))
        records.append({"step": step, "loss_d": 2 * LN2 - gap, "loss_g": LN2 + gap,
                        "d_real": 0.5 + gap / 2, "d_fake": 0.5 - gap / 2})
    return records


def test_a_discriminator_pulling_away_is_named_with_what_to_try():
    verdict = analyze(drifting_records(0.5)).verdict
    # the last window's mean of the ramp (steps 15,050-20,000) is 0.43
    assert verdict.startswith("D is pulling away") and "to 0.43 (last window)" in verdict
    assert "--augment diffaug" in verdict and "--ada-target below 0.6" in verdict
    # a small rise, or a steady oscillation around the equilibrium, is no drift
    assert analyze(drifting_records(0.2)).verdict.startswith("no drift")
    assert analyze(sine_records(noise=0.03)).verdict.startswith("no drift")
    assert analyze(drifting_records(0.5), loss="hinge").verdict == ""  # raw scores: no scale


def test_dynamics_command(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sine_records())
                                       + json.dumps({"step": 4000, "eval_fid": 12.0}) + "\n")
    code, out, _ = run_cli(capsys, "dynamics", str(run), "--window", "100")
    assert code == 0 and (run / "dynamics.png").stat().st_size > 0
    line = next(line for line in out.splitlines() if line.startswith("L_D"))
    assert re.search(r"\b2(2[4-9]|3[0-6])(\.\d+)?\b", line), line  # period ≈ 230 steps
    assert_one_line_error(*run_cli(capsys, "dynamics", str(tmp_path))[::2], "metrics.jsonl")


def test_report_of_a_run(tiny_run, tmp_path, capsys):  # noqa: F811
    code, out, _ = run_cli(capsys, "report", str(tiny_run), "--out", str(tmp_path))
    assert code == 0
    page = (tmp_path / "report.html").read_text()
    for title in ("Metrics", "Training curves", "Sample evolution", "Latent interpolation",
                  "Training dynamics", "Configuration"):
        assert f"<h2>{title}</h2>" in page, title
    sources = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(sources) >= 6 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    markdown = (tmp_path / "report.md").read_text()
    links = re.findall(r"\]\((report_files/[^)]+)\)", markdown)
    assert len(links) == len(sources) and all((tmp_path / link).exists() for link in links)
    assert "best FID (during training)" in markdown
    protocol = re.search(r"\| FID protocol \(during training\) \| (.+) \|", markdown).group(1)
    assert "domain-mnist features (weights sha256" in protocol and "real-vs-real floor" in protocol
    assert re.search(r"best FID \(during training\) \| [\d.]+ \([\d.]+× floor\)", markdown)


def test_report_errors(tmp_path, capsys):
    assert_one_line_error(*run_cli(capsys, "report", str(tmp_path / "nope"))[::2], "not a folder")
    assert_one_line_error(*run_cli(capsys, "report", str(tmp_path))[::2], "neither a run")
    (tmp_path / "sweep.json").write_text("{}")
    with pytest.raises(GanforgeError, match="no sweep.csv"):
        write_report(tmp_path)


# ----- in a real browser -----
def find_browser() -> tuple[str, str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                   if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        message = "chromium and chromedriver are not installed (apt-get install chromium " \
                  "chromium-driver)"
        if os.environ.get("CI"):  # .ci/run installs them: in CI a skip would hide a lost check
            pytest.fail(message)
        pytest.skip(message)
    return binary, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


def open_page(browser, page: Path) -> None:
    """Load the page; no console errors, every image decoded, and a screenshot of it."""
    browser.get(page.resolve().as_uri())
    screenshot = page.with_suffix(".png")
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 5000
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == [], severe
    widths = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    assert widths and all(w > 0 for w in widths), widths


@pytest.mark.slow
def test_reports_render_in_chromium(browser, tiny_run, tiny_sweep, tmp_path):  # noqa: F811
    run_html, _ = write_report(tiny_run, tmp_path / "run")
    open_page(browser, run_html)
    sweep_html, _ = write_report(tiny_sweep, tmp_path / "sweep")
    open_page(browser, sweep_html)
    rows = browser.execute_script("return document.querySelectorAll('#fid-table tbody tr').length")
    assert rows == len(RUNS)
    heads = browser.execute_script(
        "return Array.from(document.querySelectorAll('#fid-table th')).map(h => h.textContent)")
    assert heads[:3] == ["latent_dim", "width", "FID"]
