#!/usr/bin/env python3
"""The peers of bench/cuda/gpu_mla.cu (MLA decode, one new token, bf16), on its shapes
(tests/cases/mla_cases.c, MLA_BENCH_GPU) where they fit in memory:

  sdpa-mha     PyTorch SDPA on the decompressed heads, as a model without absorption runs
               it: k = [W_UK c ; k_rope] (192 values per head), v = W_UV c (128), cached for
               every head, so a step reads 2 x 160 x 2 bytes per head per token (heads 128:
               71x the 1152-byte latent). Timed on the cached k and v (decompression not
               counted); skipped where k and v pass 24 GB.
  torch-mqa    the absorbed form in PyTorch: S = Q_lat C^T (bmm), softmax in f32, O = P C[:, :512]
               (bmm), one sequence's heads as the rows of one matrix: the same bytes and FLOPs
               as gpu_mla's "core".

Run on the GPU machine (PyTorch is there); prints a table and writes JSON.

    python3 bench/gpu_mla_peers.py [--quick] [--json PATH]
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F


def time_ms(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    while len(times) < 30 and (len(times) < 3 or sum(times) < 300.0):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    dev = torch.device("cuda")
    R, P, NOPE, DV = 512, 64, 128, 128
    batches, heads, lengths = ([1, 64], [16, 128], [4096, 16384]) if args.quick else ([1, 8, 64], [16, 128], [4096, 16384, 65536])
    results = []
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'peer':10} {'batch':>5} {'heads':>5} {'tokens':>7} {'ms':>9} {'GB read':>8} {'TB/s':>6} {'TFLOP/s':>8}")

    def record(peer, b, h, n, ms, bytes_read, flops):
        tbps, tflops = bytes_read / (ms * 1e-3) * 1e-12, flops / (ms * 1e-3) * 1e-12
        results.append({"peer": peer, "batch": b, "heads": h, "tokens": n, "ms": ms, "bytes": bytes_read, "tbps": tbps, "tflops": tflops})
        print(f"{peer:10} {b:5d} {h:5d} {n:7d} {ms:9.3f} {bytes_read * 1e-9:8.3f} {tbps:6.2f} {tflops:8.1f}", flush=True)

    for b in batches:
        for h in heads:
            for n in lengths:
                # SDPA on decompressed heads: q [b, h, 1, 192], k [b, h, n, 192], v [b, h, n, 128]
                kv_bytes = b * h * n * (NOPE + P + DV) * 2
                if kv_bytes <= 24e9:
                    try:
                        q = torch.randn(b, h, 1, NOPE + P, device=dev, dtype=torch.bfloat16)
                        k = torch.randn(b, h, n, NOPE + P, device=dev, dtype=torch.bfloat16)
                        v = torch.randn(b, h, n, DV, device=dev, dtype=torch.bfloat16)
                        ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
                        record("sdpa-mha", b, h, n, ms, kv_bytes, 2.0 * b * h * n * (NOPE + P + DV))
                        del q, k, v
                    except Exception as e:  # a backend may refuse a shape
                        print(f"sdpa-mha b={b} h={h} n={n}: {e}", file=sys.stderr)
                    torch.cuda.empty_cache()
                # the absorbed form: one sequence's h query rows against its n latents
                try:
                    lat = torch.randn(b, n, R + P, device=dev, dtype=torch.bfloat16)
                    ql = torch.randn(b, h, R + P, device=dev, dtype=torch.bfloat16)
                    scale = (NOPE + P) ** -0.5

                    def mqa():
                        s = torch.bmm(ql, lat.transpose(1, 2)).float() * scale
                        p = torch.softmax(s, dim=-1).to(torch.bfloat16)
                        return torch.bmm(p, lat[:, :, :R])

                    ms = time_ms(mqa)
                    record("torch-mqa", b, h, n, ms, b * n * (R + P) * 2.0, 2.0 * b * h * n * (R + P + R))
                    del lat, ql
                except Exception as e:
                    print(f"torch-mqa b={b} h={h} n={n}: {e}", file=sys.stderr)
                torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gpu_mla_peers", "device": torch.cuda.get_device_name(), "torch": torch.__version__, "cases": results}, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
