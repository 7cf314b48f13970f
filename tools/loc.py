"""Count code lines (no blanks, comments or docstrings) per glassnet module, against budgets.

Usage: python tools/loc.py          exits 1 when a budget is exceeded.
"""

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "glassnet"
# The teaching core: what a reader must understand to follow one batch from fit to the update, and
# to save the result: the layers backend, nn, optim and train (ARCHITECTURE.md), plus model files.
CORE = ["__init__.py", "version.py", "backend/*.py", "nn/*.py", "nn/layers/*.py", "optim/*.py", "train/*.py",
        "files/serialization.py"]
# 2,000 for the MLP core as first written, raised only by what each new layer family needs (measured when it
# landed): recurrent (SimpleRNN/LSTM/GRU, their fast form, Embedding, clip_norm, their model-file checks) +600;
# convolutional (Conv2D/Conv1D, pooling, Flatten, BatchNorm, train/fastconv.py, shape checks, buffers) +740, and
# +52 when its landing was finished (issue 14, measured on the merged tree against 8b48a20: Reshape +20 in
# pooling.py, the inference fast path +22 in fastconv.py and +4 in inference.py, the conv model-file size checks +5
# in serialization.py, its export +1 in __init__.py). Non-family growth (NaNGuard's recovery bar, the compiled-step
# hook) lives in the 2,000's slack.
CORE_BUDGET = 2000 + 600 + 740 + 52
ADAPTER_BUDGET = 700


def code_lines(path):
    src = path.read_text()
    doc_lines = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - doc_lines)


def main():
    core = sorted({p for pattern in CORE for p in ROOT.glob(pattern)})
    others = sorted(set(ROOT.rglob("*.py")) - set(core))
    ok = True
    total = 0
    print(f"{'module':<40} lines")
    for p in core:
        n = code_lines(p)
        total += n
        print(f"  core  {str(p.relative_to(ROOT)):<32} {n}")
    print(f"core total: {total} (budget {CORE_BUDGET})")
    ok &= total <= CORE_BUDGET
    for p in others:
        n = code_lines(p)
        flag = "" if n <= ADAPTER_BUDGET else f"  OVER adapter budget {ADAPTER_BUDGET}"
        ok &= n <= ADAPTER_BUDGET
        print(f"  adapter {str(p.relative_to(ROOT)):<30} {n}{flag}")
    if not ok:
        print("line budget exceeded", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
