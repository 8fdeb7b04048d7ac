#!/usr/bin/env python3
"""Merge several runs of build/bench/decode (their --json files) into one table: per row
(layout, dtype, query, tokens) the fastest run, its GB/s and GFLOP/s, and % of the highest
memcpy any run measured (the runs share a noisy machine; the best of each is the closest
to what the code can do, and the highest memcpy the strictest yardstick). Runs that timed
a copy before each decode step also give "paired": in the fastest run, the median over its
steps of each step's GB/s against the copy just before it.

    scripts/decode-best-of.py [--command CMD] OUT.json OUT.txt RUN.json [RUN.json ...]

CMD, the command line that made the runs and this merge, becomes the table's first line
("$ CMD") and the JSON's "command" (bench/results/decode.txt gives the one it was made by).
"""
import json
import os
import sys


def main():
    args = sys.argv[1:]
    command = None
    if args[:1] == ["--command"] and len(args) > 1:
        command, args = args[1], args[2:]
    if len(args) < 3:
        sys.exit(__doc__)
    out_json, out_txt, runs = args[0], args[1], args[2:]
    data = [json.load(open(p)) for p in runs]
    peak = max(d["memcpy_gbs"] for d in data)
    best = {}
    for name, d in zip(runs, data):
        for c in d["cases"]:
            key = (c["layout"], c["dtype"], c.get("query", "f32"), c["tokens"])
            if key not in best or c["seconds"] < best[key][0]["seconds"]:
                best[key] = (c, os.path.basename(name))
    rows = []
    lines = ["$ " + command] if command else []
    lines += [
        "decode: 1 token, d=%d, %d KV heads, %d query heads, %d threads, %s path; memcpy %s GB/s"
        % (data[0]["head_dim"], data[0]["heads_kv"], data[0]["heads_q"], data[0]["threads"], data[0]["isa"],
           ", ".join("%.2f" % d["memcpy_gbs"] for d in data)),
        "best of %d runs per row (%s); %%memcpy against the highest memcpy, %.2f GB/s" % (len(runs), " ".join(os.path.basename(r) for r in runs), peak),
        "%-11s %-5s %-7s %9s %10s %8s %8s %7s %8s  %s" % ("layout", "dtype", "query", "tokens", "ms/token", "GB/s", "%memcpy", "paired", "GFLOP/s", "run"),
    ]
    for (layout, dtype, query, tokens), (c, name) in best.items():
        frac = c["gbs"] / peak
        rows.append(dict(c, query=query, fraction_of_memcpy=frac, run=name))
        paired = "%6.0f%%" % (100 * c["paired_fraction"]) if "paired_fraction" in c else "%7s" % "-"
        lines.append("%-11s %-5s %-7s %9d %10.3f %8.2f %7.0f%% %s %8.2f  %s"
                     % (layout, dtype, query, tokens, c["seconds"] * 1e3, c["gbs"], 100 * frac, paired, c["gflops"], name))
    merged = {"command": command} if command else {}
    merged.update({k: data[0][k] for k in ("threads", "isa", "head_dim", "heads_kv", "heads_q")})
    merged.update(memcpy_gbs=peak, runs=runs, cases=rows)
    json.dump(merged, open(out_json, "w"), indent=1)
    open(out_txt, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
