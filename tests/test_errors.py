"""Every public error says what was wrong, where, what was expected, what was received, and how to fix it.

Each case triggers one error through the public API and names the place the message must mention.
A message passes when it names that place, states the expectation ("must", "needs", "expects"...),
quotes what was received ("got ...", "but ...", "contains ...") and proposes a fix (a sentence in the
imperative: "Pass ...", "Use ...", "Make ...").
"""

import re

import numpy as np
import pytest

import glassnet as g
from glassnet.files.checkpoint import ModelCheckpoint

EXPECTED = re.compile(r"\b(must|expects?|needs?|takes|should|only|requires?|allowed|supports?|cannot|"
                      r"is not a|are not)\b", re.I)
RECEIVED = re.compile(r"\b([Gg]ot|but|contains?|has|have|gives|ends with|holds|found|were|was|is empty|"
                      r"instead)\b")
FIX = re.compile(r"(^|[.;:!?)]\s+|,\s+(or|and)\s+|\(|\s-\s|\bor\s)(use|pass|give|make|call|append|remove|encode|"
                 r"reshape|check|resume|restore|impute|instantiate|lower|raise|save|change|move|wrap|set|try|put|"
                 r"standardize|install|write|load|re-save|convert|choose|drop|add|end|train|fit|keep|rename|cast|"
                 r"select|split|scale|start|run|read|provide|replace|fix|monitor|list|leave|point|apply|name|"
                 r"follow|delete|open|create|repeat|look|reduce|increase|decrease)\b", re.I)

rng = np.random.default_rng(0)
X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)


def model():
    return g.mlp(4, [5], 3, seed=0)


def fit(**kw):
    return model().fit(X, y, **{"epochs": 1, "verbose": 0, **kw})


class Hookless(g.Layer):
    def forward(self, x):
        return x


