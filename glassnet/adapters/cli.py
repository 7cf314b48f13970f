"""The ``glassnet`` command: train, evaluate, predict, diagnose, explain, export, summary.

Parsing and printing only; the work is done by the library (tables: :mod:`glassnet.adapters.tabular`).
Run ``glassnet <command> --help`` for the options; with no arguments, ``glassnet train`` trains an
MLP on scikit-learn's digits and writes ``model.safetensors`` and ``report.html``.

Model files are glassnet safetensors files. The CLI stores what it needs to reuse a model in their
metadata (``glassnet.save(..., metadata={"cli": ...})``): the task and why it was chosen, the class
labels, the fitted table preprocessing (JSON, see ``TablePreprocessor.to_dict``), the target column,
fingerprints of the training rows and the training history. The network takes the standardized
encoded columns; ``glassnet.adapters.tabular.TabularModel.load(path).predict(frame)`` maps raw rows
to predictions, as ``predict``, ``evaluate``, ``explain`` and the ONNX export do.

Bad input (a missing file, an unknown column, a date column, an unreadable model file) ends with
exit status 1 and one line on stderr; usage errors exit with 2. Warnings (a surprising task, drift at
predict time, training rows in the evaluation data) go to stderr as ``glassnet CMD: warning: ...``.
"""

import argparse
import dataclasses
import math
import os
import sys

import numpy as np

from glassnet.adapters import compiled, compiled_conv, datasets, distributed, timeseries
from glassnet.adapters.images import image_cnn
from glassnet.adapters.progress import TqdmProgress
from glassnet.adapters.tabular import (
    TablePreprocessor,
    TabularModel,
    fold_target_scaling,
    infer_task,
    kfold_indices,
    read_table,
    row_fingerprints,
    scores,
    warn_surprising_task,
)
from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import GlassnetError, ValidationError
from glassnet.files.onnx import quantize_dynamic_int8
from glassnet.files.serialization import load, save
from glassnet.glassbox.achievable import Achievable
from glassnet.glassbox.attributions import integrated_gradients
from glassnet.glassbox.diagnostics import CleanTrainLoss, diagnose, history_from_record, history_record
from glassnet.glassbox.monitors import ActivationMonitor, GradientMonitor, GradientNoise
from glassnet.glassbox.report import write_report
from glassnet.glassbox.verify import FitSpec
from glassnet.optim.optimizers import SGD, Adam, RMSprop
from glassnet.train.callbacks import EarlyStopping
from glassnet.train.data import train_val_split
from glassnet.train.fastconv import is_convolutional
from glassnet.train.model import mlp

__all__ = ["CLIError", "build_parser", "main", "progress"]

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
#: ``--epochs auto``: enough epochs for about this many updates (at least MIN_EPOCHS, at most MAX_EPOCHS).
TARGET_UPDATES, MIN_EPOCHS, MAX_EPOCHS = 1000, 30, 1000
#: Default dropout of regression models (see :func:`default_dropout`).
REGRESSION_DROPOUT = 0.2


class CLIError(ValidationError):
    """A user error found by the CLI itself (a bad column, a bad file name...)."""


def warn(args, message):
    print(f"glassnet {args.command}: warning: {message}", file=sys.stderr)


# -- data -----------------------------------------------------------------------------------
def _dataset_key(source):
    key = source.strip().lower().replace("-", "_")
    return key if key in datasets.NAMES and not os.path.splitext(source)[1] else None


def load_frame(args, split):
    """(frame of features [+ target], dataset targets or None, info) for ``args.data``."""
    import pandas as pd

    source = args.data
    key = _dataset_key(source)
    if key is not None:
        kind = split if key not in ("digits", "iris", "wine", "breast_cancer", "diabetes") else None
        data = datasets.load(key, kind=kind, path=args.data_path)
        frame = pd.DataFrame(data.X, columns=[f"x{i}" for i in range(data.X.shape[1])])
        labels = list(data.target_names) if data.target_names else None
        return frame, data.y, {"dataset": key, "target_names": labels, "task": data.task}
    if os.path.splitext(source)[1].lower() not in TABLE_SUFFIXES:
        raise CLIError(f"{source!r} is neither a dataset name ({', '.join(datasets.NAMES)}) nor a "
                       f"{'/'.join(TABLE_SUFFIXES)} file.")
    frame = read_table(source, sep=args.sep)
    frame.columns = [str(c) for c in frame.columns]
    return frame, None, {"file": os.path.abspath(source)}


def _select(frame, args, keep=()):
    """Apply --features / --exclude to the columns read (``keep``: target and id columns stay)."""
    asked = [*(args.features or []), *(args.exclude or [])]
    unknown = [c for c in asked if c not in frame.columns]
    if unknown:
        raise CLIError(f"column(s) {', '.join(map(repr, unknown))} given to --features/--exclude are not in "
                       f"{args.data} (columns: {_columns(frame)}).")
    if args.features:
        frame = frame[[c for c in frame.columns if c in args.features or c in keep]]
    return frame.drop(columns=[c for c in (args.exclude or []) if c not in keep])


def _columns(frame):
    cols = list(map(str, frame.columns))
    return ", ".join(cols[:20]) + (" ..." if len(cols) > 20 else "")


