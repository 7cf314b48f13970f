"""Progress bars for training: a tqdm :class:`~glassnet.callbacks.Callback`.

Use it on a terminal; in logs, ``fit(verbose=1)`` prints one line per epoch instead.
Needs the optional ``tqdm`` package (``pip install 'glassnet[cli]'``).
"""

import math

from glassnet.train.callbacks import Callback

__all__ = ["TqdmProgress"]


class TqdmProgress(Callback):
    """Two tqdm bars: epochs, and the batches of the current epoch with the running loss.

    Parameters
    ----------
    file : file object, optional
        Where the bars go (tqdm's default: stderr).
    **tqdm_kwargs
        Passed to both bars (e.g. ``mininterval=0`` to redraw on every batch).

    Examples
    --------
    >>> model.fit(X, y, epochs=20, verbose=0, callbacks=[TqdmProgress()])   # doctest: +SKIP
    """

    def __init__(self, file=None, **tqdm_kwargs):
        try:
            import tqdm  # noqa: F401
        except ImportError as e:
            raise ModuleNotFoundError("TqdmProgress needs the 'tqdm' package: pip install 'glassnet[cli]' "
                              "(or pip install tqdm).") from e
        self.file = file
        self.kwargs = tqdm_kwargs
        self.epoch_bar = self.batch_bar = None

    def on_train_begin(self, state):
        from tqdm.auto import tqdm

        self.steps = math.ceil(len(state.X) / max(1, state.history.batch_size or len(state.X)))
        self.epoch_bar = tqdm(total=state.epochs, desc="epochs", unit="epoch", file=self.file, dynamic_ncols=True,
                              **self.kwargs)

    def on_epoch_begin(self, state):
        from tqdm.auto import tqdm

        self.batch_bar = tqdm(total=self.steps, desc=f"epoch {state.epoch + 1}", unit="batch", leave=False,
                              file=self.file, dynamic_ncols=True,
                              **self.kwargs)
        self.total, self.seen = 0.0, 0

    def on_batch_end(self, state):
        # The running loss is the mean of this epoch's batch losses so far: what the epoch's
        # 'loss' will be, and much steadier to read than the last batch's value.
        self.total += state.batch_loss
        self.seen += 1
        self.batch_bar.update(1)
        self.batch_bar.set_postfix(loss=f"{self.total / self.seen:.4f}", refresh=False)

    def on_epoch_end(self, state):
        self.batch_bar.close()
        shown = {k: f"{v[-1]:.4f}" for k, v in state.history.items() if v and k != "lr"}
        self.epoch_bar.set_postfix(shown, refresh=False)
        self.epoch_bar.update(1)

    def on_train_end(self, state):
        if self.batch_bar is not None:
            self.batch_bar.close()
        if self.epoch_bar is not None:
            self.epoch_bar.close()