CASES = {
    # layers and containers
    "Dense n_in": (lambda: g.Dense(0, 3), "n_in"),
    "Dense n_in type": (lambda: g.Dense("4", 3), "n_in"),
    "Dense l2": (lambda: g.Dense(4, 3, l2=-1.0), "l2"),
    "Dense init": (lambda: g.Dense(4, 3, init="he"), "init"),
    "Dense dtype": (lambda: g.Dense(4, 3, dtype="float16"), "dtype"),
    "Dense seed": (lambda: g.Dense(4, 3, seed=-1), "seed"),
    "Dense input": (lambda: g.Dense(4, 3, seed=0).forward(np.ones((2, 5), np.float32)), "Dense(4 -> 3)"),
    "LeakyReLU alpha": (lambda: g.LeakyReLU(2.0), "alpha"),
    "Dropout p": (lambda: g.Dropout(1.0), "'p'"),
    "Sequential not a list": (lambda: g.Sequential(g.ReLU()), "Sequential"),
    "Sequential empty": (lambda: g.Sequential([]), "Sequential"),
    "Sequential class not instance": (lambda: g.Sequential([g.Dense(2, 2, seed=0), g.ReLU]), "layer 1"),
    "Sequential widths": (lambda: g.Sequential([g.Dense(3, 4, seed=0), g.ReLU(), g.Dense(5, 2, seed=0)]), "n_in"),
    "backward before forward": (lambda: g.ReLU().backward(np.ones(3)), "ReLU.backward"),
    "neuron layer": (lambda: model().neuron(1, 0), "neuron"),
    "neuron unit": (lambda: model().neuron(0, 9), "unit"),
    "mlp hidden": (lambda: g.mlp(4, 5, 3), "hidden"),
    "mlp activations count": (lambda: g.mlp(4, [5, 5], 3, activation=["relu"]), "mlp"),
    "mlp activation name": (lambda: g.mlp(4, [5], 3, activation="swish"), "activation"),
    "mlp output": (lambda: g.mlp(4, [5], 3, output="tanh"), "output"),
    # losses
    "loss rows": (lambda: g.MSE()(np.ones((3, 1)), np.ones((2, 1))), "MSE"),
    "loss shape": (lambda: g.MSE()(np.ones((3, 2)), np.ones((3, 3))), "MSE"),
    "BCE range": (lambda: g.BinaryCrossEntropy()(np.full((2, 1), 0.5), np.array([[0.0], [2.0]])), "BinaryCrossEntropy"),
    "CE probabilities": (lambda: g.CrossEntropy()(np.full((2, 3), 2.0), np.array([0, 1])), "CrossEntropy"),
    "CE label range": (lambda: g.CrossEntropy()(np.full((2, 3), 1 / 3), np.array([0, 5])), "CrossEntropy"),
    "CE fractional": (lambda: g.CrossEntropy()(np.full((2, 3), 1 / 3), np.array([0.5, 1.0])), "CrossEntropy"),
    "unknown loss": (lambda: fit(loss="hinge"), "loss"),
    # optimizers and schedules
    "SGD lr": (lambda: g.SGD(lr=0.0), "lr"),
    "SGD momentum": (lambda: g.SGD(momentum=1.0), "momentum"),
    "SGD nesterov": (lambda: g.SGD(nesterov=True), "nesterov"),
    "Adam beta1": (lambda: g.Adam(beta1=1.5), "beta1"),
    "RMSprop rho": (lambda: g.RMSprop(rho=-0.1), "rho"),
    "unknown optimizer": (lambda: fit(optimizer="lbfgs"), "optimizer"),
    "no parameters": (lambda: g.SGD().setup([]), "SGD"),
    "StepDecay": (lambda: g.StepDecay(0), "step_size"),
    "ExponentialDecay": (lambda: g.ExponentialDecay(0.0), "gamma"),
    # callbacks
    "EarlyStopping patience": (lambda: g.EarlyStopping(patience=-1), "patience"),
    "EarlyStopping mode": (lambda: g.EarlyStopping(mode="up"), "mode"),
    "EarlyStopping monitor type": (lambda: g.EarlyStopping(monitor=3), "monitor"),
    "EarlyStopping missing curve": (lambda: fit(callbacks=[g.EarlyStopping()]), "val_loss"),
    "ReduceLROnPlateau factor": (lambda: g.ReduceLROnPlateau(factor=1.0), "factor"),
    "ModelCheckpoint path": (lambda: ModelCheckpoint(3), "ModelCheckpoint"),
    "ModelCheckpoint every": (lambda: ModelCheckpoint("x", every=0), "every"),
    "ModelCheckpoint resume": (lambda: ModelCheckpoint("x", resume="yes"), "resume"),
    "ModelCheckpoint order": (lambda: fit(callbacks=[ModelCheckpoint("unused"), g.EarlyStopping(monitor="loss")]),
                              "ModelCheckpoint"),
    "resume missing file": (lambda: fit(callbacks=[ModelCheckpoint("/nonexistent/run.ckpt", resume=True)]),
                            "/nonexistent/run.ckpt"),
    # fit, evaluate, predict
    "fit epochs": (lambda: fit(epochs=0), "epochs"),
    "fit batch_size": (lambda: model().fit(X, y, batch_size=1.5, verbose=0), "batch_size"),
    "fit validation_split": (lambda: fit(validation_split=1.5), "validation_split"),
    "fit empty validation": (lambda: fit(validation_split=0.01), "validation_split"),
    "fit callbacks": (lambda: fit(callbacks=[g.EarlyStopping]), "callbacks"),
    "fit validation_data": (lambda: fit(validation_data=(X,)), "validation_data"),
    "fit X text": (lambda: model().fit(np.array([["a"] * 4] * 20), y, verbose=0), "fit"),
    "fit X NaN": (lambda: model().fit(np.where(X > 1, np.nan, X), y, verbose=0), "fit"),
    "fit X 1-D": (lambda: model().fit(X[:, 0], y, verbose=0), "fit"),
    "fit X width": (lambda: model().fit(X[:, :3], y, verbose=0), "fit"),
    "fit y None": (lambda: model().fit(X, None, verbose=0), "fit"),
    "fit y rows": (lambda: model().fit(X, y[:10], verbose=0), "fit"),
    "fit y classes": (lambda: model().fit(X, y + 5, verbose=0), "CrossEntropy"),
    "fit output units": (lambda: g.mlp(4, [5], 2, output="linear", seed=0).fit(X, rng.normal(size=(20, 3)), verbose=0),
                         "output units"),
    "fit sample_weight": (lambda: fit(sample_weight=-np.ones(20)), "sample_weight"),
    "fit class_weight": (lambda: fit(class_weight="even"), "class_weight"),
    "fit double softmax": (lambda: g.Sequential([g.Dense(4, 3, seed=0), g.Softmax(), g.Softmax()]).fit(X, y, verbose=0),
                           "Softmax"),
    "fit loss needs softmax": (lambda: g.mlp(4, [5], 3, output="linear", seed=0).fit(X, y, loss="crossentropy",
                                                                                   verbose=0), "CrossEntropy"),
    "fit not a model": (lambda: g.fit("model", X, y), "fit"),
    "predict width": (lambda: model().predict(X[:, :2]), "predict"),
    "evaluate batch_size": (lambda: model().evaluate(X, y, batch_size=0), "batch_size"),
    # model files
    "save not a model": (lambda: g.save(g.ReLU(), "x.safetensors"), "save"),
    "save path": (lambda: g.save(model(), 3), "save"),
    "save metadata": (lambda: g.save(model(), "/tmp/glassnet-errors.safetensors", metadata={"a": object()}),
                      "metadata"),
    "load missing": (lambda: g.load("/nonexistent/model.safetensors"), "/nonexistent/model.safetensors"),
    "load path": (lambda: g.load(3), "load"),
}


def _message(err):
    return " ".join([str(err), *getattr(err, "__notes__", [])])


@pytest.mark.parametrize("name", sorted(CASES))
def test_public_error_message_has_what_where_expected_got_fix(name):
    trigger, where = CASES[name]
    with pytest.raises(g.GlassnetError) as info:
        trigger()
    err = info.value
    kinds = (RuntimeError,) if isinstance(err, g.CallOrderError) else (ValueError, TypeError)
    assert isinstance(err, kinds), f"{type(err).__name__} is neither a ValueError nor a TypeError"
    msg = _message(err)
    problems = [part for part, ok in [("where", where in msg), ("expected", EXPECTED.search(msg)),
                                      ("received", RECEIVED.search(msg)), ("fix", FIX.search(msg))] if not ok]
    assert not problems, f"{name}: message lacks {problems}: {msg!r}"


def test_load_of_a_damaged_file_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "m.safetensors"
    g.save(model(), path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(g.ModelFileError) as info:
        g.load(path)
    msg = str(info.value)
    assert str(path) in msg and RECEIVED.search(msg) and FIX.search(msg), msg
