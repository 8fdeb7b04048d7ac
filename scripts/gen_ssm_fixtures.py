#!/usr/bin/env python3
"""Golden fixtures for longctx's Mamba and Mamba-2 layers (tests/test_ssm_golden.c).

Builds one Hugging Face transformers MambaMixer and one Mamba2Mixer from a tiny config on
the CPU, replaces every parameter by seeded random draws, runs the layers on random inputs
(their plain PyTorch paths: MambaMixer.slow_forward, Mamba2Mixer.torch_forward) and writes
inputs, weights and outputs as a small text file per layer:

    # comment lines
    int NAME VALUE                      (config integers)
    float NAME VALUE                    (config reals)
    tensor NAME DIM0 [DIM1 ...]         followed by one line of the values, row-major

Usage: python3 scripts/gen_ssm_fixtures.py OUTDIR   (then copy OUTDIR/*.txt to tests/fixtures/ssm/)
"""
import inspect
import math
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers
from transformers import Mamba2Config, MambaConfig
from transformers.models.mamba.modeling_mamba import MambaMixer
from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer


class Writer:
    def __init__(self, path, title):
        self.f = open(path, "w")
        self.f.write(f"# {title}\n# torch {torch.__version__}, transformers {transformers.__version__}\n")

    def int(self, name, v):
        self.f.write(f"int {name} {int(v)}\n")

    def float(self, name, v):
        self.f.write(f"float {name} {float(v):.9g}\n")

    def tensor(self, name, t):
        t = t.detach().to(torch.float32).contiguous()
        self.f.write(f"tensor {name} {' '.join(str(s) for s in t.shape)}\n")
        self.f.write(" ".join(f"{x:.9g}" for x in t.flatten().tolist()) + "\n")

    def close(self):
        self.f.close()


def randomise(module, special):
    """Every parameter from N(0, 0.3^2) unless `special` names another draw."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in special:
                p.copy_(special[name](p.shape))
            else:
                p.copy_(torch.randn(p.shape) * 0.3)


def describe(module, name):
    print(f"== {name}: {type(module).__module__}.{type(module).__name__}")
    for k, v in module.state_dict().items():
        print(f"   {k} {tuple(v.shape)}")
    fwd = getattr(module, "slow_forward", None) or getattr(module, "torch_forward", None)
    print("   plain path signature:", inspect.signature(fwd) if fwd else "?")


def mamba(outdir):
    cfg = MambaConfig(vocab_size=16, hidden_size=16, state_size=8, expand=2, conv_kernel=4, time_step_rank=4,
                      num_hidden_layers=1, use_bias=True, use_conv_bias=True, hidden_act="silu", use_mambapy=False)
    torch.manual_seed(1234)
    m = MambaMixer(cfg, layer_idx=0).eval()
    randomise(m, {
        "A_log": lambda s: torch.randn(s) * 0.5,
        "D": lambda s: torch.randn(s),
        "dt_proj.bias": lambda s: torch.randn(s) * 0.5 - 1.0,
    })
    describe(m, "MambaMixer")
    w = Writer(os.path.join(outdir, "mamba.txt"), "transformers MambaMixer (PyTorch path, CPU, f32), random weights")
    w.int("hidden_size", m.hidden_size)
    w.int("intermediate_size", m.intermediate_size)
    w.int("state_size", m.ssm_state_size)
    w.int("conv_kernel", m.conv_kernel_size)
    w.int("time_step_rank", m.time_step_rank)
    for k, v in m.state_dict().items():
        w.tensor(k, v)
    with torch.no_grad():
        for n in (1, 5, 19):
            x = torch.randn(2, n, cfg.hidden_size)
            y = m(x)
            w.tensor(f"input_{n}", x)
            w.tensor(f"output_{n}", y)
            print(f"   n={n}: |y| max {y.abs().max().item():.4g}")
    w.close()


def mamba2(outdir):
    cfg = Mamba2Config(vocab_size=16, hidden_size=16, num_heads=4, head_dim=8, expand=2, n_groups=2, state_size=8,
                       conv_kernel=4, chunk_size=8, num_hidden_layers=1, use_bias=True, use_conv_bias=True,
                       hidden_act="silu", rms_norm=True, layer_norm_epsilon=1e-5, time_step_limit=(0.0, float("inf")))
    torch.manual_seed(5678)
    m = Mamba2Mixer(cfg, layer_idx=0).eval()
    randomise(m, {
        "A_log": lambda s: torch.randn(s) * 0.5,
        "D": lambda s: torch.randn(s),
        "dt_bias": lambda s: torch.randn(s) * 0.5 - 1.0,
        "norm.weight": lambda s: 1.0 + 0.2 * torch.randn(s),
    })
    describe(m, "Mamba2Mixer")
    # Which gated RMSNorm this version computes: over the whole intermediate size, or per group.
    with torch.no_grad():
        xs, gs = torch.randn(1, 1, m.intermediate_size), torch.randn(1, 1, m.intermediate_size)
        got = m.norm(xs, gs)
        h = xs * torch.nn.functional.silu(gs)
        eps = m.norm.variance_epsilon
        full = m.norm.weight * h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
        hg = h.view(1, 1, m.n_groups, -1)
        grouped = m.norm.weight * (hg * torch.rsqrt(hg.pow(2).mean(-1, keepdim=True) + eps)).view_as(h)
        ef, eg = (got - full).abs().max().item(), (got - grouped).abs().max().item()
        norm_group = m.intermediate_size if ef <= eg else m.intermediate_size // m.n_groups
        print(f"   gated norm: err vs whole-width {ef:.3g}, vs per-group {eg:.3g} -> group size {norm_group}")
    lim = tuple(float(v) for v in m.time_step_limit)
    w = Writer(os.path.join(outdir, "mamba2.txt"), "transformers Mamba2Mixer (PyTorch path, CPU, f32), random weights")
    w.int("hidden_size", m.hidden_size)
    w.int("intermediate_size", m.intermediate_size)
    w.int("num_heads", m.num_heads)
    w.int("head_dim", m.head_dim)
    w.int("n_groups", m.n_groups)
    w.int("state_size", m.ssm_state_size)
    w.int("conv_kernel", m.conv_kernel_size)
    w.int("chunk_size", m.chunk_size)
    w.int("norm_group_size", norm_group)
    w.float("norm_eps", m.norm.variance_epsilon)
    w.float("dt_min", lim[0])
    w.float("dt_max", lim[1] if math.isfinite(lim[1]) else 3.0e38)
    for k, v in m.state_dict().items():
        w.tensor(k, v)
    with torch.no_grad():
        for n in (1, 8, 21):
            x = torch.randn(2, n, cfg.hidden_size)
            y = m(x)
            w.tensor(f"input_{n}", x)
            w.tensor(f"output_{n}", y)
            print(f"   n={n}: |y| max {y.abs().max().item():.4g}")
    w.close()


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    failed = 0
    for fn in (mamba, mamba2):
        try:
            fn(outdir)
        except Exception:  # report and go on: one layer's fixture is still worth having
            import traceback
            traceback.print_exc()
            failed = 1
    if os.environ.get("SSM_FIXTURE_SOURCES"):  # keep the exact source the fixtures came from
        for cls in (MambaMixer, Mamba2Mixer):
            with open(os.path.join(outdir, f"source_{cls.__name__}.py"), "w") as f:
                f.write(inspect.getsource(inspect.getmodule(cls)))
    sys.exit(failed)


if __name__ == "__main__":
    main()
