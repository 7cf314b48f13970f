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
from glassnet.train.inference import evaluate

__all__ = ["SECTIONS", "build_report", "monitor_findings", "write_report"]

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


def _name(names, i, prefix):
    return str(names[i]) if names is not None and i < len(names) else f"{prefix}{i}"


def _issue(issue, feature_names, class_names=None):
    """A data check's finding; the encoded columns and classes it names by number are named by their names too."""
    cols = issue.details.get("columns") if feature_names is not None else None
    named = f" (columns: {', '.join(_name(feature_names, j, 'x') for j in cols[:8])})" if cols else ""
    classes = list(issue.details.get("counts", issue.details.get("classes", []))) if class_names is not None else []
    if classes and all(float(c).is_integer() for c in classes):
        named += " (classes: " + ", ".join(f"{int(c)} = {_name(class_names, int(c), '')}" for c in classes[:12]) + ")"
    return (f'<p class="{issue.severity}"><b>{issue.severity}</b> {html.escape(issue.kind)}: '
            f'{html.escape(issue.message + named)}</p>')


def monitor_findings(history):
    """Every monitor's finding as a sentence, including the ones that found nothing wrong.

    E.g. "dead ReLU units: 0 of 192 (layer 1: 0 of 128, layer 3: 0 of 64)". Used by the report and
    printable on its own.
    """
    monitors = getattr(history, "monitors", None) or {}
    out = []
    m = monitors.get("activations")
    if m is not None and m.epochs:
        # the model returned: with restored weights, the record of the epoch early stopping went back to
        best = getattr(history, "best_epoch", None)
        at = m.epochs.index(best + 1) if getattr(history, "restored_best", False) and best is not None and \
            best + 1 in m.epochs else -1
        relu = {i: n for i, n in m.dead[at].items()}
        if relu:
            total, units = sum(relu.values()), sum(m.units[i] for i in relu)
            out.append(f"dead ReLU units: {total} of {units} at epoch {m.epochs[at]}"
                       f"{' (the weights early stopping restored)' if at != -1 else ''} (" + ", ".join(
                           f"layer {i}: {n} of {m.units[i]}" for i, n in relu.items()) + ")")
        for i, share in m.saturation[at].items():
            out.append(f"layer {i}: {100 * share:.1f}% of outputs in the flat tails (saturated)")
        out += m.advice(at)
    g = monitors.get("gradients")
    if g is not None and g.epochs:
        out.append(f"gradient norm ||dL/dW|| at epoch {g.epochs[-1]}: " + ", ".join(
            f"layer {i}: {v:.3g}" for i, v in g.grad_norm[-1].items()))
        advice = g.advice()
        out += advice or ["gradients: no vanishing, exploding or oversized updates found"]
    noise = monitors.get("gradient_noise")
    if noise is not None:
        out += noise.advice()
    guard = monitors.get("nan_guard")
    if guard is not None and guard.peak is not None and guard.first_loss is not None:
        out.append(f"NaN guard: first batch loss {guard.first_loss:.4g}, highest {guard.peak:.4g} (epoch "
                   f"{guard.peak_epoch + 1})" + (f"; {history.diverged}" if history.diverged else "; never fired"))
    ach = monitors.get("achievable")
    if ach is not None:
        out += ach.describe() or ["achievable loss: no conflicting duplicates; no reference model (scikit-learn "
                                  "absent)"]
    return out


def _metrics_text(model, X, y, classifier, class_names):
    m = evaluate(model, X, y)
    if classifier:
        pred = model.predict(X).argmax(axis=1)
        y = np.asarray(y).astype(int)
        per = [f"{_name(class_names, c, 'class ')}: {100 * (pred[y == c] == c).mean():.1f}% of {int((y == c).sum())}"
               for c in np.unique(y)]
        return [f"loss {m['loss']:.4g}, accuracy {m['accuracy']:.4f} on {len(X)} rows",
                "recall per class: " + "; ".join(per)]
    var = float(np.var(np.asarray(y, dtype=np.float64)))
    return [f"mean squared error {m['loss']:.4g} on {len(X)} rows; R^2 = {1 - m['loss'] / max(var, 1e-300):.4f} "
            f"(Var(y) = {var:.4g})"]


