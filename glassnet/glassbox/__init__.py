"""Layer 4, the glass box: fit verdicts, monitors, data checks, attributions, the backprop trace,
plots and the HTML report.

May import: the layers below it (backend, nn, optim, train); matplotlib lazily (extra ``report``).
"""

__all__ = []
