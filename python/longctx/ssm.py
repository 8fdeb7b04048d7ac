"""Selective state-space models: Mamba's selective scan, Mamba-2's SSD (chunked, step and
reference) and both mixer layers (include/longctx/ssm.h, docs/ssm.md).

Every array here is C-contiguous float32 (these entry points take plain pointers, no
strides); states are caller-owned, all zeros at the start of a sequence, and every call
continues from them and leaves the final state there."""
import ctypes

import numpy as np

from . import _array
from ._lib import call, fn, refuse
from ._structs import (CMamba2Weights, CMambaWeights, CMixerIO, CSelectiveScan, CSsd, POINTER, c_float, c_int,
                       c_int64)
from .core import isa_code

_softplus = fn("lc_softplus", c_float, [c_float])
_scan_check = fn("lc_selective_scan_check", c_int, [POINTER(CSelectiveScan)])
_scan_f32 = fn("lc_selective_scan_f32", c_int, [POINTER(CSelectiveScan)])
_scan_naive = fn("lc_selective_scan_naive", c_int, [POINTER(CSelectiveScan)])
_ssd_check = fn("lc_ssd_check", c_int, [POINTER(CSsd)])
_ssd_naive = fn("lc_ssd_naive", c_int, [POINTER(CSsd)])
_ssd_step = fn("lc_ssd_step", c_int, [POINTER(CSsd)])
_ssd_ws = fn("lc_ssd_workspace_size", ctypes.c_size_t, [POINTER(CSsd)])
_ssd_chunked = fn("lc_ssd_chunked", c_int, [POINTER(CSsd), ctypes.c_void_p, ctypes.c_size_t])
_ssd_chunked_alloc = fn("lc_ssd_chunked_alloc", c_int, [POINTER(CSsd)])
_m1_check = fn("lc_mamba_weights_check", c_int, [POINTER(CMambaWeights)])
_m2_check = fn("lc_mamba2_weights_check", c_int, [POINTER(CMamba2Weights)])
_m1_conv = fn("lc_mamba_conv_state_floats", c_int64, [POINTER(CMambaWeights), c_int64])
_m1_ssm = fn("lc_mamba_ssm_state_floats", c_int64, [POINTER(CMambaWeights), c_int64])
_m2_conv = fn("lc_mamba2_conv_state_floats", c_int64, [POINTER(CMamba2Weights), c_int64])
_m2_ssm = fn("lc_mamba2_ssm_state_floats", c_int64, [POINTER(CMamba2Weights), c_int64])
_m1_prefill = fn("lc_mamba_prefill", c_int, [POINTER(CMambaWeights), POINTER(CMixerIO)])
_m1_step = fn("lc_mamba_step", c_int, [POINTER(CMambaWeights), POINTER(CMixerIO)])
_m2_prefill = fn("lc_mamba2_prefill", c_int, [POINTER(CMamba2Weights), POINTER(CMixerIO)])
_m2_step = fn("lc_mamba2_step", c_int, [POINTER(CMamba2Weights), POINTER(CMixerIO)])


def softplus(x):
    """softplus as PyTorch computes it (lc_softplus): x above 20 passes through, else
    log(1 + exp(x)). Scalar or array (float32)."""
    if np.isscalar(x):
        return float(_softplus(float(x)))
    a = np.asarray(x, dtype=np.float32)
    return np.vectorize(lambda t: _softplus(float(t)), otypes=[np.float32])(a)


def _new_or(arr, name, shape):
    if arr is None:
        return np.zeros(shape, dtype=np.float32)
    a, _ = _array.f32(arr, name, shape=shape, writable=True)
    return a


