"""docs/python.md's examples run: every ```python block, in order, as one session (in a
temporary directory, since some write files); the ```python torch blocks likewise, where
longctx.torch loads and PyTorch sees a GPU."""
import os
import re
import sys
import types

import pytest

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "docs", "python.md")


@pytest.mark.skipif(not os.path.exists(DOC), reason="docs/python.md is not next to the package")
def test_docs_python_examples_run(tmp_path, monkeypatch, capsys):
    text = open(DOC).read()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, "%s[python block %d]" % (DOC, i + 1), "exec"), ns)
        except Exception as e:  # name the block in the failure
            raise AssertionError("docs/python.md python block %d failed: %r" % (i + 1, e)) from e
    out = capsys.readouterr().out
    assert "LC_EINVAL - k.shape[2]=3 must divide q heads=8" in out
    assert os.path.exists(tmp_path / "wall.svg") and os.path.exists(tmp_path / "memory.bin")


@pytest.mark.skipif(not os.path.exists(DOC), reason="docs/python.md is not next to the package")
def test_docs_python_torch_examples_run(capsys, monkeypatch):
    try:
        import longctx.torch  # noqa: F401
        import torch
    except ImportError as e:
        pytest.skip(str(e))
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    blocks = re.findall(r"^```python torch\n(.*?)^```", open(DOC).read(), flags=re.S | re.M)
    assert len(blocks) >= 3
    # a real module: torch.compile looks up the globals of the functions it traces by module name
    module = types.ModuleType("__docs_torch__")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    ns = module.__dict__
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, "%s[python torch block %d]" % (DOC, i + 1), "exec"), ns)
        except Exception as e:
            raise AssertionError("docs/python.md python torch block %d failed: %r" % (i + 1, e)) from e
    out = capsys.readouterr().out
    assert out.count(" True") == 2, out  # the two comparisons printed True
