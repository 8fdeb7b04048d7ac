#!/usr/bin/env python3
"""Rewrites a .cu file for the CPU stand-in (cuda_runtime.h here): kernel<<<cfg>>>(args)
becomes emu_launch(kernel, emu_cfg(cfg), args), and the dynamic shared array a pointer
into the launch's buffer.   to_cpp.py IN.cu OUT.cpp"""
import re
import sys

src = open(sys.argv[1]).read()
src = re.sub(r"extern __shared__ (\w+) (\w+)\[\];", r"\1 *\2 = (\1 *)emu_dynamic_shared();", src)
out, i = [], 0
for m in re.finditer(r"([\w:]+(?:<[^<>;]*>)?)<<<(.*?)>>>\(", src, re.S):
    out.append(src[i:m.start()])
    out.append(f"emu_launch({m.group(1)}, emu_cfg({m.group(2)}), ")
    i = m.end()
out.append(src[i:])
open(sys.argv[2], "w").write("".join(out))
