"""NumPy float64 references written from the equations of docs/*.md (never the library's
own references): masks, attention, RoPE, linear attention, selective scan, SSD, mixers."""
import math

import numpy as np


def bits_to_f64(a, dtype=None):
    """An array as the float64 values the library reads (bf16 bit patterns widened)."""
    a = np.asarray(a)
    if a.dtype == np.uint16:
        if dtype == "f16":
            return a.view(np.float16).astype(np.float64)
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return a.astype(np.float64)


def f32_to_bf16_bits(x):
    """Round-to-nearest-even float32 -> bfloat16 bits (finite inputs)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)


# ---- masks (docs/masks.md, include/longctx/mask.h)
def mask_ref(n_q, n_kv, causal=False, window=None, dilation=0, sinks=0, global_tokens=(), stride=0, summary=0,
             blocks=None, block_size=None, q_offset=0):
    p = q_offset + np.arange(n_q)[:, None]
    j = np.arange(n_kv)[None, :]
    patterns = window is not None or len(global_tokens) > 0 or sinks > 0 or stride > 0 or blocks is not None
    allow = np.zeros((n_q, n_kv), bool) if patterns else np.ones((n_q, n_kv), bool)
    if window is not None:
        left, right = (window - 1, 0) if np.isscalar(window) else window
        d = p - j
        w = np.ones_like(allow)
        if left is not None and left >= 0:
            w &= d <= left
        if right is not None and right >= 0:
            w &= -d <= right
        if dilation > 1:
            w &= d % dilation == 0
        allow |= w
    if len(global_tokens):
        g = np.asarray(global_tokens)
        allow |= np.isin(p, g) | np.isin(j, g)
    allow |= j < sinks
    if stride > 0:
        allow |= (j % stride >= stride - summary) if summary > 0 else ((p - j) % stride == 0)
    if blocks is not None:
        bq, bk = (block_size, block_size) if np.isscalar(block_size) else block_size
        allow |= np.asarray(blocks)[p // bq, j // bk] != 0
    if causal:
        allow &= j <= p
    return allow


# ---- attention (docs/attention.md)
def attention_ref(q, k, v, allow, scale=0.0, softcap=0.0):
    """q [B, nq, H, dk], k [B, nk, Hkv, dk], v [B, nk, Hkv, dv] (float64) -> out, lse [B, H, nq]."""
    B, nq, H, dk = q.shape
    g = H // k.shape[2]
    kk, vv = np.repeat(k, g, axis=2), np.repeat(v, g, axis=2)
    s = np.einsum("bihd,bjhd->bhij", q, kk) * (scale or 1.0 / math.sqrt(dk))
    if softcap:
        s = softcap * np.tanh(s / softcap)
    s = np.where(allow[None, None], s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(s - m)
    l = e.sum(axis=-1)
    p = e / np.where(l > 0, l, 1.0)[..., None]
    out = np.einsum("bhij,bjhd->bihd", p, vv)
    lse = np.where(l > 0, m[..., 0] + np.log(np.where(l > 0, l, 1.0)), -np.inf)
    return out, lse


# ---- RoPE (docs/rope.md: Hugging Face's modeling_rope_utils)
def rope_inv_freq_ref(kind, head_dim, theta, partial=1.0, factor=0.0, max_pos=0, original_max_pos=0,
                      attention_factor=0.0, beta_fast=32.0, beta_slow=1.0, mscale=0.0, mscale_all_dim=0.0,
                      truncate=True, low_freq_factor=0.0, high_freq_factor=0.0, short_factor=None, long_factor=None,
                      seq_len=0):
    dim = int(head_dim * (partial or 1.0))
    exps = np.arange(0, dim, 2, dtype=np.float64) / dim
    base = theta
    af = 1.0
    if kind == "ntk":
        base = theta * factor ** (dim / (dim - 2))
    if kind == "dynamic":
        L = max(seq_len, max_pos)
        base = theta * (factor * L / max_pos - (factor - 1)) ** (dim / (dim - 2))
    inv = 1.0 / base ** exps
    if kind == "linear":
        inv = inv / factor
    elif kind == "yarn":
        s = factor or max_pos / original_max_pos

        def get_mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0
        if attention_factor:
            af = attention_factor
        elif mscale and mscale_all_dim:
            af = get_mscale(s, mscale) / get_mscale(s, mscale_all_dim)
        else:
            af = get_mscale(s)

        def corr(r):
            return dim * math.log(original_max_pos / (r * 2 * math.pi)) / (2 * math.log(base))
        lo, hi = corr(beta_fast or 32.0), corr(beta_slow or 1.0)
        if truncate:
            lo, hi = math.floor(lo), math.ceil(hi)
        lo, hi = max(lo, 0), min(hi, dim - 1)
        if lo == hi:
            hi += 0.001
        ramp = np.clip((np.arange(dim // 2) - lo) / (hi - lo), 0, 1)
        extrap = 1 - ramp
        inv = inv / s * (1 - extrap) + inv * extrap
    elif kind == "llama3":
        wl = 2 * math.pi / inv
        low_wl, high_wl = original_max_pos / low_freq_factor, original_max_pos / high_freq_factor
        out = np.where(wl > low_wl, inv / factor, inv)
        t = (original_max_pos / wl - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smooth = (1 - t) * out / factor + t * out
        medium = ~(wl < high_wl) & ~(wl > low_wl)
        inv = np.where(medium, smooth, out)
    elif kind == "longrope":
        s = factor or max_pos / original_max_pos
        af = attention_factor or (1.0 if s <= 1 else math.sqrt(1 + math.log(s) / math.log(original_max_pos)))
        ext = np.asarray(long_factor if seq_len > original_max_pos else short_factor, dtype=np.float64)
        inv = 1.0 / (ext * base ** exps)
    return inv, af


def rope_apply_ref(x, inv, af, positions, layout="neox"):
    """x float64 [B, S, H, head_dim]; rotates the first 2 len(inv) dims."""
    x = np.array(x, dtype=np.float64)
    half = len(inv)
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv[None, :]
    c, s = (np.cos(ang) * af)[None, :, None, :], (np.sin(ang) * af)[None, :, None, :]
    if layout == "neox":
        a, b = x[..., :half].copy(), x[..., half:2 * half].copy()
        x[..., :half], x[..., half:2 * half] = a * c - b * s, b * c + a * s
    else:
        a, b = x[..., 0:2 * half:2].copy(), x[..., 1:2 * half:2].copy()
        x[..., 0:2 * half:2], x[..., 1:2 * half:2] = a * c - b * s, b * c + a * s
    return x


# ---- linear attention (docs/linear-attention.md)
def features_ref(x, feature, omega=None):
    if feature == "elu1":
        return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))
    if feature == "relu":
        return np.maximum(x, 0)
    d = x.shape[-1]
    xs = x * d ** -0.25
    m = omega.shape[0]
    return np.exp(xs @ omega.astype(np.float64).T - 0.5 * (xs * xs).sum(-1, keepdims=True)) / math.sqrt(m)


def linear_ref(q, k, v, feature="elu1", causal=True, decay=None, normalize=True, omega=None):
    """[B, n, H, d] float64 -> out [B, n, H, dv]."""
    B, n, H, _ = q.shape
    fq, fk = features_ref(q, feature, omega), features_ref(k, feature, omega)
    a = np.einsum("bthf,bshf->bhts", fq, fk)
    t, s = np.arange(n)[:, None], np.arange(n)[None, :]
    if causal:
        g = np.ones(H) if decay is None else np.asarray(decay, dtype=np.float64)
        w = np.where(s <= t, g[:, None, None] ** np.maximum(t - s, 0)[None], 0.0)
        a = a * w[None]
    num = np.einsum("bhts,bshd->bthd", a, v)
    if not normalize:
        return num
    den = a.sum(-1).transpose(0, 2, 1)[..., None]
    return np.where(den != 0, num / np.where(den != 0, den, 1), 0.0)


# ---- SSMs (docs/ssm.md)
def softplus_ref(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def silu(x):
    return x / (1 + np.exp(-x))


def scan_ref(x, dt, A, B, C, D=None, z=None, dt_bias=None, h=None):
    """Mamba: x, dt, z [b, n, E]; A [E, N]; B, C [b, n, N]; h [b, E, N] -> y, h."""
    b, n, E = x.shape
    N = A.shape[1]
    h = np.zeros((b, E, N)) if h is None else np.array(h, dtype=np.float64)
    y = np.zeros((b, n, E))
    d = softplus_ref(dt + (0 if dt_bias is None else dt_bias))
    for t in range(n):
        h = np.exp(d[:, t, :, None] * A[None]) * h + d[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
        yt = (h * C[:, t, None, :]).sum(-1) + (0 if D is None else D * x[:, t])
        y[:, t] = yt * (1 if z is None else silu(z[:, t]))
    return y, h


def ssd_ref(x, dt, A, B, C, D=None, dt_bias=None, dt_min=0.0, dt_max=0.0, h=None):
    """Mamba-2: x [b, n, H, P]; dt [b, n, H]; A [H]; B, C [b, n, G, N] -> y, h [b, H, P, N]."""
    b, n, H, P = x.shape
    G, N = B.shape[2], B.shape[3]
    grp = np.arange(H) // (H // G)
    h = np.zeros((b, H, P, N)) if h is None else np.array(h, dtype=np.float64)
    y = np.zeros((b, n, H, P))
    d = softplus_ref(dt + (0 if dt_bias is None else dt_bias))
    if dt_min or dt_max:
        d = np.clip(d, dt_min, dt_max)
    for t in range(n):
        Bt, Ct = B[:, t][:, grp], C[:, t][:, grp]  # [b, H, N]
        h = np.exp(d[:, t] * A)[:, :, None, None] * h + (d[:, t][:, :, None] * x[:, t])[..., None] * Bt[:, :, None, :]
        y[:, t] = (h * Ct[:, :, None, :]).sum(-1) + (0 if D is None else D[None, :, None] * x[:, t])
    return y, h


def conv_ref(u, w, bias, conv_state):
    """Causal depthwise conv over time: u [b, n, ch], w [ch, K], conv_state [b, ch, K-1] (oldest
    first) -> out [b, n, ch], new state."""
    K = w.shape[1]
    full = np.concatenate([conv_state.transpose(0, 2, 1), u], axis=1)  # [b, K-1+n, ch]
    n = u.shape[1]
    out = np.zeros_like(u)
    for t in range(n):
        out[:, t] = (full[:, t:t + K] * w.T[None]).sum(1)
    if bias is not None:
        out = out + bias
    return out, full[:, n:].transpose(0, 2, 1).copy() if K > 1 else conv_state


def mamba_ref(wt, u, conv_state, ssm_state):
    """transformers' MambaMixer in float64; wt: dict of float64 weights."""
    E = wt["in_proj_w"].shape[0] // 2
    N = wt["A_log"].shape[1]
    R = wt["dt_proj_w"].shape[1]
    proj = u @ wt["in_proj_w"].T + (0 if wt.get("in_proj_b") is None else wt["in_proj_b"])
    x, z = proj[..., :E], proj[..., E:]
    xc, conv_state = conv_ref(x, wt["conv_w"], wt.get("conv_b"), conv_state)
    x = silu(xc)
    xp = x @ wt["x_proj_w"].T
    delta, Bm, Cm = xp[..., :R], xp[..., R:R + N], xp[..., R + N:]
    if wt.get("dt_norm_w") is not None:  # Jamba: RMSNorms on delta, B and C
        def rms(t, g):
            return g * t / np.sqrt((t * t).mean(-1, keepdims=True) + wt["norm_eps"])
        delta, Bm, Cm = rms(delta, wt["dt_norm_w"]), rms(Bm, wt["b_norm_w"]), rms(Cm, wt["c_norm_w"])
    dt = delta @ wt["dt_proj_w"].T
    y, h = scan_ref(x, dt, -np.exp(wt["A_log"]), Bm, Cm, wt["D"], z, wt.get("dt_proj_b"), ssm_state)
    out = y @ wt["out_proj_w"].T + (0 if wt.get("out_proj_b") is None else wt["out_proj_b"])
    return out, conv_state, h


