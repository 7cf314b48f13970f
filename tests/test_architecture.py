"""The layering contract of ARCHITECTURE.md holds (tools/layers.py), and the checker catches what it must."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("layers_tool", ROOT / "tools" / "layers.py")
layers_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layers_tool)


def test_the_package_keeps_its_layering():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "layers.py")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    assert "0 problem(s)" in out.stdout


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(layers_tool.cycles(graph)) == [["a", "b", "c"], ["e"]]
    assert layers_tool.cycles({"a": {"b"}, "b": set()}) == []


def test_upward_imports_and_hidden_imports_are_reported(tmp_path):
    bad = tmp_path / "glassnet" / "nn" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text('"""A module that breaks every rule."""\nimport scipy\nfrom glassnet.train.loop import fit\n'
                   'from glassnet.nn.x import _private\n\n\ndef f():\n    from glassnet.backend import arrays\n')
    modules = {"glassnet.nn.bad": bad, "glassnet.train.loop": bad, "glassnet.nn.x": bad, "glassnet.backend": bad}
    layers_tool.ROOT = tmp_path
    edges, problems = layers_tool.scan(bad, "glassnet.nn.bad", modules)
    text = "\n".join(problems)
    assert "no __all__" in text
    assert "module-level import of 'scipy'" in text
    assert "from a higher layer" in text and "glassnet.train.loop" in text
    assert "private name '_private'" in text
    assert "inside a function" in text
