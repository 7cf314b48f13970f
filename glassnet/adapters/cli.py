"""The ``glassnet`` command: train, evaluate, predict, diagnose, explain, export, summary.

Parsing, data loading and printing only; the work is done by the public API. Run
``glassnet <command> --help`` for the options; with no arguments, ``glassnet train`` trains
an MLP on scikit-learn's digits and writes ``model.safetensors`` and ``report.html``.

Model files are glassnet safetensors files. The CLI stores what it needs to reuse a model
in their metadata (``glassnet.save(..., metadata=)``): the task, feature names, class labels,
the input standardization, the target column and the training history. The
standardization (and, for regression, the target's) is folded into the first (and last)
Dense layer before saving, so the file maps raw feature values to outputs for every
consumer: ``glassnet.load(path).predict(X_raw)``, the ONNX export, this CLI.

Bad input (a missing file, an unknown column, a non-numeric feature, an unreadable model
file) ends with exit status 1 and one line on stderr; usage errors exit with 2.
"""

import argparse
import math
import os
import sys

import numpy as np

from glassnet.adapters import datasets, distributed
from glassnet.adapters.progress import TqdmProgress
from glassnet.backend.errors import GlassnetError, ValidationError
from glassnet.files.onnx import quantize_dynamic_int8, to_onnx
from glassnet.files.serialization import load, save
from glassnet.glassbox.attributions import integrated_gradients
from glassnet.glassbox.diagnostics import CleanTrainLoss, diagnose
from glassnet.glassbox.monitors import ActivationMonitor, GradientMonitor
from glassnet.glassbox.report import write_report
from glassnet.nn.layers import Dense
from glassnet.optim.optimizers import SGD, Adam, RMSprop
from glassnet.train.callbacks import EarlyStopping
from glassnet.train.data import train_val_split
from glassnet.train.model import mlp
from glassnet.train.state import History