def selective_scan(x, dt, A, B, C, *, D=None, z=None, dt_bias=None, state=None, method="f32", out=None, threads=0,
                   isa="auto"):
    """Mamba's selective scan (Gu and Dao 2023): returns (y, state).

        dt_t[d]  = softplus(dt[t, d] + dt_bias[d])
        h[d, i] <- exp(dt_t[d] A[d, i]) h[d, i] + dt_t[d] B[t, i] x[t, d]
        y[t, d]  = (sum_i C[t, i] h[d, i] + D[d] x[t, d]) * silu(z[t, d])     (no gate when z is None)

    x, dt, z  float32 [batch, n, channels] (x after the convolution and activation; dt
              without its bias)
    A         float32 [channels, state] (A = -exp(A_log))      B, C  float32 [batch, n, state]
    D, dt_bias  float32 [channels] or None
    state     float32 [batch, channels, state]: the start state, updated in place to the
              final one (None: zeros, returned)
    method    "f32" (the kernel: channels in parallel, AVX-512/AVX2 inner loop) or "naive"
              (the float64 recurrence; the state is read and written as float32)"""
    xa, _ = _array.f32(x, "x", shape=(None, None, None))
    batch, n, ch = xa.shape
    As, _ = _array.f32(A, "A", shape=(ch, None))
    N = As.shape[1]
    arrs = {"x": xa, "A": As,
            "dt": _array.f32(dt, "dt", shape=(batch, n, ch))[0],
            "B": _array.f32(B, "B", shape=(batch, n, N))[0], "C": _array.f32(C, "C", shape=(batch, n, N))[0],
            "D": _array.f32(D, "D", shape=(ch,), optional=True)[0],
            "z": _array.f32(z, "z", shape=(batch, n, ch), optional=True)[0],
            "dt_bias": _array.f32(dt_bias, "dt_bias", shape=(ch,), optional=True)[0]}
    y = _new_or(out, "out", (batch, n, ch))
    h = _new_or(state, "state", (batch, ch, N))
    s = CSelectiveScan()
    s.batch, s.n, s.channels, s.state = batch, n, ch, N
    for name, a in arrs.items():
        setattr(s, name, _array.ptr(a))
    s.y, s.h, s.h_floats = _array.ptr(y), _array.ptr(h), h.size
    s.threads, s.isa = int(threads), isa_code(isa)
    if method == "f32":
        call(_scan_f32, ctypes.byref(s))
    elif method == "naive":
        call(_scan_naive, ctypes.byref(s))
    else:
        refuse("method '%s' is not 'f32' or 'naive'" % method)
    return y, h


def _ssd_desc(x, dt, A, B, C, D, dt_bias, dt_min, dt_max, state, chunk, out, threads, isa="auto"):
    xa, _ = _array.f32(x, "x", shape=(None, None, None, None))
    batch, n, H, P = xa.shape
    Ba, _ = _array.f32(B, "B", shape=(batch, n, None, None))
    G, N = Ba.shape[2], Ba.shape[3]
    arrs = {"x": xa, "B": Ba, "C": _array.f32(C, "C", shape=(batch, n, G, N))[0],
            "dt": _array.f32(dt, "dt", shape=(batch, n, H))[0], "A": _array.f32(A, "A", shape=(H,))[0],
            "D": _array.f32(D, "D", shape=(H,), optional=True)[0],
            "dt_bias": _array.f32(dt_bias, "dt_bias", shape=(H,), optional=True)[0]}
    y = _new_or(out, "out", (batch, n, H, P))
    h = _new_or(state, "state", (batch, H, P, N))
    s = CSsd()
    s.batch, s.n, s.heads, s.head_dim, s.groups, s.state = batch, n, H, P, G, N
    for name, a in arrs.items():
        setattr(s, name, _array.ptr(a))
    s.dt_min, s.dt_max = float(dt_min), float(dt_max)
    s.y, s.h, s.h_floats = _array.ptr(y), _array.ptr(h), h.size
    s.chunk, s.threads, s.isa = int(chunk), int(threads), isa_code(isa)
    return s, y, h, arrs


