"""glassnet's label-noise estimate next to cleanlab's, on the planted-fault benchmark's training sets.

    python -m benchmarks.label_noise_cleanlab [--split design,held-out,fresh,fresh2,fresh3,fresh4]

For every clean, clean_noise and label_noise classification case of the chosen splits (benchmarks/faults.py,
the same planted data), one markdown row: the planted share of wrong labels, the share glassnet's
confident learning flags, its anchor estimate (the error on the reference's surest tenth), cleanlab's
noise estimate 1 - trace(confident joint) and flagged share on the *same* out-of-fold probabilities, the
agreement of the two issue masks, and precision / recall against the planted flips. cleanlab is a test
oracle here, not a dependency: pip install cleanlab.
"""

import argparse
import warnings

import numpy as np

from benchmarks.faults import CASES, Case, plant
from glassnet.glassbox.datachecks import label_issues


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", default="design,held-out,fresh,fresh2,fresh3,fresh4")
    a = p.parse_args(argv)
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    try:                                    # one thread per pool, as benchmarks.faults
        import sklearn.ensemble  # noqa: F401
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    splits = set(a.split.split(","))
    print("| split | case | planted | flagged (glassnet) | anchor estimate | cleanlab 1 - trace(joint) | cleanlab "
          "flagged | masks agree | precision/recall glassnet | precision/recall cleanlab |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in CASES:
        if c.split not in splits or c.kind not in ("label_noise", "clean_noise", "clean"):
            continue
        planted = plant(c)
        if planted is None or planted[4] != "classification":
            continue
        yt = planted[1]
        flip = yt != plant(Case("clean", c.data, c.seed, c.spec, c.split))[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = label_issues(planted[0], yt)
            ours, P = f["mask"], f["probabilities"]
            theirs = find_label_issues(yt, P, filter_by="confident_learning")
            joint = estimate_joint(yt, P)

        def pr(mask):
            if not flip.any():
                return "-"
            return f"{(mask & flip).sum() / max(mask.sum(), 1):.2f}/{(mask & flip).sum() / flip.sum():.2f}"

        print(f"| {c.split} | {c.name} | {flip.mean():.3f} | {ours.mean():.3f} | {f['anchor']['estimate']:.3f} | "
              f"{1 - np.trace(joint):.3f} | {theirs.mean():.3f} | {(theirs == ours).mean():.3f} | {pr(ours)} | "
              f"{pr(theirs)} |", flush=True)


if __name__ == "__main__":
    main()