__all__ = ["build_parser", "CLIError", "cmd_diagnose", "cmd_evaluate", "cmd_explain", "cmd_export",
           "cmd_predict", "cmd_summary", "cmd_train", "infer_task", "load_model", "load_source", "main",
           "model_inputs", "progress", "read_table", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class CLIError(ValidationError):
    """A user error found by the CLI itself (a bad column, a bad file name...)."""


# -- data -----------------------------------------------------------------------------------
def _pandas():
    try:
        import pandas as pd
    except ImportError as e:
        raise ModuleNotFoundError("reading CSV/Parquet files needs pandas: pip install 'glassnet[cli]'") from e
    return pd


def read_table(path):
    """A CSV or Parquet file as a pandas DataFrame, with one-line errors for the usual failures."""
    pd = _pandas()
    suffix = os.path.splitext(str(path))[1].lower()
    if not os.path.isfile(path):
        raise CLIError(f"data file {path!r} does not exist (or is not a file).")
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        try:
            import pyarrow  # noqa: F401
        except ImportError as e:
            raise ModuleNotFoundError("reading Parquet needs pyarrow: pip install 'glassnet[cli]'") from e
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise CLIError(f"cannot read {path!r} as {suffix[1:]}: {e}") from None


def load_source(source, *, target=None, features=None, split=None, data_path=None):
    """Data from a dataset name or a table file: (X float32, y or None, feature_names, target, task, info).

    ``task`` is 'classification', 'regression' or None (a file: decided by the caller).
    """

    key = source.strip().lower().replace("-", "_")
    if key in datasets.NAMES and not os.path.splitext(source)[1]:
        kind = split if key not in ("digits", "iris", "wine", "breast_cancer", "diabetes") else None
        data = datasets.load(key, kind=kind, path=data_path)
        names = [f"x{i}" for i in range(data.X.shape[1])]
        labels = list(data.target_names) if data.target_names else None
        return data.X, data.y, names, None, data.task, {"dataset": key, "target_names": labels}
    if os.path.splitext(source)[1].lower() not in TABLE_SUFFIXES:
        raise CLIError(f"{source!r} is neither a dataset name ({', '.join(datasets.NAMES)}) nor a "
                       f"{'/'.join(TABLE_SUFFIXES)} file.")
    pd = _pandas()
    frame = read_table(source)
    if target is not None and target not in frame.columns:
        raise CLIError(f"column {target!r} is not in {source} (columns: {', '.join(map(str, frame.columns[:20]))}).")
    names = [str(c) for c in frame.columns if c != target] if features is None else list(features)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise CLIError(f"column(s) {', '.join(map(repr, missing[:5]))}{' ...' if len(missing) > 5 else ''} "
                       f"not in {source} "
                       f"(columns: {', '.join(map(str, frame.columns[:20]))}).")
    for c in names:
        col = frame[c]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            example = col.dropna().iloc[0] if col.notna().any() else None
            raise CLIError(f"feature column {c!r} of {source} is not numeric (dtype {col.dtype}, e.g. {example!r}); "
                           "encode it as numbers or leave it out with --features.")
        if col.isna().any():
            raise CLIError(f"feature column {c!r} of {source} has {int(col.isna().sum())} missing value(s); "
                           "impute or drop those rows first.")
    if not names:
        raise CLIError(f"{source} has no feature columns besides the target {target!r}.")
    X = frame[names].to_numpy(dtype=np.float32)
    y = None
    if target is not None:
        col = frame[target]
        if col.isna().any():
            raise CLIError(f"target column {target!r} of {source} has {int(col.isna().sum())} missing value(s).")
        y = col.to_numpy()
    return X, y, names, target, None, {"file": os.path.abspath(source)}


def infer_task(y):
    """Classification for text, bool and small-integer targets; regression for real numbers."""
    y = np.asarray(y)
    if y.dtype.kind in "OUSb" or (y.dtype.kind in "iu" and len(np.unique(y)) <= 50):
        return "classification"
    return "regression"


# -- model building and metadata ---------------------------------------------------------------
def _fold_scaling(model, mean, scale, y_mean=None, y_scale=None):
    """Make the model take raw inputs (and give raw targets): x_std = (x - mean) / scale, so
    (x_std) @ W + b = x @ (W / scale) + (b - (mean / scale) @ W); likewise y = y_std * sy + my."""

    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    first, last = dense[0], dense[-1]
    W, b = first.weight.value.astype(np.float64), first.bias.value.astype(np.float64)
    first.weight.value = (W / scale[:, None]).astype(first.dtype)
    first.bias.value = (b - (mean / scale) @ W).astype(first.dtype)
    if y_mean is not None:
        last.weight.value = (last.weight.value.astype(np.float64) * y_scale).astype(last.dtype)
        last.bias.value = (last.bias.value.astype(np.float64) * y_scale + y_mean).astype(last.dtype)


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


def load_model(path):

    model, meta = load(path, with_metadata=True)
    return model, meta.get("cli", {})


def model_inputs(meta, source, *, target=None, split="test", data_path=None, need_y=True):
    """Data for a saved model: the right columns in the right order, and encoded targets."""
    features = meta.get("feature_names")
    is_file = os.path.splitext(source)[1].lower() in TABLE_SUFFIXES
    target = target or (meta.get("target") if is_file else None)
    if is_file and need_y and target is None:
        raise CLIError("give --target COLUMN: the model file does not name its target column.")
    X, y, _, _, _, _ = load_source(source, target=target if need_y else None,
                                   features=features if is_file else None, split=split, data_path=data_path)
    if features and X.shape[1] != len(features):
        raise CLIError(f"the model expects {len(features)} features; {source} has {X.shape[1]}.")
    if y is not None and meta.get("task") == "classification":
        classes = meta["classes"]
        lookup = {str(c): i for i, c in enumerate(classes)}
        unknown = sorted({str(v) for v in y} - set(lookup))
        if unknown:
            raise CLIError(f"labels {unknown[:5]} in {source} were not seen in training (classes: {classes[:10]}).")
        y = np.array([lookup[str(v)] for v in y], dtype=np.int64)
    elif y is not None:
        y = np.asarray(y, dtype=np.float32)
    return X, y


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


# -- commands -----------------------------------------------------------------------------------
def _split(n, fraction, rng, labels):

    return train_val_split(n, fraction, rng, labels)


def cmd_train(args, out):

    # Under mpirun/mpiexec every rank runs this command on the same data and seed; the ranks
    # split each global batch, and only rank 0 prints and writes files.
    is_root = not distributed.is_distributed() or distributed.rank_and_size()[0] == 0
    if not is_root:
        out, args.quiet, args.report = open(os.devnull, "w"), True, False

    if args.target is None and os.path.splitext(args.data)[1].lower() in TABLE_SUFFIXES:
        raise CLIError(f"give --target COLUMN: which column of {args.data} to predict.")
    X, y, names, target, task, info = load_source(args.data, target=args.target, split="train",
                                                  data_path=args.data_path, features=args.features)
    if y is None:
        raise CLIError(f"give --target COLUMN: which column of {args.data} to predict.")
    task = args.task if args.task != "auto" else (task or infer_task(y))
    classes = None
    if task == "classification":
        if info.get("target_names"):
            classes = list(info["target_names"])
            codes = np.asarray(y, dtype=np.int64)
        else:
            uniq, codes = np.unique(np.asarray(y).astype(str) if np.asarray(y).dtype.kind == "O" else y,
                                    return_inverse=True)
            classes = uniq.tolist()
        if len(classes) < 2:
            raise CLIError(f"the target has a single class ({classes[0]!r}); a classifier needs at least 2.")
        y_fit = codes.astype(np.int64)
    else:
        if np.asarray(y).dtype.kind not in "iufb":
            raise CLIError(f"the regression target {target!r} is not numeric; use --task classification.")
        y_fit = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    labels = y_fit if task == "classification" else None
    test = None
    if info.get("dataset") in ("fashion_mnist", "mnist1d", "mnist"):
        Xte, yte, *_ = load_source(args.data, split="test", data_path=args.data_path)
        test = (Xte, yte.astype(np.int64))
    elif args.test_split > 0:
        tr, te = _split(len(X), args.test_split, rng, labels)
        test = (X[te], y_fit[te])
        X, y_fit = X[tr], y_fit[tr]
    mean = X.astype(np.float64).mean(axis=0) if args.scale else np.zeros(X.shape[1])
    scale = X.astype(np.float64).std(axis=0) if args.scale else np.ones(X.shape[1])
    scale[scale == 0] = 1.0                        # constant columns: leave them as they are
    Xs = ((X - mean) / scale).astype(np.float32)
    y_mean = y_scale = None
    y_raw = y_fit
    if task == "regression":
        y_mean, y_scale = float(y_fit.mean()), float(y_fit.std()) or 1.0
        y_fit = ((y_fit - y_mean) / y_scale).astype(np.float32)
    n_out = len(classes) if task == "classification" else 1
    model = mlp(X.shape[1], args.hidden, n_out, activation=args.activation if len(args.activation) > 1
                else args.activation[0], output="softmax" if task == "classification" else "linear",
                dropout=args.dropout, l2=args.l2, seed=args.seed)
    optimizer = {"sgd": lambda: SGD(lr=args.lr, momentum=args.momentum, nesterov=False),
                 "adam": lambda: Adam(lr=args.lr), "rmsprop": lambda: RMSprop(lr=args.lr)}[args.optimizer]()
    callbacks, verbose = progress(args.quiet)

    # The glass box is on by default: it costs well under 1% of an epoch (BENCHMARKS.md).
    callbacks[:0] = [CleanTrainLoss(seed=args.seed), ActivationMonitor(seed=args.seed), GradientMonitor()]
    if args.early_stopping:
        callbacks.append(EarlyStopping("val_loss", patience=args.patience, restore_best=True))
    if distributed.is_distributed():
        d = distributed.setup(model, optimizer, callbacks, verbose=verbose)
        optimizer, callbacks, verbose = d.optimizer, d.callbacks, d.verbose
    if not args.quiet:
        print(f"data: {args.data}: {len(X)} training samples, {X.shape[1]} features, task {task}"
              + (f", {len(classes)} classes" if classes else ""), file=out)
        print(model.summary(), file=out)
    history = model.fit(Xs, y_fit, optimizer=optimizer, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=args.validation_split, seed=rng, callbacks=callbacks, verbose=verbose)
    _fold_scaling(model, mean, scale, y_mean, y_scale)
    if not is_root:
        return 0
    if not args.quiet:
        print(diagnose(history), file=out)
    result = {}
    if test is not None:
        result = _metrics(model, *test, task)
        if not args.quiet:
            print("test " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()) + f"  ({len(test[0])} samples)",
                  file=out)
    hist = history.to_dict()
    hist["baseline_loss"] = getattr(history, "baseline_loss", None)
    meta = {"task": task, "feature_names": names, "classes": classes, "target": target, "source": info,
            "scaling": {"mean": mean.tolist(), "scale": scale.tolist(), "folded": True},
            "target_scaling": None if y_mean is None else {"mean": y_mean, "scale": y_scale, "folded": True},
            "history": hist, "test": result, "args": {k: v for k, v in vars(args).items() if k != "func"}}
    save(model, args.out, metadata={"cli": _jsonable(meta)})
    print(f"model written to {args.out}", file=out)
    if args.report:
        # The report's data checks and examples use the held-out test set (raw features: the
        # scaling is folded into the model), or the training set when there is none.
        _write_report(model, history, meta, args, test if test is not None else (X, y_raw), out)
    return 0