def ssd(x, dt, A, B, C, *, D=None, dt_bias=None, dt_min=0.0, dt_max=0.0, state=None, chunk=0, method="chunked",
        out=None, threads=0, workspace=None, isa="auto"):
    """Mamba-2's state-space duality (Dao and Gu 2024): returns (y, state). For head p in group
    g = p // (heads // groups):

        dt_t[p]     = clamp(softplus(dt[t, p] + dt_bias[p]), dt_min, dt_max)   (0, 0: no clamp)
        h[p, d, i] <- exp(dt_t[p] A[p]) h[p, d, i] + dt_t[p] B[t, g, i] x[t, p, d]
        y[t, p, d]  = sum_i C[t, g, i] h[p, d, i] + D[p] x[t, p, d]

    x       float32 [batch, n, heads, head_dim]    dt  float32 [batch, n, heads]
    A       float32 [heads] (A = -exp(A_log))      B, C  float32 [batch, n, groups, state]
    D, dt_bias  float32 [heads] or None
    state   float32 [batch, heads, head_dim, state]: start state, updated in place (None: zeros)
    method  "chunked" (the SSD algorithm: chunks of `chunk` tokens, 0: 64, any length),
            "step" (the recurrence in f32, token by token: decoding; heads in parallel, the
            AVX-512/AVX2 path `isa` or the best the CPU has) or "naive" (float64)
    workspace  "chunked": a uint8 array of ssd_workspace_size(...) bytes to reuse (default:
            the call allocates its own)"""
    s, y, h, keep = _ssd_desc(x, dt, A, B, C, D, dt_bias, dt_min, dt_max, state, chunk, out, threads, isa)
    f = {"chunked": _ssd_chunked_alloc, "step": _ssd_step, "naive": _ssd_naive}.get(method)
    if f is None:
        refuse("method '%s' is not 'chunked', 'step' or 'naive'" % method)
    if workspace is not None and method == "chunked":
        ws = _array.as_array(workspace, "workspace")
        if not ws.flags.c_contiguous or not ws.flags.writeable:
            refuse("workspace must be a writable C-contiguous array")
        call(_ssd_chunked, ctypes.byref(s), ws.ctypes.data, ws.nbytes)
    else:
        call(f, ctypes.byref(s))
    del keep
    return y, h


def ssd_workspace_size(x, dt, A, B, C, *, chunk=0, threads=0):
    """Bytes of workspace the chunked SSD needs for these shapes (lc_ssd_workspace_size)."""
    s, _, _, keep = _ssd_desc(x, dt, A, B, C, None, None, 0.0, 0.0, None, chunk, None, threads)
    call(_ssd_check, ctypes.byref(s))
    return int(_ssd_ws(ctypes.byref(s)))


def mamba2_chunked(x, dt, A, B, C, chunk=64, **kw):
    """Mamba-2's chunked SSD: ssd(x, dt, A, B, C, chunk=chunk, method="chunked", ...)."""
    return ssd(x, dt, A, B, C, chunk=chunk, method="chunked", **kw)


def ssd_step(x, dt, A, B, C, **kw):
    """Mamba-2's recurrence, token by token (decoding): ssd(..., method="step")."""
    return ssd(x, dt, A, B, C, method="step", **kw)


# ---- the mixer layers ---------------------------------------------------------------------------

class MixerState:
    """The recurrent state of a mixer layer for `batch` sequences: conv (each channel's last
    conv_kernel - 1 inputs, oldest first) and ssm (the scan's h), float32, zeros at the start."""

    def __init__(self, conv, ssm):
        self.conv, self.ssm = conv, ssm

    def copy(self):
        return MixerState(self.conv.copy(), self.ssm.copy())

    def __repr__(self):
        return "MixerState(conv=%s, ssm=%s)" % (list(self.conv.shape), list(self.ssm.shape))


def _weight(w, name, shape, optional=False):
    if w is None and optional:
        return None
    if w is not None:
        w = _array.as_array(w, name)
        if shape is not None and w.ndim == len(shape) + 1 and w.ndim == 3 and w.shape[1] == 1:
            w = w.reshape(w.shape[0], w.shape[2])  # conv1d weights [channels, 1, kernel]
    return _array.f32(w, name, shape=shape, optional=optional)[0]


