"""One self-contained HTML file that explains a trained model.

Sections: model summary, data checks, learning curves, fit verdict, monitors (dead units,
saturation, gradient flow), confusion matrix, example attributions and a backpropagation
trace. Images are PNGs embedded as base64, so the file opens anywhere with no other files.
Needs matplotlib: ``pip install 'glassnet[report]'``.
"""

import base64
import html
import io

import numpy as np

from glassnet.backend.atomic import atomic_write
from glassnet.glassbox.attributions import integrated_gradients
from glassnet.glassbox.datachecks import check_data
from glassnet.glassbox.diagnostics import diagnose
from glassnet.glassbox.plots import (
    AttributionDisplay,
    ConfusionMatrixDisplay,
    DeadUnitsDisplay,
    GradientFlowDisplay,
    LearningCurveDisplay,
)
from glassnet.glassbox.through_time import ThroughTimeDisplay, time_trace
from glassnet.glassbox.trace import backprop_trace
from glassnet.nn.layers.recurrent import Recurrent
from glassnet.nn.losses import default_loss

__all__ = ["build_report", "SECTIONS", "write_report"]

SECTIONS = ("summary", "data", "curves", "verdict", "monitors", "confusion", "attributions", "trace")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #444}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}
pre{background:#f6f6f6;padding:.7em;overflow-x:auto;font-size:.8em}
.verdict{font-size:1.3em;font-weight:bold;padding:.3em .6em;border-radius:4px;display:inline-block}
.good{background:#d9f2d9}.bad{background:#f9d6d5}.meh{background:#fcefc7}
.error{color:#a40000}.warning{color:#8a5a00}img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:1em}
.grid img{max-width:300px}
"""


def _figure(draw, size=(6.4, 3.8)):
    """Draw on a fresh matplotlib Figure (no pyplot, no global state) and return it as a base64 PNG tag."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ModuleNotFoundError("write_report needs matplotlib: pip install 'glassnet[report]'") from e
    fig = Figure(figsize=size, layout="constrained")
    draw(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _list(items, cls=""):
    if not items:
        return "<p>nothing to report.</p>"
    return "<ul>" + "".join(f'<li class="{cls}">{html.escape(str(i))}</li>' for i in items) + "</ul>"


def build_report(model, history, X, y, *, title="glassnet report", image_shape=None, class_names=None,
                 n_examples=3, diagnosis=None):
    """The report as an HTML string; see :func:`write_report`."""

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    diagnosis = diagnose(history) if diagnosis is None else diagnosis
    monitors = getattr(history, "monitors", {})
    classifier = default_loss(model).output_layer == "Softmax"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]

    def section(key, heading, body):
        parts.append(f'<section id="{key}"><h2>{heading}</h2>{body}</section>')

    section("summary", "Model", f"<pre>{html.escape(model.summary())}</pre><p>{history.epochs} epochs, "
            f"{history.iterations} iterations, batch size {history.batch_size}.</p>")
    sequences = any(isinstance(layer, Recurrent) for layer in model.layers)
    issues = [] if sequences else check_data(X, y, model)
    if sequences:   # the data checks and attributions read tabular rows; a sequence model gets its own trace
        section("data", "Data", f"<p>{len(X)} sequences, shape {tuple(X.shape[1:])} each (the data checks "
                "cover tabular data).</p>")
    else:
        section("data", "Data checks", f"<p>{len(X)} samples, {X.shape[1]} features.</p>" +
                "".join(f'<p class="{i.severity}"><b>{i.severity}</b> {html.escape(i.kind)}: '
                        f'{html.escape(i.message)}</p>' for i in issues) if issues else
                f"<p>{len(X)} samples: no problems found.</p>")
    section("curves", "Learning curves", _figure(lambda ax: LearningCurveDisplay.from_history(history, diagnosis, ax)))
    tone = {"good fit": "good", "diverged": "bad", "overfitting": "bad", "underfitting": "bad"}.get(diagnosis.verdict,
                                                                                                   "meh")
    section("verdict", "Fit verdict", f'<p class="verdict {tone}">{html.escape(diagnosis.verdict)}</p>'
            f"<h3>Evidence</h3>{_list(diagnosis.evidence)}<h3>Remedies</h3>{_list(diagnosis.remedies)}")
    body = ""
    if "activations" in monitors:
        m = monitors["activations"]
        body += _figure(lambda ax: DeadUnitsDisplay.from_monitor(m, ax)) + _list(m.advice(), "warning")
        if any(m.saturation[-1].values()) or m.saturation[-1]:
            body += "<p>Saturation (share of outputs in the flat tails): " + html.escape(", ".join(
                f"layer {i}: {100 * s:.1f}%" for i, s in m.saturation[-1].items())) + "</p>"
    if "gradients" in monitors:
        g = monitors["gradients"]
        body += _figure(lambda ax: GradientFlowDisplay.from_monitor(g, ax)) + _list(g.advice(), "warning")
    if "through_time" in monitors:
        tt = monitors["through_time"]
        body += _figure(lambda ax: ThroughTimeDisplay.from_monitor(tt, ax)) + _list(tt.advice(), "warning")
    section("monitors", "Monitors", body or "<p>No monitors ran: pass callbacks=[ActivationMonitor(), "
            "GradientMonitor()] to fit.</p>")
    pred = model.predict(X)
    if classifier:
        section("confusion", "Confusion matrix",
                _figure(lambda ax: ConfusionMatrixDisplay.from_predictions(y, pred, class_names, ax), (5.5, 4.8)))
    else:
        mse = float(((pred - y.reshape(pred.shape)) ** 2).mean())
        section("confusion", "Predictions", f"<p>mean squared error {mse:.4g}"
                " (no confusion matrix for a regression model).</p>")
    imgs, notes = [], []
    for i in range(0 if sequences else min(n_examples, len(X))):
        a = integrated_gradients(model, X[i])
        notes.append(f"sample {i}: {a}")
        imgs.append(_figure(lambda ax, a=a, x=X[i]: AttributionDisplay.from_attribution(a, image_shape, x=x, ax=ax),
                            (4, 3.4) if image_shape else (5, 3.6)))
    section("attributions", "Example attributions", f'<div class="grid">{"".join(imgs)}</div>{_list(notes)}')
    target = int(y[0]) if classifier else y[0]
    trace = time_trace(model, X[0], target) if sequences else backprop_trace(model, X[0], target, width=3)
    section("trace", "Backpropagation trace (sample 0)", f"<pre>{html.escape(str(trace))}</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(path, model, history, X, y, **kwargs):
    """Write the HTML report to ``path`` atomically (a temporary file renamed into place).

    Parameters
    ----------
    path : str or os.PathLike
    model : Sequential
    history : History
        As returned by ``fit``; monitors registered in ``history.monitors`` are included.
    X : array of shape (n, n_features)
        Data for the data checks, the confusion matrix and the example attributions (typically
        the validation or test set).
    y : array of shape (n,)
        Its labels (or regression targets).
    title : str, optional
    image_shape : tuple, optional
        E.g. (8, 8) for digits: attributions are drawn as heatmaps.
    class_names : list, optional
    n_examples : int, default 3
    diagnosis : Diagnosis, optional
        Defaults to ``diagnose(history)``.

    Returns
    -------
    str
        The path written.
    """

    atomic_write(path, build_report(model, history, X, y, **kwargs).encode("utf-8"))
    return str(path)