def _split_target(frame, y_ds, target, args, out):
    """(features frame, target values) with rows lacking a target dropped (and said so)."""
    if y_ds is not None:
        return frame, np.asarray(y_ds)
    if target is None:
        raise CLIError(f"give --target COLUMN: which column of {args.data} to predict (columns: {_columns(frame)}).")
    if target not in frame.columns:
        near = [str(c) for c in frame.columns if str(c).lower() == str(target).lower()]   # names are case-sensitive
        hint = ("; the file has a single column: is its delimiter unusual? give it with --sep"
                if frame.shape[1] == 1 else f"; did you mean {near[0]!r}?" if near else "")
        raise CLIError(f"column {target!r} is not in {args.data} (columns: {_columns(frame)}){hint}.")
    missing = frame[target].isna().to_numpy()
    if missing.all():
        raise CLIError(f"the target column {target!r} of {args.data} has no values.")
    if missing.any() and not args.quiet:
        print(f"note: {int(missing.sum())} row(s) without a {target!r} value left out", file=out)
    frame = frame[~missing].reset_index(drop=True)
    return frame.drop(columns=[target]), frame[target].to_numpy()


# -- progress -----------------------------------------------------------------------------------
def progress(quiet):
    """(callbacks, verbose): tqdm bars on a terminal, one line per epoch otherwise, nothing if quiet."""
    if quiet:
        return [], 0
    if sys.stderr.isatty():
        try:
            return [TqdmProgress()], 0
        except ImportError:
            pass
    return [], 1


# -- training -------------------------------------------------------------------------------------
def choose_task(args, y, info):
    """(task, reason): the --task given, the dataset's, or inferred from the target's values."""
    if args.task != "auto":
        return args.task, "--task"
    if info.get("task"):
        return info["task"], f"the {info['dataset']} dataset"
    return infer_task(y)


def encode_target(task, y, info, target):
    """(targets for fit, classes or None)."""
    if task == "classification":
        if info.get("target_names"):
            return np.asarray(y, dtype=np.int64), [str(c) for c in info["target_names"]]
        text = np.array([str(v) for v in y], dtype=object)
        if np.asarray(y).dtype.kind in "iufb":
            values = np.asarray(y)
            order = np.unique(values)                         # numbers: classes in numeric order
            classes = [str(v.item() if not float(v).is_integer() else int(v)) for v in order]
            codes = np.searchsorted(order, values)
        else:
            uniq, codes = np.unique(text, return_inverse=True)
            classes = [str(c) for c in uniq]
        if len(classes) < 2:
            raise CLIError(f"the target has a single class ({classes[0]!r}); a classifier needs at least 2.")
        return codes.astype(np.int64), classes
    if np.asarray(y).dtype.kind not in "iufb":
        raise CLIError(f"the regression target {target!r} is not numeric; use --task classification.")
    return np.asarray(y, dtype=np.float64), None