class _Mixer:
    _hf_names = {}

    @classmethod
    def from_state_dict(cls, sd, prefix="", **kw):
        """A layer from a transformers state_dict (NumPy float32 arrays): in_proj.weight,
        conv1d.weight, ... under `prefix` (e.g. "backbone.layers.0.mixer.")."""
        args = {}
        for ours, theirs in cls._hf_names.items():
            key = prefix + theirs
            if key in sd:
                args[ours] = np.ascontiguousarray(sd[key], dtype=np.float32)
        args.update(kw)
        return cls(**args)

    def _call(self, f_prefill, f_step, x, state, mode, out, threads, conv_shape, ssm_shape):
        xa, _ = _array.f32(x, "x", shape=(None, None, self.hidden))
        batch, n, _ = xa.shape
        if state is None:
            state = self.new_state(batch)
        if not isinstance(state, MixerState):
            refuse("state must be a longctx.MixerState (layer.new_state(batch)), not %s" % type(state).__name__)
        conv, _ = _array.f32(state.conv, "state.conv", shape=conv_shape(batch), writable=True)
        ssm_, _ = _array.f32(state.ssm, "state.ssm", shape=ssm_shape(batch), writable=True)
        y = _new_or(out, "out", (batch, n, self.hidden))
        io = CMixerIO()
        io.batch, io.n, io.x, io.y = batch, n, _array.ptr(xa), _array.ptr(y)
        io.conv_state, io.conv_state_floats = _array.ptr(conv) if conv.size else None, conv.size
        io.ssm_state, io.ssm_state_floats = _array.ptr(ssm_), ssm_.size
        io.threads = int(threads)
        w = self._c()
        if mode == "prefill":
            call(f_prefill, ctypes.byref(w), ctypes.byref(io))
        elif mode == "step":
            call(f_step, ctypes.byref(w), ctypes.byref(io))
        else:
            refuse("mode '%s' is not 'prefill' or 'step'" % mode)
        return y, state


