"""A fast subset of the planted-fault benchmark (benchmarks/faults.py): each fault is proven present by
the benchmark's own counterfactual or direct measurement, and the glass box must name it and nothing else."""

import pytest

pytest.importorskip("sklearn")

from benchmarks.faults import CASES, run_case, score  # noqa: E402

FAST = [
    "underfit_capacity/moons/seed0", "underfit_l2/digits/seed0", "low_lr/digits/seed0",
    "too_few_epochs/digits/seed0", "diverged_nan/digits/seed0", "diverged_collapse/digits/seed0",
    "dead_relu/digits/seed0", "saturated/digits/seed0", "nan_inf/digits/seed0", "sorted_order/digits/seed0",
    "class_imbalance/digits/seed0", "leakage/digits/seed0",
    "unscaled_target/friedman1/seed0", "loss_mismatch/digits/seed0", "label_noise/digits/seed0",
]


@pytest.fixture(scope="module")
def results():
    by_name = {c.name: c for c in CASES}
    return [run_case(by_name[name]) for name in FAST]


@pytest.mark.parametrize("i", range(len(FAST)))
def test_planted_fault_is_proven_and_named_alone(results, i):
    r = results[i]
    assert r["proven"], f"{FAST[i]}: the benchmark could not prove its own fault: {r['proof']}"
    for family, truth in r["truth"].items():
        assert r["found"][family] == truth, f"{FAST[i]} [{family}]: planted {truth}, reported {r['found'][family]}"


def test_score_counts_hits_and_false_positives(results):
    s = score(results)
    planted = sum(v["planted"] for v in s["kinds"].values())
    assert planted >= len(FAST)             # every case has at least one scored kind
    assert set(s["kinds"]) >= {"underfitting", "diverged", "still_improving", "dead_relu", "leakage", "label_noise"}
