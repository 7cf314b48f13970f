"""The HTML report: self-contained, atomic, and rendered by headless Chromium with every section."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.glassbox.diagnostics import CleanTrainLoss, diagnose
from glassnet.glassbox.monitors import ActivationMonitor, GradientMonitor

pytest.importorskip("matplotlib")
from glassnet.glassbox.report import SECTIONS, write_report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from glassnet.adapters.datasets import load

    pytest.importorskip("sklearn")
    ds = load("digits")
    X, y = ds.X / 16.0, ds.y
    model = gn.mlp(64, [32, 32], 10, seed=0)
    history = model.fit(X[:1400], y[:1400], epochs=12, optimizer=gn.SGD(lr=0.1, momentum=0.9), verbose=0, seed=0,
                        validation_split=0.2, callbacks=[CleanTrainLoss(), ActivationMonitor(), GradientMonitor()])
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, model, history, X[1400:], y[1400:], image_shape=(8, 8), title="digits MLP")
    return path, history


def test_report_is_self_contained(report):
    path, history = report
    text = path.read_text()
    for key in SECTIONS:
        assert f'<section id="{key}">' in text
    assert text.count("data:image/png;base64,") >= 6        # curves, dead units, gradients, confusion, 3 attributions
    assert "src=\"http" not in text and "href=\"http" not in text   # nothing to fetch
    assert diagnose(history).verdict in text
    assert "dead ReLU units: " in text and "baseline: the training mean" in text
    assert not list(path.parent.glob(".tmp-*"))              # the atomic write left no temporary file


def test_report_renders_in_chromium(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    path, _ = report
    errors = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        for key in SECTIONS:
            assert page.locator(f"section#{key}").is_visible(), key
            assert page.locator(f"section#{key} h2").inner_text().strip()
        # every embedded image decoded (naturalWidth is 0 for a broken image)
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(widths) >= 6 and min(widths) > 0
        shot = path.parent / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert shot.stat().st_size > 10_000
    if os.environ.get("GLASSNET_ARTIFACTS"):
        out = Path("artifacts")
        out.mkdir(exist_ok=True)
        shutil.copy(shot, out / "report.png")


def test_write_report_needs_matplotlib_message(monkeypatch, report, tmp_path):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real(name, *a, **k)

    path, history = report
    monkeypatch.setattr(builtins, "__import__", fake)
    model = gn.mlp(4, [3], 2, seed=0)
    with pytest.raises(ImportError, match=r"glassnet\[report\]"):
        write_report(tmp_path / "r.html", model, history, np.zeros((3, 4)), np.array([0, 1, 0]))
    assert not (tmp_path / "r.html").exists()


def test_data_checks_name_the_classes(tmp_path):
    """An imbalanced real sample (digits 0 against a few 1s): the finding names the classes, not only their codes."""
    from glassnet.adapters.datasets import load

    pytest.importorskip("sklearn")
    ds = load("digits")
    keep = np.flatnonzero(ds.y == 0).tolist() + np.flatnonzero(ds.y == 1)[:20].tolist()
    X, y = ds.X[keep] / 16.0, (ds.y[keep] == 1).astype(np.int64)
    model = gn.mlp(64, [8], 2, seed=0)
    history = model.fit(X, y, epochs=2, verbose=0, seed=0, validation_split=0.2)
    path = tmp_path / "report.html"
    write_report(path, model, history, X, y, class_names=["zero", "one"], X_train=X, y_train=y)
    text = path.read_text()
    assert "class_imbalance" in text and "(classes: 0 = zero, 1 = one)" in text