class MambaMixer(_Mixer):
    """transformers' MambaMixer (Mamba-1), weights named as in its state_dict, float32:

        in_proj_w [2 inner, hidden]  in_proj_b [2 inner] or None
        conv_w    [inner, conv_kernel] (or [inner, 1, conv_kernel])   conv_b [inner] or None
        x_proj_w  [dt_rank + 2 state, inner]
        dt_proj_w [inner, dt_rank]   dt_proj_b [inner] or None
        A_log     [inner, state]     D [inner]
        out_proj_w [hidden, inner]   out_proj_b [hidden] or None

        dt_norm_w [dt_rank], b_norm_w, c_norm_w [state], norm_eps: Jamba's mixer only
                  (RMSNorms on delta, B and C after x_proj); None: Mamba

    Computes [x | z] = in_proj(u); x = silu(causal depthwise conv1d(x)); [delta | B | C] =
    x_proj(x); dt = dt_proj.weight delta; y = scan(x, dt, dt_proj.bias, -exp(A_log), B, C, D, z);
    out = out_proj(y). Call layer(x, state, mode="prefill" | "step") -> (y, state)."""

    _hf_names = {"in_proj_w": "in_proj.weight", "in_proj_b": "in_proj.bias", "conv_w": "conv1d.weight",
                 "conv_b": "conv1d.bias", "x_proj_w": "x_proj.weight", "dt_proj_w": "dt_proj.weight",
                 "dt_proj_b": "dt_proj.bias", "A_log": "A_log", "D": "D", "out_proj_w": "out_proj.weight",
                 "out_proj_b": "out_proj.bias", "dt_norm_w": "dt_layernorm.weight", "b_norm_w": "b_layernorm.weight",
                 "c_norm_w": "c_layernorm.weight"}

    def __init__(self, *, in_proj_w, conv_w, x_proj_w, dt_proj_w, A_log, D, out_proj_w, in_proj_b=None, conv_b=None,
                 dt_proj_b=None, out_proj_b=None, dt_norm_w=None, b_norm_w=None, c_norm_w=None, norm_eps=1e-6):
        ip = _weight(in_proj_w, "in_proj_w", (None, None))
        self.hidden, self.inner = ip.shape[1], ip.shape[0] // 2
        if ip.shape[0] % 2:
            refuse("in_proj_w has %d rows; it needs 2 * inner" % ip.shape[0])
        al = _weight(A_log, "A_log", (self.inner, None))
        self.state = al.shape[1]
        cw = _weight(conv_w, "conv_w", (self.inner, None))
        self.conv_kernel = cw.shape[1]
        dp = _weight(dt_proj_w, "dt_proj_w", (self.inner, None))
        self.dt_rank = dp.shape[1]
        E = self.inner
        self.w = {"in_proj_w": ip, "in_proj_b": _weight(in_proj_b, "in_proj_b", (2 * E,), True), "conv_w": cw,
                  "conv_b": _weight(conv_b, "conv_b", (E,), True),
                  "x_proj_w": _weight(x_proj_w, "x_proj_w", (self.dt_rank + 2 * self.state, E)),
                  "dt_proj_w": dp, "dt_proj_b": _weight(dt_proj_b, "dt_proj_b", (E,), True), "A_log": al,
                  "D": _weight(D, "D", (E,)), "out_proj_w": _weight(out_proj_w, "out_proj_w", (self.hidden, E)),
                  "out_proj_b": _weight(out_proj_b, "out_proj_b", (self.hidden,), True),
                  "dt_norm_w": _weight(dt_norm_w, "dt_norm_w", (self.dt_rank,), True),
                  "b_norm_w": _weight(b_norm_w, "b_norm_w", (self.state,), True),
                  "c_norm_w": _weight(c_norm_w, "c_norm_w", (self.state,), True)}
        self.norm_eps = float(norm_eps)
        call(_m1_check, ctypes.byref(self._c()))

    def _c(self):
        c = CMambaWeights()
        c.hidden, c.inner, c.state, c.conv_kernel, c.dt_rank = (self.hidden, self.inner, self.state,
                                                                self.conv_kernel, self.dt_rank)
        c.norm_eps = self.norm_eps
        for k, v in self.w.items():
            setattr(c, k, _array.ptr(v))
        return c

    def new_state(self, batch=1):
        """Zero states for `batch` sequences: conv [batch, inner, conv_kernel - 1], ssm [batch, inner, state]."""
        return MixerState(np.zeros((batch, self.inner, self.conv_kernel - 1), np.float32),
                          np.zeros((batch, self.inner, self.state), np.float32))

    def __call__(self, x, state=None, mode="prefill", out=None, threads=0):
        """x float32 [batch, n, hidden] -> (y [batch, n, hidden], state). mode "prefill"
        (projections as matrix products over all n tokens, then the scan) or "step" (token
        by token, scratch bounded by the width): the same result. state (MixerState, None:
        zeros) is updated in place and returned."""
        return self._call(_m1_prefill, _m1_step, x, state, mode, out, threads,
                         lambda b: (b, self.inner, self.conv_kernel - 1), lambda b: (b, self.inner, self.state))


