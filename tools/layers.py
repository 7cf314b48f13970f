"""The layering contract of glassnet, checked statically (run in CI: ``python tools/layers.py``).

The package is a stack of layers; a module may import glassnet modules of its own layer or of the
layers below it, never above, and the imports between modules form no cycle:

    0 backend   arrays, errors, checks, atomic writes (and glassnet.version)
    1 nn        parameters, initializers, layers, losses, gradient checks
    2 optim     optimizers and schedules
    3 train     the loop, inference, callbacks, History, the model class, the fast path
    4 glassbox  diagnostics, monitors, data checks, attributions, trace, plots, report
    5 files     model files, checkpoints, ONNX export
    6 adapters  tabular, scikit-learn, MPI, GPU, datasets, progress, the CLI

Also checked, for every module:
- imports of glassnet modules sit at the top of the module (no import inside a function hides a cycle);
- outside the adapters, the only third-party package imported at module level is NumPy (optional
  packages are imported inside functions, so ``import glassnet`` needs NumPy alone);
- nothing imports a private name (``_x``) from another module, and no module uses ``from glassnet import``
  (the package facade is for users);
- every module declares ``__all__``.

Exit status 1 with one line per violation.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "glassnet"
LAYERS = ["backend", "nn", "optim", "train", "glassbox", "files", "adapters"]
LEAVES = {"glassnet.version": 0}                          # modules outside the folders, by layer
FACADES = {"glassnet", "glassnet.__main__"}              # the user-facing package root and the -m entry
STDLIB = set(sys.stdlib_module_names)


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name):
    if name in LEAVES:
        return LEAVES[name]
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def resolve(node, name, is_package):
    if node.level == 0:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def target_module(imported, modules):
    """The glassnet module an import binds (a package's submodule when the name is one)."""
    while imported and imported not in modules:
        imported = imported.rpartition(".")[0]
    return imported or None


def scan(path, name, modules):
    """(imports of glassnet modules at module level, problems) of one file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    edges, problems = [], []
    top = set(id(n) for n in tree.body)
    if name not in FACADES and not any(isinstance(n, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets) for n in tree.body):
        problems.append(f"{name}: no __all__")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = resolve(node, name, is_package)
            targets = [(mod, [a.name for a in node.names])]
        else:
            continue
        at_top = id(node) in top
        for mod, names in targets:
            root = mod.split(".")[0]
            if root != "glassnet":
                if at_top and root not in STDLIB and root != "numpy" and layer_of(name) != LAYERS.index("adapters") \
                        and name not in FACADES:
                    problems.append(f"{name}:{node.lineno}: module-level import of {root!r} outside the adapters "
                                    "(import optional packages inside the function that needs them)")
                continue
            if mod == "glassnet" and name not in FACADES:
                problems.append(f"{name}:{node.lineno}: 'from glassnet import ...' inside the package; import from "
                                "the module that defines the name")
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    problems.append(f"{name}:{node.lineno}: imports the private name {n!r} from {mod}")
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in modules] or [mod]
            for sub in subs:
                dep = target_module(sub, modules)
                if dep is None or dep == name:
                    continue
                if not at_top and name not in FACADES:
                    problems.append(f"{name}:{node.lineno}: imports {dep} inside a function; glassnet modules are "
                                    "imported at the top (a hidden import is how cycles hide)")
                mine, theirs = layer_of(name), layer_of(dep)
                if mine is not None and theirs is not None and theirs > mine:
                    problems.append(f"{name}:{node.lineno}: imports {dep} from a higher layer "
                                    f"({LAYERS[mine]} may import only {', '.join(LAYERS[:mine + 1])})")
                edges.append(dep)
    return edges, problems


def cycles(graph):
    """Every import cycle, as a list of module names (Tarjan's strongly connected components)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p): p for p in files}
    graph, problems = {}, []
    for name, path in modules.items():
        edges, found = scan(path, name, modules)
        # A package's __init__ importing its own submodules is not a cycle with them.
        graph[name] = {e for e in edges if name in FACADES or not e.startswith(name + ".")}
        problems += found
    for name in FACADES:
        graph.pop(name, None)
    for comp in cycles(graph):
        problems.append("import cycle among: " + ", ".join(comp))
    for p in problems:
        print(p)
    print(f"layering: {len(modules)} modules, {sum(len(v) for v in graph.values())} imports, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
