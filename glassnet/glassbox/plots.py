"""Pictures of training, shaped like scikit-learn's Display objects.

Each display is built by a ``from_...`` class method that computes the numbers, and drawn by
``plot(ax=None)``, which returns the display with ``ax_`` and ``figure_`` set. Library code
never calls ``plt.show()``. matplotlib is imported only when a plot is drawn:
``pip install 'glassnet[report]'``.
"""

import numpy as np

from glassnet.glassbox.diagnostics import diagnose

__all__ = ["AttributionDisplay", "ConfusionMatrixDisplay", "DeadUnitsDisplay", "GradientFlowDisplay",
           "LearningCurveDisplay"]


def _axes(ax):
    """The given axes, or a new figure's (pyplot only when no axes are given)."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ModuleNotFoundError("glassnet's plots need matplotlib: pip install 'glassnet[report]'") from e
    return plt.subplots(figsize=(6, 4))[1]


class _Display:
    def _done(self, ax):
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LearningCurveDisplay(_Display):
    """Loss per epoch (training, clean training, validation) with the fit verdict marked."""

    def __init__(self, curves, diagnosis=None, baseline=None):
        self.curves, self.diagnosis, self.baseline = curves, diagnosis, baseline

    @classmethod
    def from_history(cls, history, diagnosis=None, ax=None):
        """Build from a History; ``diagnosis`` defaults to ``diagnose(history)``."""

        curves = {k: list(history[k]) for k in ("loss", "train_eval_loss", "val_loss") if history.get(k)}
        if diagnosis is None:
            diagnosis = diagnose(history)
        return cls(curves, diagnosis, getattr(history, "baseline_loss", None)).plot(ax)

    def plot(self, ax=None):
        ax = _axes(ax)
        style = {"loss": ("training loss (during epoch)", ":"), "train_eval_loss": ("training loss (clean)", "-"),
                 "val_loss": ("validation loss", "-")}
        for k, c in self.curves.items():
            ax.plot(np.arange(1, len(c) + 1), c, style[k][1], label=style[k][0])
        if self.baseline is not None:
            ax.axhline(self.baseline, color="grey", lw=0.8, ls="--", label=f"trivial baseline {self.baseline:.3g}")
        d = self.diagnosis
        if d is not None:
            if d.best_epoch is not None:
                ax.axvline(d.best_epoch, color="tab:green", lw=0.8, ls="--", label=f"best epoch {d.best_epoch}")
            ax.set_title(f"verdict: {d.verdict}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if any(min(c) > 0 for c in self.curves.values()) and max(max(c) for c in self.curves.values()) > \
                30 * min(min(c) for c in self.curves.values()):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        return self._done(ax)


class DeadUnitsDisplay(_Display):
    """Dead ReLU units per layer over the epochs (from an ActivationMonitor)."""

    def __init__(self, epochs, dead, units):
        self.epochs, self.dead, self.units = epochs, dead, units

    @classmethod
    def from_monitor(cls, monitor, ax=None):
        return cls(monitor.epochs, monitor.dead, monitor.units).plot(ax)

    def plot(self, ax=None):
        ax = _axes(ax)
        layers = sorted({i for d in self.dead for i in d})
        for i in layers:
            ax.plot(self.epochs, [100 * d.get(i, 0) / self.units[i] for d in self.dead], "o-", ms=3,
                    label=f"layer {i} ({self.units[i]} units)")
        ax.set_xlabel("epoch (0 = before training)")
        ax.set_ylabel("dead units (%)")
        ax.set_ylim(-2, 102)
        ax.set_title("dead ReLU units (never active on the monitoring sample)")
        if layers:
            ax.legend(fontsize=8)
        return self._done(ax)


class GradientFlowDisplay(_Display):
    """Gradient norm ||dL/dW|| (and update/weight ratio) per Dense layer over the epochs."""

    def __init__(self, epochs, grad_norm, update_ratio):
        self.epochs, self.grad_norm, self.update_ratio = epochs, grad_norm, update_ratio

    @classmethod
    def from_monitor(cls, monitor, ax=None):
        return cls(monitor.epochs, monitor.grad_norm, monitor.update_ratio).plot(ax)

    def plot(self, ax=None):
        ax = _axes(ax)
        layers = sorted({i for d in self.grad_norm for i in d})
        for i in layers:
            line, = ax.plot(self.epochs, [d[i] for d in self.grad_norm], "o-", ms=3, label=f"||dL/dW|| layer {i}")
            ax.plot(self.epochs, [d[i] for d in self.update_ratio], "x--", ms=3, color=line.get_color(),
                    label=f"update/weight layer {i}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title("gradient flow (solid) and update/weight ratio (dashed)")
        if layers:
            ax.legend(fontsize=7, ncol=2)
        return self._done(ax)


class ConfusionMatrixDisplay(_Display):
    """Counts of (true class, predicted class)."""

    def __init__(self, matrix, labels):
        self.confusion_matrix, self.display_labels = matrix, labels

    @classmethod
    def from_predictions(cls, y_true, y_pred, labels=None, ax=None):
        """``y_pred``: class labels of shape (n,) or scores/probabilities of shape (n, K)."""
        y_true = np.asarray(y_true).reshape(-1).astype(int)
        y_pred = np.asarray(y_pred)
        y_pred = y_pred.argmax(axis=1) if y_pred.ndim == 2 and y_pred.shape[1] > 1 else \
            (y_pred.reshape(-1) > 0.5).astype(int) if y_pred.dtype.kind == "f" else y_pred.reshape(-1)
        # every class gets a row, also those absent from this sample (a 20% split of 27 classes misses some)
        k = max(int(max(y_true.max(), y_pred.max())) + 1, len(labels) if labels is not None else 0)
        m = np.zeros((k, k), dtype=np.int64)
        np.add.at(m, (y_true, y_pred), 1)
        return cls(m, labels if labels is not None else list(range(k))).plot(ax)

    @classmethod
    def from_model(cls, model, X, y, labels=None, ax=None):
        return cls.from_predictions(y, model.predict(X), labels, ax)

    def plot(self, ax=None):
        ax = _axes(ax)
        m = self.confusion_matrix
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > m.max() / 2 else "black")
        ticks = np.arange(len(m))
        ax.set_xticks(ticks, [str(x) for x in self.display_labels], fontsize=7)
        ax.set_yticks(ticks, [str(x) for x in self.display_labels], fontsize=7)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"confusion matrix (accuracy {np.trace(m) / max(m.sum(), 1):.1%})")
        return self._done(ax)


class AttributionDisplay(_Display):
    """Attributions as bars (tabular inputs) or a heatmap over the image (``image_shape``)."""

    def __init__(self, values, image_shape=None, feature_names=None, title="attributions", image=None):
        self.values, self.image_shape, self.feature_names = np.asarray(values), image_shape, feature_names
        self.title, self.image = title, image

    @classmethod
    def from_attribution(cls, attribution, image_shape=None, feature_names=None, x=None, ax=None, what=None):
        """From an :class:`~glassnet.glassbox.attributions.Attribution` or a plain array of shape (n_features,).
        ``what`` names the explained output in the title ("class setosa", "output"; default "class <target>")."""
        values = getattr(attribution, "values", attribution)
        title = "attributions"
        if hasattr(attribution, "target"):
            title = (f"integrated gradients, {what or f'class {attribution.target}'}\n"
                     f"completeness error {100 * attribution.completeness_error:.2g}%")
        return cls(values, image_shape, feature_names, title, x).plot(ax)

    def plot(self, ax=None, top=15):
        ax = _axes(ax)
        v = self.values
        if self.image_shape is not None:
            lim = max(float(np.abs(v).max()), 1e-12)
            if self.image is not None:
                ax.imshow(np.asarray(self.image).reshape(self.image_shape), cmap="gray_r", alpha=0.35)
            im = ax.imshow(v.reshape(self.image_shape), cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.8)
            ax.figure.colorbar(im, ax=ax, fraction=0.046)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            order = np.argsort(-np.abs(v))[:top][::-1]
            names = self.feature_names if self.feature_names is not None else [f"x{i}" for i in range(len(v))]
            ax.barh(np.arange(len(order)), v[order], color=["tab:red" if v[i] > 0 else "tab:blue" for i in order])
            ax.set_yticks(np.arange(len(order)), [str(names[i]) for i in order], fontsize=7)
            ax.axvline(0, color="black", lw=0.6)
            ax.set_xlabel("attribution (red raises the output, blue lowers it)")
        ax.set_title(self.title, fontsize=9)
        return self._done(ax)