class Mamba2Mixer(_Mixer):
    """transformers' Mamba2Mixer, weights float32 (in_proj's rows are [z | x B C | dt]):

        in_proj_w [2 inner + 2 groups state + heads, hidden]   in_proj_b or None
        conv_w    [inner + 2 groups state, conv_kernel]         conv_b or None
        dt_bias, A_log, D [heads]     norm_w [inner]     out_proj_w [hidden, inner]   out_proj_b or None

    with inner = heads * head_dim; `heads`, `groups` and `state` must be given (head_dim
    follows). norm_group: the gated RMSNorm's group width (0: the whole width, as transformers
    computes it); norm_eps; dt_min / dt_max the clamp (0, 0: none); chunk the SSD chunk (0: 64).

    [z | xBC | dt] = in_proj(u); xBC = silu(conv1d(xBC)); [x | B | C] = xBC;
    y = SSD(x, dt, dt_bias, -exp(A_log), B, C, D); g = y silu(z);
    y = norm_w g / sqrt(mean(g^2) + eps); out = out_proj(y)."""

    _hf_names = {"in_proj_w": "in_proj.weight", "in_proj_b": "in_proj.bias", "conv_w": "conv1d.weight",
                 "conv_b": "conv1d.bias", "dt_bias": "dt_bias", "A_log": "A_log", "D": "D", "norm_w": "norm.weight",
                 "out_proj_w": "out_proj.weight", "out_proj_b": "out_proj.bias"}

    def __init__(self, *, heads, groups, state, in_proj_w, conv_w, dt_bias, A_log, D, norm_w, out_proj_w,
                 in_proj_b=None, conv_b=None, out_proj_b=None, norm_group=0, norm_eps=1e-5, dt_min=0.0, dt_max=0.0,
                 chunk=0):
        self.heads, self.groups, self.state = int(heads), int(groups), int(state)
        nw = _weight(norm_w, "norm_w", (None,))
        E = nw.shape[0]
        if self.heads <= 0 or E % self.heads:
            refuse("heads=%d must be > 0 and divide the width %d of norm_w" % (self.heads, E))
        self.inner, self.head_dim = E, E // self.heads
        CD = E + 2 * self.groups * self.state
        PR = E + CD + self.heads
        ip = _weight(in_proj_w, "in_proj_w", (PR, None))
        self.hidden = ip.shape[1]
        cw = _weight(conv_w, "conv_w", (CD, None))
        self.conv_kernel = cw.shape[1]
        self.conv_channels = CD
        H = self.heads
        self.w = {"in_proj_w": ip, "in_proj_b": _weight(in_proj_b, "in_proj_b", (PR,), True), "conv_w": cw,
                  "conv_b": _weight(conv_b, "conv_b", (CD,), True), "dt_bias": _weight(dt_bias, "dt_bias", (H,)),
                  "A_log": _weight(A_log, "A_log", (H,)), "D": _weight(D, "D", (H,)), "norm_w": nw,
                  "out_proj_w": _weight(out_proj_w, "out_proj_w", (self.hidden, E)),
                  "out_proj_b": _weight(out_proj_b, "out_proj_b", (self.hidden,), True)}
        self.norm_group, self.norm_eps = int(norm_group), float(norm_eps)
        self.dt_min, self.dt_max, self.chunk = float(dt_min), float(dt_max), int(chunk)
        call(_m2_check, ctypes.byref(self._c()))

    def _c(self):
        c = CMamba2Weights()
        c.hidden, c.heads, c.head_dim, c.groups, c.state = self.hidden, self.heads, self.head_dim, self.groups, self.state
        c.conv_kernel, c.norm_group, c.norm_eps = self.conv_kernel, self.norm_group, self.norm_eps
        c.dt_min, c.dt_max, c.chunk = self.dt_min, self.dt_max, self.chunk
        for k, v in self.w.items():
            setattr(c, k, _array.ptr(v))
        return c

    def new_state(self, batch=1):
        """Zero states: conv [batch, inner + 2 groups state, conv_kernel - 1], ssm
        [batch, heads, head_dim, state]."""
        return MixerState(np.zeros((batch, self.conv_channels, self.conv_kernel - 1), np.float32),
                          np.zeros((batch, self.heads, self.head_dim, self.state), np.float32))

    def __call__(self, x, state=None, mode="prefill", out=None, threads=0):
        """x float32 [batch, n, hidden] -> (y [batch, n, hidden], state): mode "prefill" (chunked
        SSD) or "step" (the recurrence); state (MixerState, None: zeros) updated in place."""
        return self._call(_m2_prefill, _m2_step, x, state, mode, out, threads,
                         lambda b: (b, self.conv_channels, self.conv_kernel - 1),
                         lambda b: (b, self.heads, self.head_dim, self.state))