def _metrics(model, X, y, task):
    pred = model.predict(X)
    if task == "classification":
        p = np.clip(pred[np.arange(len(y)), y], 1e-12, 1.0)
        return {"loss": float(-np.log(p).mean()), "accuracy": float((pred.argmax(axis=1) == y).mean())}
    err = pred.reshape(-1).astype(np.float64) - y.reshape(-1)
    var = float(((y - y.mean()) ** 2).mean())
    return {"mse": float((err**2).mean()), "rmse": float(np.sqrt((err**2).mean())),
            "r2": 1.0 - float((err**2).mean()) / var if var > 0 else float("nan")}


def _write_report(model, history, meta, args, data, out):
    shapes = {"digits": (8, 8), "fashion_mnist": (28, 28), "mnist": (28, 28)}
    kwargs = {"title": f"glassnet: {args.data}", "class_names": meta["classes"]}
    if meta["source"].get("dataset") in shapes:
        kwargs["image_shape"] = shapes[meta["source"]["dataset"]]
    write_report(args.report, model, history, data[0], data[1], **kwargs)
    print(f"report written to {args.report}", file=out)


def cmd_evaluate(args, out):
    model, meta = load_model(args.model)
    X, y = model_inputs(meta, args.data, target=args.target, split=args.split, data_path=args.data_path)
    result = _metrics(model, X, y, meta.get("task", "classification"))
    print(f"{args.data}: {len(X)} samples  " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()), file=out)
    return 0


