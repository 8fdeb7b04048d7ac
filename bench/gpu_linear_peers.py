#!/usr/bin/env python3
"""The PyTorch peers of bench/cuda/gpu_linear.cu, on its shapes (B = 1, 16 heads, f32, 4K /
16K / 64K tokens): the chunked forms written in plain PyTorch (batched matrix products and
cumulative sums, as a user without a fused kernel would write them):
  * causal linear attention with elu+1 features, normalised, chunks of 64: the masked
    products inside each chunk, the states before each chunk as an exclusive cumulative sum
    of the chunks' own states;
  * Mamba-2's SSD, 16 heads of 128 channels, state 128, one group, chunks of 64 and 256: the
    decay-masked products inside each chunk, the states entering each chunk through the
    chunk-to-chunk decay matrix.
Each form is first checked against a float64 recurrence at 300 tokens. flash-linear-attention
is not installed on the GPU machine, so it is not a peer here. Prints a table; --json writes it.

    python3 bench/gpu_linear_peers.py [--quick] [--json PATH]
"""
import argparse
import json

import torch
import torch.nn.functional as F


def time_ms(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    while len(times) < 20 and sum(times) < 300.0:
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def linear_chunked(q, k, v, L):
    """q, k, v: [B, H, n, d]; causal, elu+1, normalised."""
    B, H, n, d = q.shape
    pad = (-n) % L
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    if pad:
        fq, fk, v = (F.pad(t, (0, 0, 0, pad)) for t in (fq, fk, v))
    C = (n + pad) // L
    fq, fk, v = (t.reshape(B, H, C, L, -1) for t in (fq, fk, v))
    A = (fq @ fk.transpose(-1, -2)).tril()                   # in-chunk scores [B, H, C, L, L]
    S = fk.transpose(-1, -2) @ v                             # each chunk's state [B, H, C, F, dv]
    z = fk.sum(-2)                                           # [B, H, C, F]
    S_prev, z_prev = S.cumsum(2) - S, z.cumsum(2) - z        # the state before each chunk
    num = A @ v + fq @ S_prev
    den = A.sum(-1) + (fq * z_prev.unsqueeze(-2)).sum(-1)
    return (num / den.unsqueeze(-1)).reshape(B, H, C * L, -1)[:, :, :n]


def ssd_chunked(x, dt, A, Bm, Cm, L):
    """x [B, n, H, P], dt [B, n, H] (after softplus), A [H], Bm, Cm [B, n, N] (one group); zero start state."""
    Bsz, n, H, P = x.shape
    pad = (-n) % L
    if pad:
        x, dt, Bm, Cm = F.pad(x, (0, 0, 0, 0, 0, pad)), F.pad(dt, (0, 0, 0, pad)), F.pad(Bm, (0, 0, 0, pad)), F.pad(Cm, (0, 0, 0, pad))
    C = (n + pad) // L
    x, dt, Bm, Cm = x.reshape(Bsz, C, L, H, P), dt.reshape(Bsz, C, L, H), Bm.reshape(Bsz, C, L, -1), Cm.reshape(Bsz, C, L, -1)
    a = (dt * A).permute(0, 3, 1, 2)                         # [B, H, C, L]
    s = a.cumsum(-1)
    causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp((s.unsqueeze(-1) - s.unsqueeze(-2)).masked_fill(~causal, float("-inf")))  # [B, H, C, L, L]
    CB = Cm @ Bm.transpose(-1, -2)                           # [B, C, L, L]
    xdt = x * dt.unsqueeze(-1)                               # [B, C, L, H, P]
    M = CB.unsqueeze(1) * decay                              # [B, H, C, L, L]
    y = torch.einsum("bhcrt,bcthp->bcrhp", M, xdt)
    w = torch.exp(s[..., -1:] - s)                           # [B, H, C, L]
    S = torch.einsum("bhct,bcthp,bctn->bchpn", w, xdt, Bm)   # each chunk's own state
    tot = s[..., -1]                                         # [B, H, C]
    cs = tot.cumsum(-1)
    chunk_decay = torch.exp((cs.unsqueeze(-1) - cs.unsqueeze(-2) - tot.unsqueeze(-1)).masked_fill(
        ~torch.ones(C, C, dtype=torch.bool, device=x.device).tril(-1), float("-inf")))  # [B, H, C, C']: c' < c
    Hin = torch.einsum("bhcd,bdhpn->bchpn", chunk_decay, S)  # the state entering each chunk
    y = y + torch.einsum("bcrn,bchpn,bhcr->bcrhp", Cm, Hin, torch.exp(s))
    return y.reshape(Bsz, C * L, H, P)[:, :n]


def check(dev):
    torch.manual_seed(0)
    n, H, d = 300, 2, 8
    q, k, v = (torch.randn(1, H, n, d, device=dev) * 0.5 for _ in range(3))
    fq, fk = (F.elu(t.double()) + 1 for t in (q, k))
    A = (fq @ fk.transpose(-1, -2)).tril()
    want = (A @ v.double()) / A.sum(-1, keepdim=True)
    err = (linear_chunked(q, k, v, 64).double() - want).abs().max().item() / want.abs().max().item()
    assert err < 1e-4, f"linear chunked form: {err}"
    P, N = 4, 8
    x, Bm, Cm = torch.randn(1, n, H, P, device=dev), torch.randn(1, n, N, device=dev), torch.randn(1, n, N, device=dev)
    dt, Av = F.softplus(torch.randn(1, n, H, device=dev) - 1), -torch.exp(torch.randn(H, device=dev))
    h, ys = torch.zeros(1, H, P, N, dtype=torch.float64, device=dev), []
    for t in range(n):
        dA = torch.exp(dt[:, t].double() * Av.double())                 # [1, H]
        h = dA[..., None, None] * h + (dt[:, t, :, None].double() * x[:, t].double())[..., None] * Bm[:, t, None, None, :].double()
        ys.append((h * Cm[:, t, None, None, :].double()).sum(-1))
    want = torch.stack(ys, 1)
    for L in (64, 256):
        err = (ssd_chunked(x, dt, Av, Bm, Cm, L).double() - want).abs().max().item() / want.abs().max().item()
        assert err < 1e-4, f"ssd chunked form, chunk {L}: {err}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # f32 products, as the CUDA kernels
    check(dev)
    H, D, N = 16, 128, 128
    lengths = [4096] if args.quick else [4096, 16384, 65536]
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}; chunked forms checked against float64 recurrences")
    print(f"{'peer':26} {'N':>7} {'time ms':>10}")
    results = []
    for n in lengths:
        q, k, v = (torch.randn(1, H, n, D, device=dev) * 0.5 for _ in range(3))
        cases = [("torch linear elu1 c64", lambda: linear_chunked(q, k, v, 64))]
        x, Bm, Cm = torch.randn(1, n, H, D, device=dev), torch.randn(1, n, N, device=dev), torch.randn(1, n, N, device=dev)
        dt, Av = F.softplus(torch.randn(1, n, H, device=dev) - 1), -torch.exp(torch.randn(H, device=dev))
        for L in (64, 256):
            cases.append((f"torch ssd chunk {L}", lambda L=L: ssd_chunked(x, dt, Av, Bm, Cm, L)))
        for name, fn in cases:
            try:
                ms = time_ms(fn)
            except torch.OutOfMemoryError:
                print(f"{name:26} {n:7d} {'out of memory':>10}", flush=True)
                torch.cuda.empty_cache()
                continue
            results.append({"peer": name, "n": n, "ms": ms})
            print(f"{name:26} {n:7d} {ms:10.3f}", flush=True)
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gpu_linear_peers", "device": torch.cuda.get_device_name(), "cases": results}, f, indent=1)


if __name__ == "__main__":
    main()
