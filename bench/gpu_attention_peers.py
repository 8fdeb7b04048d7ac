#!/usr/bin/env python3
"""The peers of bench/cuda/gpu_attention.cu, on the same shapes (its cases in
tests/cases/attention_cases.c): PyTorch SDPA with its flash backend, SDPA with its cuDNN
backend, and FlexAttention for the sliding window. Run on the GPU machine (PyTorch is
there); prints a table and writes JSON.

    python3 bench/gpu_attention_peers.py [--quick] [--json bench/results/gpu_attention_peers.json]
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def time_ms(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    reps, total = 0, 0.0
    while reps < 20 and total < 300.0:
        start.record()
        fn()
        end.record()
        end.synchronize()
        total += start.elapsed_time(end)
        reps += 1
    return total / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default="bench/results/gpu_attention_peers.json")
    args = ap.parse_args()
    B, H = 1, 16
    lengths = [1024, 2048, 4096, 8192, 16384, 32768][: 3 if args.quick else 6]
    dev = torch.device("cuda")
    results = []
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'peer':12} {'N':>6} {'D':>4} {'mask':12} {'time ms':>10} {'TFLOP/s':>9}")

    def record(peer, n, d, mask, ms, pairs):
        tflops = 4.0 * B * H * pairs * d / (ms * 1e-3) * 1e-12
        results.append({"peer": peer, "batch": B, "heads": H, "n": n, "d": d, "mask": mask, "ms": ms, "tflops": tflops})
        print(f"{peer:12} {n:6d} {d:4d} {mask:12} {ms:10.3f} {tflops:9.1f}", flush=True)

    for d in (64, 128):
        for causal in (False, True):
            for n in lengths:
                q, k, v = (torch.randn(B, H, n, d, device=dev, dtype=torch.bfloat16) for _ in range(3))
                pairs = n * n / 2 if causal else n * n
                for peer, backend in (("sdpa-flash", SDPBackend.FLASH_ATTENTION), ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION)):
                    try:
                        with sdpa_kernel(backend):
                            ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                        record(peer, n, d, "causal" if causal else "full", ms, pairs)
                    except Exception as e:  # a backend may refuse a shape
                        print(f"{peer} N={n} D={d}: {e}", file=sys.stderr)
                del q, k, v

    # FlexAttention, causal sliding window of 4096 (Mistral), N = 32K (8K when --quick), D = 128
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        n, d, w = (8192 if args.quick else 32768), 128, 4096
        q, k, v = (torch.randn(B, H, n, d, device=dev, dtype=torch.bfloat16) for _ in range(3))

        def window(b, h, qi, kj):
            return (kj <= qi) & (qi - kj < w)

        block_mask = create_block_mask(window, None, None, n, n, device=dev)
        flex = torch.compile(flex_attention)
        ms = time_ms(lambda: flex(q, k, v, block_mask=block_mask))
        pairs = sum(min(i + 1, w) for i in range(n))
        record("flex-window", n, d, "window 4096", ms, pairs)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
        record("sdpa-flash", n, d, "causal(dense)", ms, n * n / 2)
    except Exception as e:
        print(f"flex attention: {e}", file=sys.stderr)

    with open(args.json, "w") as f:
        json.dump({"benchmark": "gpu_attention_peers", "device": torch.cuda.get_device_name(), "torch": torch.__version__, "cases": results}, f, indent=2)
    print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