def cmd_predict(args, out):
    pd = _pandas()
    model, meta = load_model(args.model)
    X, _ = model_inputs(meta, args.data, target=args.target, split=args.split, data_path=args.data_path,
                        need_y=False)
    pred = model.predict(X)
    if meta.get("task") == "classification":
        classes = meta["classes"]
        frame = pd.DataFrame({"prediction": [classes[i] for i in pred.argmax(axis=1)]})
        if args.proba:
            for i, c in enumerate(classes):
                frame[f"proba_{c}"] = pred[:, i]
    else:
        frame = pd.DataFrame({"prediction": pred.reshape(len(pred), -1)[:, 0]})
    if args.out == "-":
        frame.to_csv(out, index=False)
    else:
        frame.to_csv(args.out, index=False)
        print(f"{len(frame)} predictions written to {args.out}", file=out)
    return 0


def cmd_diagnose(args, out):

    _, meta = load_model(args.model)
    saved = meta.get("history")
    if not saved or not saved.get("curves", {}).get("loss"):
        raise CLIError(f"{args.model} stores no training history (it was not trained by `glassnet train`).")
    history = History(saved.get("batch_size"))
    history.update({k: [math.nan if v is None else v for v in c] for k, c in saved["curves"].items()})
    history.epochs, history.iterations = saved.get("epochs", 0), saved.get("iterations", 0)
    history.diverged = saved.get("diverged")
    if saved.get("baseline_loss") is not None:
        history.baseline_loss = saved["baseline_loss"]
    print(diagnose(history), file=out)
    return 0