def build_report(model, history, X, y, *, title="glassnet report", image_shape=None, class_names=None,
                 feature_names=None, n_examples=3, diagnosis=None, X_train=None, y_train=None, data_source=None,
                 target_name=None, hyperparameters=None, notes=None):
    """The report as an HTML string; see :func:`write_report`."""

    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    diagnosis = diagnose(history) if diagnosis is None else diagnosis
    monitors = getattr(history, "monitors", {})
    classifier = default_loss(model).output_layer is not None
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]

    def section(key, heading, body):
        parts.append(f'<section id="{key}"><h2>{heading}</h2>{body}</section>')

    about = [f"{history.epochs} epochs, {history.iterations} iterations, batch size {history.batch_size}"]
    if data_source:
        about.append(f"data: {data_source}")
    if target_name:
        about.append(f"target: {target_name} ({'classification' if classifier else 'regression'})")
    if hyperparameters:
        about.append("hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in hyperparameters.items()))
    about += [f"evaluation data: {t}" for t in _metrics_text(model, X, y, classifier, class_names)]
    # one sample's shape from the data: a convolution's sizes are known only with it (else "?")
    section("summary", "Model", f"<pre>{html.escape(model.summary(input_shape=X.shape[1:]))}</pre>" + _list(about))
    sequences = any(isinstance(layer, Recurrent) for layer in model.layers)
    if sequences:   # the data checks and attributions read tabular rows; a sequence model gets its own trace
        section("data", "Data", f"<p>{len(X)} sequences, shape {tuple(X.shape[1:])} each (the data checks "
                "cover tabular data).</p>")
    else:
        # the checks run on the data the model trained on (after any scaling), with the model's task
        Xc, yc = (X, y) if X_train is None else (np.asarray(X_train, dtype=np.float32), np.asarray(y_train))
        where = "the training data" if X_train is not None else "the evaluation data (pass X_train= to check " \
            "the training data)"
        issues = check_data(Xc, yc, model, validation_data=None if X_train is None else (X, y))
        if notes is not None:   # heavy tails are judged on the raw columns (notes), not on the scaled ones
            issues = [i for i in issues if i.kind != "heavy_tailed"]
        found = "".join(_issue(i, feature_names, class_names) for i in issues) or "<p>no problems found.</p>"
        section("data", "Data checks", f"<p>{len(Xc)} rows of {where}, {Xc.shape[1]} features.</p>"
                + (_list(notes, "note") if notes else "") + found)
    section("curves", "Learning curves", _figure(lambda ax: LearningCurveDisplay.from_history(history, diagnosis, ax)))
    tone = {"good fit": "good", "diverged": "bad", "overfitting": "bad", "underfitting": "bad"}.get(diagnosis.verdict,
                                                                                                   "meh")
    section("verdict", "Fit verdict", f'<p class="verdict {tone}">{html.escape(diagnosis.verdict)}</p>'
            f"<h3>Evidence</h3>{_list(diagnosis.evidence)}<h3>Remedies</h3>{_list(diagnosis.remedies)}")
    body = "<h3>Findings</h3>" + _list(monitor_findings(history))
    if "activations" in monitors:
        m = monitors["activations"]
        body += _figure(lambda ax: DeadUnitsDisplay.from_monitor(m, ax))
    if "gradients" in monitors:
        g = monitors["gradients"]
        body += _figure(lambda ax: GradientFlowDisplay.from_monitor(g, ax))
    if "through_time" in monitors:
        tt = monitors["through_time"]
        body += _figure(lambda ax: ThroughTimeDisplay.from_monitor(tt, ax)) + _list(tt.advice(), "warning")
    section("monitors", "Monitors", body if monitors else "<p>No monitors ran: pass callbacks=[ActivationMonitor(), "
            "GradientMonitor()] to fit.</p>")
    pred = model.predict(X)
    if classifier and pred.shape[1] > 1:
        section("confusion", "Confusion matrix",
                _figure(lambda ax: ConfusionMatrixDisplay.from_predictions(y, pred, class_names, ax), (5.5, 4.8)))
    else:
        section("confusion", "Predictions", "<p>" + html.escape(_metrics_text(model, X, y, classifier,
                                                                               class_names)[0]) + "</p>")
    # attributions against the training mean: "how does this row differ from a typical one", never a zero
    # baseline that may lie far outside the data (a year of 0)
    mean = None if sequences else (np.asarray(X_train, dtype=np.float64) if X_train is not None
                                   else X.astype(np.float64)).mean(axis=0)
    imgs, notes = [], []
    image_shape = image_shape or (X.shape[1:3] if X.ndim == 4 and X.shape[3] == 1 else None)   # NHWC grey images
    for i in range(0 if sequences else min(n_examples, len(X))):
        a = integrated_gradients(model, X[i], baseline=mean)
        values = np.ravel(a.values)                # an image's attributions: pixels in C order, as Flatten
        top = np.argsort(-np.abs(values))[:5]
        what = (f"class {_name(class_names, a.target, '')!s}" if classifier and pred.shape[1] > 1 else "output")
        notes.append(f"sample {i}, {what} (score {a.f_x:.3g} vs {a.f_baseline:.3g} at the training mean): " +
                     ", ".join(f"{_name(feature_names, j, 'x')} {values[j]:+.3g}" for j in top) +
                     f"; completeness error {100 * a.completeness_error:.2g}%")
        imgs.append(_figure(lambda ax, a=a, x=X[i], what=what: AttributionDisplay.from_attribution(
            a, image_shape, feature_names=feature_names, x=x, ax=ax, what=what), (4, 3.4) if image_shape else (5, 3.6)))
    section("attributions", "Example attributions (baseline: the training mean)",
            f'<div class="grid">{"".join(imgs)}</div>{_list(notes)}')
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
    class_names, feature_names : list, optional
        Used in the attributions, the per-class recall and the confusion matrix.
    n_examples : int, default 3
    X_train, y_train : arrays, optional
        The data the model trained on, as it saw them (after scaling): the data checks run on them
        (with the model's task, and ``X`` checked against them for leakage), and the attributions
        use their mean as the baseline. Without them, ``X``'s own mean and checks are used.
    data_source, target_name : str, optional
    hyperparameters : dict, optional
        Printed as text in the summary.
    diagnosis : Diagnosis, optional
        Defaults to ``diagnose(history)``.
    notes : list of str, optional
        What the table's preprocessing decided and found on the raw columns (``TablePreprocessor.notes``,
        the target's warnings), listed first under the data checks. Given, they replace the
        'heavy_tailed' check of the scaled features (judged on raw values, with their names).

    Returns
    -------
    str
        The path written.
    """

    atomic_write(path, build_report(model, history, X, y, **kwargs).encode("utf-8"))
    return str(path)
