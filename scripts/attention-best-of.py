#!/usr/bin/env python3
"""Merge several runs of build/bench/attention (their --json files) into one table: per row
(method, n, d, mask, dtype) the fastest run and its GFLOP/s, as a fraction of the highest
OpenBLAS sgemm ceiling and of the highest tile-product ceiling any run measured (the runs
share a noisy machine: the best of each row is the closest to what the code can do, the
highest ceilings the strictest yardsticks).

    scripts/attention-best-of.py [--command CMD] OUT.json OUT.txt RUN.json [RUN.json ...]

CMD, the command line that made the runs and this merge, becomes the table's first line
("$ CMD") and the JSON's "command".
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
    sgemm = max(d["sgemm_gflops"] for d in data)
    tile = max(d["tile_gflops"] for d in data)
    best = {}
    order = []
    for name, d in zip(runs, data):
        for c in d["cases"]:
            key = (c["method"], c["n"], c["d"], c["mask"], c.get("window", 0), c["dtype"])
            if key not in best:
                order.append(key)
            if "seconds" in c and (key not in best or c["seconds"] < best[key][0]["seconds"]):
                best[key] = (c, os.path.basename(name))
    lines = ["$ " + command] if command else []
    lines += [
        "attention: %d threads, %s path; OpenBLAS %s sgemm %s GFLOP/s; longctx tile product %s GFLOP/s"
        % (data[0]["threads"], data[0]["isa"], data[0].get("openblas_core", "?"), ", ".join("%.1f" % d["sgemm_gflops"] for d in data),
           ", ".join("%.1f" % d["tile_gflops"] for d in data)),
        "best of %d runs per row (%s); fractions of the highest ceilings: sgemm %.1f, tile product %.1f GFLOP/s"
        % (len(runs), " ".join(os.path.basename(r) for r in runs), sgemm, tile),
        "%-6s %8s %4s %-12s %-5s %10s %9s %8s %8s  %s" % ("method", "n", "d", "mask", "dtype", "time ms", "GFLOP/s", "of sgemm", "of tile", "run"),
    ]
    rows = []
    for key in order:
        if key not in best:
            continue
        c, name = best[key]
        mask = "window %d" % c["window"] if c["mask"] == "window" else c["mask"]
        rows.append(dict(c, fraction_of_sgemm=c["gflops"] / sgemm, fraction_of_tile=c["gflops"] / tile, run=name))
        lines.append("%-6s %8d %4d %-12s %-5s %10.2f %9.1f %7.1f%% %7.1f%%  %s"
                     % (c["method"], c["n"], c["d"], mask, c["dtype"], c["seconds"] * 1e3, c["gflops"], 100 * c["gflops"] / sgemm,
                        100 * c["gflops"] / tile, name))
    merged = {"command": command} if command else {}
    merged.update({k: data[0][k] for k in ("benchmark", "threads", "isa") if k in data[0]})
    merged.update(openblas_core=data[0].get("openblas_core"), sgemm_gflops=sgemm, tile_gflops=tile, runs=runs, cases=rows)
    json.dump(merged, open(out_json, "w"), indent=1)
    open(out_txt, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
