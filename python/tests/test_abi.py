"""The ctypes structs against the C headers: every size and field offset, as the C compiler
lays them out (needs a C compiler and the source tree's include/; skipped otherwise)."""
import ctypes
import os
import re
import shutil
import subprocess

import pytest

from longctx import _structs

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
INCLUDE = os.path.join(ROOT, "include")


def _headers_text():
    out = []
    for d, _, files in os.walk(os.path.join(INCLUDE, "longctx")):
        for f in files:
            if f.endswith(".h"):
                with open(os.path.join(d, f)) as fh:
                    out.append(fh.read())
    return "\n".join(out)


@pytest.mark.skipif(not os.path.isdir(INCLUDE) or not shutil.which("cc"), reason="needs include/ and a C compiler")
def test_struct_layouts_match_the_headers(tmp_path):
    text = _headers_text()
    structs = {n: c for n, c in _structs.C_STRUCTS.items() if re.search(r"typedef struct %s\s*\{" % n, text)}
    assert "lc_attention" in structs and "lc_ssd" in structs
    headers = sorted(set(re.findall(r"(longctx/\w+\.h)", "\n".join(
        "longctx/%s" % f for f in os.listdir(os.path.join(INCLUDE, "longctx")) if f.endswith(".h")))))
    headers = [h for h in headers if not h.endswith(("_mpi.h", "_cuda.h"))]  # cuda.h is plain C
    lines = ["#include <stdio.h>", "#include <stddef.h>"] + ['#include "%s"' % h for h in headers] + ["int main(void) {"]
    for name, cls in structs.items():
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (name, name))
        for f in cls._fields_:
            cf = _structs.C_FIELD_NAMES.get(f[0], f[0])
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (name, f[0], name, cf))
    lines.append("return 0; }")
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "abi"
    subprocess.run(["cc", "-std=c11", "-I", INCLUDE, str(src), "-o", str(exe)], check=True)
    got = dict(line.split() for line in subprocess.run([str(exe)], check=True, capture_output=True,
                                                       text=True).stdout.splitlines())
    for name, cls in structs.items():
        assert int(got[name]) == ctypes.sizeof(cls), name
        for f in cls._fields_:
            assert int(got["%s.%s" % (name, f[0])]) == getattr(cls, f[0]).offset, "%s.%s" % (name, f[0])
    # every struct the package binds is in the headers
    assert set(_structs.C_STRUCTS) == set(structs)
