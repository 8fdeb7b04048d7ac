#!/usr/bin/env python3
"""Compare longctx's flash kernel with its peers over several alternating rounds of
`gpu_attention --json` and `bench/gpu_attention_peers.py --json` run in one device call
(round r: OURS_r then PEERS_r). A single round moves by about +-5% between calls and
within one, so each cell gets every round's time ratio and the ratio of the medians.

    scripts/gpu-attention-rounds.py OUT.txt OURS_1.json PEERS_1.json [OURS_2.json PEERS_2.json ...]
"""
import json
import statistics
import sys


def main():
    if len(sys.argv) < 4 or len(sys.argv) % 2:
        sys.exit(__doc__)
    out, files = sys.argv[1], sys.argv[2:]
    ours, peers = {}, {}
    for i in range(0, len(files), 2):
        for c in json.load(open(files[i]))["cases"]:
            mask = "window %d" % c["window"] if c["window"] else c["mask"]
            ours.setdefault((c["n"], c["d"], mask), []).append(c["ms"])
        for c in json.load(open(files[i + 1]))["cases"]:
            peers.setdefault((c["peer"], c["n"], c["d"], c["mask"]), []).append(c["ms"])
    rounds = len(files) // 2
    dev = json.load(open(files[0]))["device"]
    lines = [
        "flash attention, B=1 H=16 bf16, %s: %d alternating rounds (ours, then the peers)" % (dev, rounds),
        "time ratios peer / ours in %: each round, then the ratio of the medians",
        "%6s %4s %-12s %10s  %-20s %8s  %-20s %8s" % ("N", "D", "mask", "ours ms", "vs cuDNN per round", "median", "vs flash per round", "median"),
    ]
    for (n, d, mask), t in ours.items():
        cols = []
        for peer in ("sdpa-cudnn", "sdpa-flash") if not mask.startswith("window") else ("flex-window",):
            p = peers.get((peer, n, d, mask))
            if not p:
                continue
            per = " ".join("%4.0f" % (100 * b / a) for a, b in zip(t, p))
            cols.append("%-20s %7.0f%%" % (per, 100 * statistics.median(p) / statistics.median(t)))
        if mask.startswith("window") and cols:
            cols[0] += "  (FlexAttention)"
        lines.append("%6d %4d %-12s %10.3f  %s" % (n, d, mask, statistics.median(t), "  ".join(cols)))
    open(out, "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