def cmd_explain(args, out):

    model, meta = load_model(args.model)
    X, _ = model_inputs(meta, args.data, target=args.target, split=args.split, data_path=args.data_path,
                        need_y=False)
    names = meta.get("feature_names") or [f"x{i}" for i in range(X.shape[1])]
    classes = meta.get("classes")
    baseline = np.asarray(meta.get("scaling", {}).get("mean") or np.zeros(X.shape[1]), dtype=np.float64)
    for row in args.rows:
        if not 0 <= row < len(X):
            raise CLIError(f"row {row} is out of range: {args.data} has {len(X)} rows (0..{len(X) - 1}).")
        attr = integrated_gradients(model, X[row], baseline=baseline)
        what = f"P({classes[attr.target]})" if classes else "prediction"
        print(f"row {row}: {what} = {attr.f_x:.4f}; at the mean input {attr.f_baseline:.4f}; "
              f"attributions (integrated gradients, largest first):", file=out)
        order = np.argsort(-np.abs(attr.values))[: args.top]
        for i in order:
            print(f"  {names[i]:>20}  {attr.values[i]:+.4f}  (value {X[row, i]:.4g})", file=out)
        print(f"  completeness error {100 * attr.completeness_error:.2g}% ({attr.steps} steps)", file=out)
    return 0


def _unfold_input(model, mean, scale):
    """Undo the folding of the input standardization in the first Dense layer (see _fold_scaling)."""

    first = next(layer for layer in model.layers if isinstance(layer, Dense))
    W = first.weight.value.astype(np.float64) * scale[:, None]
    first.bias.value = (first.bias.value.astype(np.float64) + (mean / scale) @ W).astype(first.dtype)
    first.weight.value = W.astype(first.dtype)
    return model