def mamba2_ref(wt, u, conv_state, ssm_state, heads, groups, state, norm_group=0, eps=1e-5, dt_min=0.0, dt_max=0.0):
    E = wt["norm_w"].shape[0]
    P = E // heads
    GN = groups * state
    proj = u @ wt["in_proj_w"].T + (0 if wt.get("in_proj_b") is None else wt["in_proj_b"])
    z, xbc, dt = proj[..., :E], proj[..., E:2 * E + 2 * GN], proj[..., 2 * E + 2 * GN:]
    xc, conv_state = conv_ref(xbc, wt["conv_w"], wt.get("conv_b"), conv_state)
    xbc = silu(xc)
    b, n = u.shape[:2]
    x = xbc[..., :E].reshape(b, n, heads, P)
    Bm = xbc[..., E:E + GN].reshape(b, n, groups, state)
    Cm = xbc[..., E + GN:].reshape(b, n, groups, state)
    y, h = ssd_ref(x, dt, -np.exp(wt["A_log"]), Bm, Cm, wt["D"], wt["dt_bias"], dt_min, dt_max, ssm_state)
    g = y.reshape(b, n, E) * silu(z)
    ng = norm_group or E
    gg = g.reshape(b, n, E // ng, ng)
    g = (gg / np.sqrt((gg ** 2).mean(-1, keepdims=True) + eps)).reshape(b, n, E) * wt["norm_w"]
    out = g @ wt["out_proj_w"].T + (0 if wt.get("out_proj_b") is None else wt["out_proj_b"])
    return out, conv_state, h