def schedule(args, n_rows, task):
    """(epochs, early-stopping patience or None, the choice in words) for ``n_rows`` training rows.

    ``--epochs auto``: enough epochs for about TARGET_UPDATES updates (MIN_EPOCHS to MAX_EPOCHS), so
    iris (96 rows to fit) gets as many updates as digits. Early stopping (best epoch kept) is on by
    default for regression only: measured over seeds 0-2, it raised the test R^2 of diabetes from
    0.07-0.28 to 0.37-0.44 and of penguins' body mass from 0.82-0.83 to 0.81-0.87, while on iris and
    wine classifiers it stopped at the epoch of lowest validation cross-entropy, well before the
    best accuracy (iris seed 0: 0.77 instead of 0.90): with a few dozen validation rows that epoch is noise.
    """
    check_scalar(args.batch_size, "--batch-size", int, min_val=1, caller="glassnet train")
    # A bad --validation-split is fit's to report; here it only sizes the epochs.
    n_fit = max(1, int(round(n_rows * (1 - min(max(args.validation_split, 0.0), 0.9)))))
    per_epoch = math.ceil(n_fit / args.batch_size)
    auto = args.epochs is None
    epochs = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_UPDATES / per_epoch)))) if auto else args.epochs
    stop = args.early_stopping if args.early_stopping is not None else (task == "regression"
                                                                          and args.validation_split > 0)
    patience = None
    if stop:
        patience = max(args.patience, epochs // 10) if auto else args.patience
    how = f"auto: about {TARGET_UPDATES} updates of {per_epoch} batch(es) per epoch" if auto else "--epochs"
    why = f"{epochs} ({how}" + (f"; early stopping on val_loss, patience {patience}, best epoch kept)" if patience
                                else ")")
    return epochs, patience, why


def default_dropout(args, task):
    """``--dropout``, or its default: REGRESSION_DROPOUT for regression, 0 for classification.

    Measured over seeds 0-7 (test R^2, mean / lowest): penguins' body mass 0.831 / 0.724 without
    dropout, 0.845 / 0.796 with 0.2; diabetes 0.414 / 0.228 and 0.469 / 0.364. A 128-64 network
    overfits a few hundred rows of a regression even with early stopping.
    """
    if args.dropout is not None:
        return args.dropout
    return REGRESSION_DROPOUT if task == "regression" else 0.0


def train_network(args, X, y, task, n_out, rng, *, quiet, glassbox=True, class_weight=None):
    """Build the MLP (or ``--arch cnn``'s network) and fit it on the prepared inputs; returns (model, history)."""
    model = arch_cnn(args, n_out) if args.arch == "cnn" else mlp(
        X.shape[1], args.hidden, n_out, activation=args.activation if len(args.activation) > 1
        else args.activation[0], output="softmax" if task == "classification" else "linear",
        dropout=default_dropout(args, task), l2=args.l2, seed=args.seed)
    optimizer = {"sgd": lambda: SGD(lr=args.lr, momentum=args.momentum, nesterov=False),
                 "adam": lambda: Adam(lr=args.lr), "rmsprop": lambda: RMSprop(lr=args.lr)}[args.optimizer]()
    callbacks, verbose = progress(quiet)
    if glassbox:
        # The glass box is on by default: it costs well under 1% of an epoch (BENCHMARKS.md).
        callbacks[:0] = [Achievable(seed=args.seed), CleanTrainLoss(seed=args.seed), ActivationMonitor(seed=args.seed),
                         GradientMonitor(), GradientNoise(seed=args.seed)]
    epochs, patience, _ = schedule(args, len(X), task)
    if patience is not None:
        callbacks.append(EarlyStopping("val_loss", patience=patience, restore_best=True))
    if distributed.is_distributed():
        d = distributed.setup(model, optimizer, callbacks, verbose=verbose)
        optimizer, callbacks, verbose = d.optimizer, d.callbacks, d.verbose
    with compiled.by_default(), compiled_conv.by_default(is_convolutional(model)):  # GLASSNET_COMPILED=0: off
        history = model.fit(X, y, optimizer=optimizer, epochs=epochs, batch_size=args.batch_size,
                            validation_split=args.validation_split, seed=rng, callbacks=callbacks, verbose=verbose,
                            class_weight=class_weight)
    return model, history


def model_dropout(args):
    return 0.4 if args.dropout is None else args.dropout


def arch_cnn(args, n_out):
    """``--arch cnn``: glassnet.adapters.images' network for the data set, on its raw pixels (no --scale:
    BatchNorm normalizes); --hidden, --activation and --l2 are the MLP's and do not apply."""
    if args.verify or args.cv:
        raise CLIError("--verify and --cv retrain MLPs; leave them out with --arch cnn.")
    return image_cnn(_dataset_key(args.data), n_out, dropout=model_dropout(args), seed=args.seed)


def fit_spec(args, n_in, n_out, task, n_rows):
    """The FitSpec that retrains what ``train`` trained (for ``--verify``), from its arguments."""
    epochs, patience, _ = schedule(args, n_rows, task)
    activation = args.activation if len(args.activation) > 1 else args.activation[0]
    return FitSpec(n_in=n_in, hidden=tuple(args.hidden), n_out=n_out, activation=activation,
                   output="softmax" if task == "classification" else "linear", dropout=default_dropout(args, task),
                   l2=args.l2, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, epochs=epochs,
                   batch_size=args.batch_size, seed=args.seed, early_stopping=patience is not None,
                   patience=patience or 5)


def cli_diagnosis(history, lr, scaled=False, **kwargs):
    """The verdict with its remedies written as ``glassnet train`` flags (``--lr 0.0001``, ``--hidden 256,256``).
    With ``scaled`` (the run standardized its inputs) "leave out --no-scale" is no remedy and is dropped."""
    d = diagnose(history, **kwargs)
    if scaled:
        d.remedy_ids = [i for i in d.remedy_ids if i != "standardize"]
    return d.phrased("cli", lr=lr, epochs=len(history.get("loss") or []) or None)


def verify_verdict(args, history, spec, X, y, out):
    """``--verify``: the verdict checked by counterfactual reruns (FitSpec probes), printed with its numbers."""
    d = cli_diagnosis(history, args.lr, getattr(args, "scale", False), verify=True, spec=spec, X=X, y=y,
                      budget=args.verify_budget,
                      progress=None if args.quiet else (lambda line: print(f"  {line}", file=out)))
    print(d, file=out)
    return d


def _fit_table(args, Xf, rows):
    return TablePreprocessor(max_categories=args.max_categories, standardize=args.scale).fit(
        Xf, rows=rows, features=args.features,            # --exclude: already dropped by _select
        id_columns=[args.id_column] if args.id_column else ())


def _prepare_y(task, y):
    """Regression targets are standardized for training: (y_std, y_mean, y_scale)."""
    if task != "regression":
        return y, None, None
    y_mean, y_scale = float(y.mean()), float(y.std()) or 1.0
    return ((y - y_mean) / y_scale).astype(np.float32), y_mean, y_scale


def _class_weight(args, task):
    """``--class-weight balanced``: the training loop weighs class c by n / (K n_c) (fit(class_weight=))."""
    if args.class_weight is not None and task != "classification":
        raise CLIError("--class-weight balanced is for classification; this target is a regression.")
    return args.class_weight


def cross_validate(args, Xf, y, task, classes, train_rows, out):
    """K-fold metrics on the training rows (each fold refits its own preprocessing): {metric: [values]}."""
    rng = np.random.default_rng(args.seed)
    labels = y[train_rows] if task == "classification" else None
    results = {}
    for i, (tr, va) in enumerate(kfold_indices(len(train_rows), args.cv, rng, labels), start=1):
        fit_rows, val_rows = train_rows[tr], train_rows[va]
        pre = _fit_table(args, Xf, fit_rows)
        y_fit, y_mean, y_scale = _prepare_y(task, y[fit_rows])
        model, _ = train_network(args, pre.transform(Xf.iloc[fit_rows]).astype(np.float32), y_fit, task,
                                 len(classes) if classes else 1, np.random.default_rng(args.seed + i),
                                 quiet=True, glassbox=False, class_weight=_class_weight(args, task))
        if y_mean is not None:
            fold_target_scaling(model, y_mean, y_scale)
        result = scores(model, pre.transform(Xf.iloc[val_rows]).astype(np.float32), y[val_rows], task)
        for k, v in result.items():
            results.setdefault(k, []).append(v)
        print(f"cv fold {i}/{args.cv}: " + _scores(result) + f"  ({len(val_rows)} rows)", file=out)
    print(f"cv {args.cv}-fold: " + "  ".join(f"{k} {np.mean(v):.4g} +/- {np.std(v):.2g}" for k, v in results.items()),
          file=out)
    return results


def train_series(args, out, is_root):
    """``glassnet train`` on time series: a ``.ts`` file (UCR/UEA format) or a shipped UCR set's name.

    The test split is the set's own (a name, or NAME_TEST.ts beside NAME_TRAIN.ts), else --test-split
    of the training series (stratified). Missing values are interpolated, each channel is standardized
    with the training statistics, and ``--arch`` picks the network of
    :func:`glassnet.adapters.timeseries.series_classifier` (--hidden: its widths); recurrent networks
    train with gradient clipping at global norm 1 and stop at each series' end (padding masked).
    """
    if args.arch in ("mlp", "cnn"):
        raise CLIError(f"--arch {args.arch} is for tables and images; for time series ({args.data}) use --arch "
                       f"{', '.join(timeseries.ARCHS)} (default cnn1d).")
    train, test = timeseries.read_series(args.data)
    rng = np.random.default_rng(args.seed)
    if test is None and args.test_split > 0:
        fit_rows, test_rows = train_val_split(len(train.y), args.test_split, rng, train.y)
        pick = lambda d, r: dataclasses.replace(d, X=d.X[r], y=d.y[r], lengths=d.lengths[r])  # noqa: E731
        train, test = pick(train, np.sort(fit_rows)), pick(train, np.sort(test_rows))
    if test is not None and tuple(test.target_names) != tuple(train.target_names):
        raise CLIError(f"the test series' class labels {test.target_names} differ from the training ones "
                       f"{train.target_names}.")
    sets = [dataclasses.replace(d, X=timeseries.fill_missing(d.X, d.lengths)) for d in (train, test) if d]
    T = max(d.X.shape[1] for d in sets)
    X, *X_test = (np.pad(x, ((0, 0), (0, T - x.shape[1]), (0, 0)), constant_values=train.pad_value)
                  for x in timeseries.standardize(*sets))
    variable = any(int(d.lengths.min()) < T for d in sets)
    model = timeseries.series_classifier(args.arch or "cnn1d", X.shape[2], train.n_classes, args.hidden,
                                         mask_value=train.pad_value if variable else None, seed=args.seed)
    epochs, patience, why = schedule(args, len(X), "classification")
    callbacks, verbose = progress(args.quiet)
    if patience is not None:
        callbacks.append(EarlyStopping("val_loss", patience=patience, restore_best=True))
    if not args.quiet:
        print(f"data: {args.data}: {len(X)} training series of {T} steps, {X.shape[2]} channel(s), "
              f"{train.n_classes} classes" + (" (variable lengths: padded and masked)" if variable else ""), file=out)
        print(f"epochs: {why}", file=out)
    optimizer = Adam(args.lr, clip_norm=None if (args.arch or "cnn1d") == "cnn1d" else 1.0)
    if distributed.is_distributed():
        d = distributed.setup(model, optimizer, callbacks, verbose=verbose)
        optimizer, callbacks, verbose = d.optimizer, d.callbacks, d.verbose
    history = model.fit(X, train.y, optimizer=optimizer, epochs=epochs,
                        batch_size=args.batch_size, validation_split=args.validation_split, seed=rng,
                        callbacks=callbacks, verbose=verbose)
    result = {} if not X_test else {"accuracy": float(model.evaluate(X_test[0], test.y)["accuracy"])}
    if not is_root:
        return 0
    if not args.quiet:
        print(model.summary(), file=out)
        print(diagnose(history), file=out)
        if result:
            print(f"test accuracy {result['accuracy']:.4f}  ({len(test.y)} series)", file=out)
    mask = train.mask.astype(bool)
    meta = {"task": "classification", "classes": list(train.target_names), "source": {"series": args.data},
            "series": {"arch": args.arch or "cnn1d", "steps": T, "channels": int(X.shape[2]),      # filled: no NaN
                       "mean": sets[0].X[mask].mean(axis=0).tolist(), "std": sets[0].X[mask].std(axis=0).tolist(),
                       "pad_value": train.pad_value}, "history": history_record(history),
            "test": result, "args": {k: v for k, v in vars(args).items() if k != "func"}}
    save(model, args.out, metadata={"cli": _jsonable(meta)})
    print(f"model written to {args.out}", file=out)
    return 0


def cmd_train(args, out):
    # Under mpirun/mpiexec every rank runs this command on the same data and seed; the ranks
    # split each global batch, and only rank 0 prints and writes files.
    is_root = not distributed.is_distributed() or distributed.rank_and_size()[0] == 0
    if not is_root:
        out, args.quiet, args.report = open(os.devnull, "w"), True, False
    if os.path.splitext(args.data)[1].lower() == ".ts" or args.data.lower() in map(str.lower, timeseries.UCR_NAMES):
        return train_series(args, out, is_root)
    if args.arch in timeseries.ARCHS:
        raise CLIError(f"--arch {args.arch} is for time series (a .ts file or one of "
                       f"{', '.join(timeseries.UCR_NAMES)}); {args.data!r} is neither: use --arch mlp or cnn.")
    args.arch = args.arch or "mlp"
    if args.arch == "cnn":
        image_cnn(_dataset_key(args.data), 1)           # not an image data set: said before any loading
        args.scale = False                              # the raw pixels: BatchNorm normalizes
    frame, y_ds, info = load_frame(args, "train")
    if y_ds is None and args.target is None:
        raise CLIError(f"give --target COLUMN: which column of {args.data} to predict (columns: {_columns(frame)}).")
    frame = _select(frame, args, keep=[c for c in (args.target, args.id_column) if c])
    Xf, y_raw = _split_target(frame, y_ds, args.target, args, out)
    task, reason = choose_task(args, y_raw, info)
    y, classes = encode_target(task, y_raw, info, args.target)
    if not args.quiet:
        print(f"task: {task} ({reason})", file=out)
    target_notes = [] if "dataset" in info else warn_surprising_task(task, y_raw, classes and len(classes), Xf)
    for message in target_notes:
        warn(args, message)
    rng = np.random.default_rng(args.seed)
    labels = y if task == "classification" else None
    test_frame = None
    if info.get("dataset") in ("fashion_mnist", "mnist1d", "mnist"):
        test_frame, yte, _ = load_frame(args, "test")
        test_y, train_rows = np.asarray(yte), np.arange(len(Xf))
    elif args.test_split > 0:
        train_rows, test_rows = train_val_split(len(Xf), args.test_split, rng, labels)
        train_rows = np.sort(train_rows)
        test_frame, test_y = Xf.iloc[test_rows], y[test_rows]
    else:
        train_rows = np.arange(len(Xf))
    pre = _fit_table(args, Xf, train_rows)
    if not args.quiet:
        for note in pre.notes:
            print(f"note: {note}", file=out)
    cv = cross_validate(args, Xf, y, task, classes, train_rows, out) if args.cv else None

    X = pre.transform(Xf.iloc[train_rows]).astype(np.float32)
    y_fit, y_mean, y_scale = _prepare_y(task, y[train_rows])
    if not args.quiet:
        print(f"data: {args.data}: {len(X)} training rows, {len(pre.used_columns)} feature columns "
              f"({pre.n_encoded} encoded), task {task}" + (f", {len(classes)} classes" if classes else ""), file=out)
        arch = "network: --arch cnn (raw pixels); " if args.arch == "cnn" else ""
        print(f"epochs: {schedule(args, len(X), task)[2]}; {arch}"
              f"dropout {default_dropout(args, task) if args.arch == 'mlp' else model_dropout(args):g}"
              + (" (regression default)" if args.dropout is None and task == "regression" else ""), file=out)
    model, history = train_network(args, X, y_fit, task, len(classes) if classes else 1, rng, quiet=args.quiet,
                                   class_weight=_class_weight(args, task))
    if y_mean is not None:
        fold_target_scaling(model, y_mean, y_scale)
    if not is_root:
        return 0
    diagnosis = cli_diagnosis(history, args.lr, getattr(args, "scale", False)) if not args.verify else None
    if not args.quiet:
        print(model.summary(), file=out)
        if not args.verify:
            print(diagnosis, file=out)
    if args.verify:
        print("verifying the verdict by retraining (--verify) ...", file=out)
        diagnosis = verify_verdict(args, history, fit_spec(args, X.shape[1], len(classes) if classes else 1, task,
                                                           len(X)), X, y_fit, out)
    result, test = {}, None
    if test_frame is not None:
        test = (pre.transform(test_frame).astype(np.float32), test_y)
        result = scores(model, *test, task)
        if not args.quiet:
            print("test " + _scores(result) + f"  ({len(test_y)} samples)", file=out)
    meta = {"task": task, "task_reason": reason, "classes": classes, "target": args.target,
            "id_column": args.id_column, "source": info, "preprocessing": pre.to_dict(),
            "feature_names": pre.encoded_names, "columns": pre.used_columns,
            "target_scaling": None if y_mean is None else {"mean": y_mean, "scale": y_scale, "folded": True},
            "training_rows": {"hash": "pandas.util.hash_pandas_object/float64+text", "columns": pre.used_columns,
                              "fingerprints": sorted(set(row_fingerprints(Xf.iloc[train_rows], pre.used_columns))),
                              "with_target": sorted(set(row_fingerprints(Xf.iloc[train_rows], pre.used_columns,
                                                                         y[train_rows])))},
            "history": history_record(history), "test": result,
            "cv": None if cv is None else {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": v}
                                           for k, v in cv.items()},
            "args": {k: v for k, v in vars(args).items() if k != "func"}}
    save(model, args.out, metadata={"cli": _jsonable(meta)})
    print(f"model written to {args.out}", file=out)
    if args.report:
        data = test if test is not None else (X, y_fit)
        kwargs = {"title": f"glassnet: {args.data}", "class_names": classes}
        shapes = {"digits": (8, 8), "fashion_mnist": (28, 28), "mnist": (28, 28)}
        if info.get("dataset") in shapes:
            kwargs["image_shape"] = shapes[info["dataset"]]
        kwargs.update(X_train=X, y_train=y_fit, feature_names=pre.encoded_names, data_source=str(args.data),
                      diagnosis=diagnosis, notes=pre.notes + target_notes, target_name=args.target,
                      hyperparameters={k: v for k, v in vars(args).items() if k in (
                          "hidden", "activation", "optimizer", "lr", "batch_size", "l2", "dropout", "seed")})
        write_report(args.report, model, history, data[0], data[1], **kwargs)
        print(f"report written to {args.report}", file=out)
    return 0


def _scores(result):
    """Metrics to 4 significant digits: an MSE of 2e10 or 5e-6 stays readable (not 0.0000)."""
    return "  ".join(f"{k} {v:.4g}" for k, v in result.items() if v is not None)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# -- using a model ----------------------------------------------------------------------------------
def load_model(path):
    """(TabularModel, the CLI metadata) of a model file written by ``glassnet train``."""
    model, meta = load(path, with_metadata=True)
    meta = meta.get("cli") or {}
    if "series" in meta:                          # trained on time series: the model itself
        return model, meta
    if not isinstance(meta.get("preprocessing"), dict):
        raise CLIError(f"{path} holds no table preprocessing: it was not written by this glassnet's "
                       "`glassnet train`; retrain it (or use glassnet.load in Python).")
    return TabularModel(model, TablePreprocessor.from_dict(meta["preprocessing"]), meta.get("task"),
                        meta.get("classes")), meta


def model_data(args, meta, tm, *, need_y):
    """(features frame, encoded targets or None) for a saved model, after the schema and drift check."""
    frame, y_ds, info = load_frame(args, args.split)
    target = args.target or (meta.get("target") if "dataset" not in info else None)
    id_column = getattr(args, "id_column", None) or meta.get("id_column")
    known = [c for c in (target, id_column) if c]
    frame = _select(frame, args, keep=known)
    if need_y:
        if y_ds is None and target is None:
            raise CLIError("give --target COLUMN: the model file does not name its target column.")
        Xf, y = _split_target(frame, y_ds, target, args, sys.stdout)
    else:
        Xf, y = (frame.drop(columns=[target]) if target in frame.columns else frame), None
    tm.preprocessor.encode(Xf.iloc[:0])          # missing columns: one error naming them all
    for finding in tm.preprocessor.check(Xf, known=known):
        warn(args, finding.message)
    if y is not None and tm.task == "classification":
        if info.get("target_names"):
            y = np.asarray(y, dtype=np.int64)
        else:
            lookup = {c: i for i, c in enumerate(tm.classes)}
            text = [str(v.item() if isinstance(v, np.generic) else v) for v in y]
            text = [str(int(float(v))) if _integral_text(v) and v not in lookup else v for v in text]
            unknown = sorted(set(text) - set(lookup))
            if unknown:
                raise CLIError(f"labels {unknown[:5]} in {args.data} were not seen in training "
                               f"(classes: {tm.classes[:10]}).")
            y = np.array([lookup[v] for v in text], dtype=np.int64)
    elif y is not None:
        y = np.asarray(y, dtype=np.float64)
    return Xf, y


def _integral_text(v):
    try:
        return float(v).is_integer()
    except ValueError:
        return False


def cmd_evaluate(args, out):
    tm, meta = load_model(args.model)
    if "series" in meta:
        X, y = timeseries.model_inputs(args.data, meta)
        print(f"{args.data}: {len(X)} series  accuracy {tm.evaluate(X, y)['accuracy']:.4f}", file=out)
        return 0
    Xf, y = model_data(args, meta, tm, need_y=True)
    X = tm.inputs(Xf)
    result = scores(tm.model, X, y, tm.task)
    print(f"{args.data}: {len(X)} samples  " + _scores(result), file=out)
    rows = meta.get("training_rows") or {}
    stored = rows.get("with_target") or rows.get("fingerprints")         # older files: features only
    if stored:
        seen = np.isin(np.array(row_fingerprints(Xf, tm.preprocessor.used_columns, y if "with_target" in rows
                                                 else None)), np.array(stored))
        if seen.any():
            warn(args, f"{int(seen.sum())} of {len(Xf)} rows were used to train this model; their scores are "
                       "optimistic. Scores on the rows it never saw follow.")
            if (~seen).any():
                unseen = scores(tm.model, X[~seen], y[~seen], tm.task)
                print(f"{args.data}, rows not used in training: {int((~seen).sum())} samples  "
                      + _scores(unseen), file=out)
            else:
                warn(args, "every row was used in training: no unseen rows to score.")
    return 0


def cmd_predict(args, out):
    import pandas as pd

    tm, meta = load_model(args.model)
    if "series" in meta:                          # one row per series, in the file's order
        pred, tm = tm.predict(timeseries.model_inputs(args.data, meta)[0]), argparse.Namespace(task="classification",
                                                                               classes=meta["classes"])
    if args.proba and tm.task != "classification":
        raise CLIError("--proba gives class probabilities, but this model is a regression; leave --proba out.")
    if "series" not in meta:
        pred = tm.predict_proba(model_data(args, meta, tm, need_y=False)[0])
    id_column = args.id_column or meta.get("id_column")
    frame = pd.DataFrame()
    if id_column and "series" not in meta:
        raw = load_frame(args, args.split)[0]
        if id_column not in raw.columns:
            raise CLIError(f"the id column {id_column!r} is not in {args.data} (columns: {_columns(raw)}).")
        frame[id_column] = raw[id_column].to_numpy()
    elif args.id_column:                           # a .ts file has no columns: the series' place in the file (from 0)
        frame[args.id_column] = np.arange(len(pred))
    if tm.task == "classification":
        frame["prediction"] = [tm.classes[i] for i in pred.argmax(axis=1)]
        if args.proba:
            for i, c in enumerate(tm.classes):
                frame[f"proba_{c}"] = pred[:, i]
    else:
        frame["prediction"] = pred.reshape(len(pred), -1)[:, 0]
    if args.out == "-":
        frame.to_csv(out, index=False)
    else:
        frame.to_csv(args.out, index=False)
        print(f"{len(frame)} predictions written to {args.out}", file=out)
    return 0


def cmd_diagnose(args, out):
    _, meta = load(args.model, with_metadata=True)
    cli = meta.get("cli") or {}
    saved = cli.get("history")
    if not saved or not saved.get("curves", {}).get("loss"):
        raise CLIError(f"{args.model} stores no training history (it was not trained by `glassnet train`).")
    history = history_from_record(saved)
    if not args.verify:
        print(cli_diagnosis(history, cli.get("args", {}).get("lr"), cli.get("args", {}).get("scale", False)), file=out)
        return 0
    # --verify: retrain from the saved arguments on the rows the model trained on (found by their fingerprints).
    trained = argparse.Namespace(**{**cli.get("args", {}), "quiet": args.quiet, "verify_budget": args.verify_budget})
    args.data = args.data or trained.data
    for key in ("target", "features", "exclude", "id_column", "sep", "data_path"):
        if getattr(args, key, None) is None:
            setattr(args, key, getattr(trained, key, None))
    tm, meta = load_model(args.model)
    if "series" in meta:
        raise CLIError(f"--verify retrains table models; {args.model} was trained on time series. Leave out --verify "
                       "for the verdict on its training curves.")
    Xf, y = model_data(args, meta, tm, need_y=True)
    stored = (cli.get("training_rows") or {}).get("fingerprints") or []
    rows = np.isin(np.array(row_fingerprints(Xf, tm.preprocessor.used_columns)), np.array(stored))
    if not rows.any():
        raise CLIError(f"none of the rows of {args.data} were used to train {args.model}: --verify retrains on the "
                       "training data; give the file the model was trained on.")
    X, y = tm.inputs(Xf[rows]), y[rows]
    scaling = cli.get("target_scaling")
    if scaling:
        y = ((np.asarray(y, dtype=np.float64) - scaling["mean"]) / scaling["scale"]).astype(np.float32)
    spec = fit_spec(trained, X.shape[1], len(tm.classes) if tm.classes else 1, tm.task, len(X))
    print(f"verifying the verdict by retraining on the {int(rows.sum())} training rows of {args.data} ...", file=out)
    verify_verdict(trained, history, spec, X, y, out)
    return 0


def cmd_explain(args, out):
    tm, meta = load_model(args.model)
    Xf, _ = model_data(args, meta, tm, need_y=False)
    X = tm.inputs(Xf)
    pre = tm.preprocessor
    groups = pre.groups
    for row in args.rows:
        if not 0 <= row < len(X):
            raise CLIError(f"row {row} is out of range: {args.data} has {len(X)} rows (0..{len(X) - 1}).")
        # Baseline: the average training row (zeros after standardization); attributions of a
        # column's encoded parts (value, missing indicator, one-hot levels) add up to the column's.
        attr = integrated_gradients(tm.model, X[row], baseline=np.zeros(X.shape[1]))
        what = f"P({tm.classes[attr.target]})" if tm.classes else "prediction"
        print(f"row {row}: {what} = {attr.f_x:.4f}; at the average training row {attr.f_baseline:.4f}; "
              f"attributions (integrated gradients, largest first):", file=out)
        per_column = {name: float(np.sum(attr.values[idx])) for name, idx in groups.items()}
        for name in sorted(per_column, key=lambda n: -abs(per_column[n]))[: args.top]:
            print(f"  {name:>20}  {per_column[name]:+.4f}  (value {Xf[name].iloc[row]!s:.12})", file=out)
        print(f"  completeness error {100 * attr.completeness_error:.2g}% ({attr.steps} steps)", file=out)
    return 0


def cmd_export(args, out):
    tm, _ = load_model(args.model)
    dest = args.out or os.path.splitext(args.model)[0] + ".onnx"
    proto = tm.to_onnx(dest)
    inputs = ", ".join(f"{i.name!r}" for i in proto.graph.input)
    outputs = ", ".join(f"{o.name!r}" for o in proto.graph.output)
    print(f"ONNX model written to {dest} (raw rows in: {inputs}; out: {outputs})", file=out)
    if args.int8:
        qdest = os.path.splitext(dest)[0] + ".int8.onnx"
        quantize_dynamic_int8(proto, qdest)
        print(f"int8 model written to {qdest} ({os.path.getsize(qdest):,} bytes vs {os.path.getsize(dest):,})",
              file=out)
    return 0


def cmd_summary(args, out):
    model, meta = load(args.model, with_metadata=True)
    meta = meta.get("cli") or {}
    print(model.summary(), file=out)
    if meta:
        hist = meta.get("history") or {}
        print(f"task: {meta.get('task')}  features: {len(meta.get('columns') or meta.get('feature_names') or [])}"
              + (f"  classes: {', '.join(map(str, meta['classes']))}" if meta.get("classes") else ""), file=out)
        print(f"trained: {hist.get('epochs')} epochs, {hist.get('iterations')} iterations, batch size "
              f"{hist.get('batch_size')}", file=out)
        if meta.get("test"):
            print("test " + _scores(meta["test"]), file=out)
    return 0


# -- parsing ------------------------------------------------------------------------------------
def _ints(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated non-negative integers, got {text!r}")
    return values


def _widths(text):
    values = _ints(text)
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive widths such as 64,32, got {text!r}")
    return values


def _names(text):
    return [v.strip() for v in text.split(",") if v.strip()]


def _epochs(text):
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r} (an integer, or auto)") from None


def _sep(text):
    return {"\\t": "\t", "tab": "\t"}.get(text, text)


def data_args(sp, default=None):
    """The options of every command that reads data."""
    sp.add_argument("data", nargs="?" if default else None, default=default,
                    help="a .csv/.tsv/.parquet file or a dataset name (digits, iris, wine, breast_cancer, "
                         "diabetes, mnist1d, fashion-mnist)" + (f"; default {default}" if default else ""))
    sp.add_argument("--target", help="target column of a table (default: the model's)")
    sp.add_argument("--features", type=_names, help="comma-separated feature columns (default: all but the target)")
    sp.add_argument("--exclude", type=_names, help="comma-separated columns to leave out")
    sp.add_argument("--id-column", help="an identifier column, left out of the features, copied to predictions")
    sp.add_argument("--sep", type=_sep, help="the delimiter of a text table (default: sniffed from the file)")
    sp.add_argument("--data-path", help="folder of the fashion-mnist/mnist files (default: Debian's path)")
    sp.add_argument("--split", default="test", choices=["train", "test"], help="split of a dataset with one")
    sp.add_argument("--quiet", "-q", action="store_true", help="no progress output or notes")


def verify_args(sp):
    sp.add_argument("--verify", action="store_true",
                    help="check the fit verdict by short counterfactual retrainings (placebo seed, probes)")
    sp.add_argument("--verify-budget", type=float, default=3.0,
                    help="trainings allowed for --verify, in multiples of one (default 3, the minimum)")


def build_parser():
    p = argparse.ArgumentParser(prog="glassnet", description="Train, inspect and export glassnet MLPs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train an MLP (no arguments: digits)")
    data_args(t, default="digits")
    t.add_argument("--task", default="auto", choices=["auto", "classification", "regression"])
    t.add_argument("--arch", choices=("mlp", "cnn") + timeseries.ARCHS,
                   help="tables and images: mlp (default), or cnn for fashion-mnist, mnist and mnist1d (a "
                        "convolutional network on the raw pixels; try --batch-size 128 --epochs 15); time series "
                        "(.ts file or UCR set name): cnn1d (default; --hidden = filters), lstm, gru or rnn "
                        "(--hidden = state sizes)")
    t.add_argument("--hidden", type=_widths, default=[128, 64], help="hidden widths, e.g. 64,32 (default 128,64)")
    t.add_argument("--activation", type=_names, default=["relu"],
                   help="relu, leaky_relu, tanh, sigmoid, linear; one, or one per hidden layer (comma-separated)")
    t.add_argument("--epochs", type=_epochs, default=None,
                   help=f"epochs, or auto (default): enough for about {TARGET_UPDATES} updates, {MIN_EPOCHS} to "
                        f"{MAX_EPOCHS} epochs")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=0.001, help="learning rate (default 0.001)")
    t.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    t.add_argument("--momentum", type=float, default=0.9, help="for sgd")
    t.add_argument("--dropout", type=float, default=None,
                   help=f"dropout after each hidden activation (default {REGRESSION_DROPOUT} for regression, else 0)")
    t.add_argument("--l2", type=float, default=0.0, help="L2 strength of every Dense layer (0.5*l2*||W||^2)")
    t.add_argument("--early-stopping", action="store_true", default=None,
                   help="stop when val_loss stalls; keep the best epoch (default: on for regression)")
    t.add_argument("--no-early-stopping", dest="early_stopping", action="store_false")
    t.add_argument("--patience", type=int, default=5)
    t.add_argument("--validation-split", type=float, default=0.2)
    t.add_argument("--test-split", type=float, default=0.2, help="held out for the final test (sets without one)")
    t.add_argument("--cv", type=int, help="K-fold cross-validation on the training rows first (mean, spread)")
    verify_args(t)
    t.add_argument("--class-weight", choices=["balanced"], help="weigh every class the same in the loss")
    t.add_argument("--max-categories", type=int, default=20, help="levels kept per text column (default 20)")
    t.add_argument("--no-scale", dest="scale", action="store_false", help="do not standardize the features")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="model.safetensors")
    t.add_argument("--report", default="report.html", help="HTML report file (default report.html)")
    t.add_argument("--no-report", dest="report", action="store_const", const=None)
    t.set_defaults(func=cmd_train)

    for name, func, hlp in (("evaluate", cmd_evaluate, "loss and accuracy (or RMSE, R^2) on data"),
                            ("predict", cmd_predict, "predictions to CSV"),
                            ("explain", cmd_explain, "integrated-gradients attributions for chosen rows")):
        sp = sub.add_parser(name, help=hlp)
        sp.add_argument("model")
        data_args(sp)
        sp.set_defaults(func=func)
        if name == "predict":
            sp.add_argument("--out", default="predictions.csv", help="CSV file, or - for stdout")
            sp.add_argument("--proba", action="store_true", help="add one probability column per class")
        if name == "explain":
            sp.add_argument("--rows", type=_ints, default=[0], help="comma-separated row numbers (default 0)")
            sp.add_argument("--top", type=int, default=10, help="columns shown per row (default 10)")
    d = sub.add_parser("diagnose", help="the fit verdict from the stored learning curves")
    d.add_argument("model")
    d.add_argument("data", nargs="?", help="with --verify: the data the model was trained on (default: the file "
                                           "named in the model)")
    for flag, text in (("--target", "target column (default: the model's)"), ("--features", None),
                       ("--exclude", None), ("--id-column", None), ("--data-path", None)):
        d.add_argument(flag, type=_names if flag in ("--features", "--exclude") else None, help=text)
    d.add_argument("--sep", type=_sep)
    d.add_argument("--split", default="train", choices=["train", "test"])
    d.add_argument("--quiet", "-q", action="store_true")
    verify_args(d)
    d.set_defaults(func=cmd_diagnose)
    e = sub.add_parser("export", help="export to ONNX (raw rows in, probabilities and labels out)")
    e.add_argument("model")
    e.add_argument("--out", help="the .onnx file (default: next to the model)")
    e.add_argument("--int8", action="store_true", help="also write a dynamically quantized int8 model")
    e.set_defaults(func=cmd_export)
    s = sub.add_parser("summary", help="a model file's layers and parameter counts")
    s.add_argument("model")
    s.set_defaults(func=cmd_summary)
    return p


def main(argv=None):
    """Entry point of the ``glassnet`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args, sys.stdout)
    except BrokenPipeError:
        # `glassnet predict ... --out - | head`: the reader left; not an error worth a message.
        sys.stderr.close()
        return 0
    except (GlassnetError, OSError, ImportError) as e:
        # One line, no traceback: these are the user's input (or environment), not glassnet bugs.
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"glassnet {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"glassnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