def _with_standardization(proto, mean, scale):
    """Prepend (x - mean) * (1 / scale) to an ONNX graph, so it takes raw features."""
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    name = graph.input[0].name
    for node in graph.node:
        node.input[:] = ["standardized" if x == name else x for x in node.input]
    graph.initializer.extend([numpy_helper.from_array(mean.astype(np.float32), "scaling.mean"),
                              numpy_helper.from_array((1.0 / scale).astype(np.float32), "scaling.inv_scale")])
    nodes = [helper.make_node("Sub", [name, "scaling.mean"], ["centered"], name="standardize_sub"),
             helper.make_node("Mul", ["centered", "scaling.inv_scale"], ["standardized"], name="standardize_mul"),
             *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(proto)
    return proto


def cmd_export(args, out):

    model, meta = load_model(args.model)
    dest = args.out or os.path.splitext(args.model)[0] + ".onnx"
    scaling = meta.get("scaling") or {}
    if scaling.get("folded"):
        # The model file has the standardization folded into its first layer, whose weights then
        # span orders of magnitude (1/std of near-constant columns): int8 quantization per tensor
        # would wipe out the small ones. The graph standardizes explicitly instead.
        import onnx

        mean, scale = np.asarray(scaling["mean"]), np.asarray(scaling["scale"])
        proto = _with_standardization(to_onnx(_unfold_input(model, mean, scale)), mean, scale)
        onnx.save_model(proto, dest)
    else:
        proto = to_onnx(model, dest)
    print(f"ONNX model written to {dest} (input 'input' of shape (batch, {model.n_features}), raw features)",
          file=out)
    if args.int8:
        qdest = os.path.splitext(dest)[0] + ".int8.onnx"
        quantize_dynamic_int8(proto, qdest)
        print(f"int8 model written to {qdest} ({os.path.getsize(qdest):,} bytes vs {os.path.getsize(dest):,})",
              file=out)
    return 0


def cmd_summary(args, out):
    model, meta = load_model(args.model)
    print(model.summary(), file=out)
    if meta:
        hist = meta.get("history") or {}
        print(f"task: {meta.get('task')}  features: {len(meta.get('feature_names') or [])}"
              + (f"  classes: {', '.join(map(str, meta['classes']))}" if meta.get("classes") else ""), file=out)
        print(f"trained: {hist.get('epochs')} epochs, {hist.get('iterations')} iterations, batch size "
              f"{hist.get('batch_size')}", file=out)
        if meta.get("test"):
            print("test " + "  ".join(f"{k} {v:.4f}" for k, v in meta["test"].items() if v is not None), file=out)
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


def build_parser():
    p = argparse.ArgumentParser(prog="glassnet", description="Train, inspect and export glassnet MLPs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def data_args(sp, default=None):
        sp.add_argument("data", nargs="?" if default else None, default=default,
                        help="a .csv/.parquet file or a dataset name (digits, iris, wine, breast_cancer, "
                             "diabetes, mnist1d, fashion-mnist)" + (f"; default {default}" if default else ""))
        sp.add_argument("--target", help="target column of a CSV/Parquet file")
        sp.add_argument("--data-path", help="folder of the fashion-mnist/mnist files (default: Debian's path)")
        sp.add_argument("--split", default="test", choices=["train", "test"],
                        help="split of a dataset with one (default test)")

    t = sub.add_parser("train", help="train an MLP (no arguments: digits)")
    data_args(t, default="digits")
    t.add_argument("--features", type=_names, help="comma-separated feature columns (default: all but the target)")
    t.add_argument("--task", default="auto", choices=["auto", "classification", "regression"])
    t.add_argument("--hidden", type=_widths, default=[128, 64], help="hidden widths, e.g. 64,32 (default 128,64)")
    t.add_argument("--activation", type=_names, default=["relu"],
                   help="relu, leaky_relu, tanh, sigmoid, linear; one, or one per hidden layer (comma-separated)")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=0.001, help="learning rate (default 0.001)")
    t.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    t.add_argument("--momentum", type=float, default=0.9, help="for sgd")
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--l2", type=float, default=0.0, help="L2 strength of every Dense layer (0.5*l2*||W||^2)")
    t.add_argument("--early-stopping", action="store_true", help="stop when val_loss stalls; keep the best epoch")
    t.add_argument("--patience", type=int, default=5)
    t.add_argument("--validation-split", type=float, default=0.2)
    t.add_argument("--test-split", type=float, default=0.2, help="held out for the final test (sets without one)")
    t.add_argument("--no-scale", dest="scale", action="store_false", help="do not standardize the features")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="model.safetensors")
    t.add_argument("--report", default="report.html", help="HTML report file (default report.html)")
    t.add_argument("--no-report", dest="report", action="store_const", const=None)
    t.add_argument("--quiet", "-q", action="store_true", help="no progress output")
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
            sp.add_argument("--top", type=int, default=10, help="features shown per row (default 10)")
    d = sub.add_parser("diagnose", help="the fit verdict from the stored learning curves")
    d.add_argument("model")
    d.set_defaults(func=cmd_diagnose)
    e = sub.add_parser("export", help="export to ONNX")
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
