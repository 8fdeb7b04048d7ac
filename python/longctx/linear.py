"""Linear attention: elu+1, relu and FAVOR+ feature maps, chunkwise prefill and recurrent
decoding with an optional RetNet decay (include/longctx/linear.h, docs/linear-attention.md)."""
import ctypes

import numpy as np

from . import _array
from ._lib import call, fn, refuse
from ._structs import CLinearAttention, POINTER, P_f32, c_int, c_int64, c_size_t, c_uint64

_check = fn("lc_linear_attention_check", c_int, [POINTER(CLinearAttention)])
_features = fn("lc_linear_features", c_int64, [POINTER(CLinearAttention)])
_state_floats = fn("lc_linear_state_floats", c_int64, [POINTER(CLinearAttention)])
_naive = fn("lc_linear_attention_naive", c_int, [POINTER(CLinearAttention), c_size_t])
_ws_size = fn("lc_linear_attention_workspace_size", c_size_t, [POINTER(CLinearAttention)])
_forward = fn("lc_linear_attention_forward", c_int, [POINTER(CLinearAttention), P_f32, c_int64, ctypes.c_void_p, c_size_t])
_forward_alloc = fn("lc_linear_attention_forward_alloc", c_int, [POINTER(CLinearAttention), P_f32, c_int64])
_step = fn("lc_linear_attention_step", c_int, [POINTER(CLinearAttention), P_f32, c_int64])
_favor_draw = fn("lc_favor_draw", c_int, [P_f32, c_int64, c_int64, c_uint64, c_uint64])

FEATURES = ("elu1", "relu", "favor")


def favor_draw(features, d, seed=0, draw=0):
    """Performer's positive orthogonal random features: omega float32 [features, d], rows in
    blocks of d mutually orthogonal Gaussian directions, each rescaled to the norm of an
    independent Gaussian d-vector; a pure function of (seed, draw) (lc_favor_draw)."""
    omega = np.empty((max(int(features), 0), max(int(d), 0)), dtype=np.float32)
    call(_favor_draw, omega.ctypes.data_as(P_f32) if omega.size else ctypes.cast(ctypes.c_void_p(8), P_f32),
         int(features), int(d), int(seed) & 0xFFFFFFFFFFFFFFFF, int(draw) & 0xFFFFFFFFFFFFFFFF)
    return omega


def _describe(q, k, v, feature, causal, decay, normalize, omega, chunk, out, threads):
    q, sq = _array.as_4d(q, "q")
    k, _ = _array.as_4d(k, "k")
    v, _ = _array.as_4d(v, "v")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.dtype != np.float32:
            refuse("%s has dtype %s; linear attention takes float32" % (name, x.dtype))
    if out is None:
        out4 = np.empty(q.shape[:3] + v.shape[3:], dtype=np.float32)
        out = out4[0] if sq else out4
    else:
        out = _array.as_array(out, "out")
        out4 = out[None] if sq and out.ndim == 3 else out
        if out4.dtype != np.float32:
            refuse("out has dtype %s; linear attention writes float32" % out4.dtype)
    if feature not in FEATURES:
        refuse("feature '%s' is not one of %s" % (feature, ", ".join(FEATURES)))
    a = CLinearAttention()
    a.q, a.k, a.v = _array.tensor(q, "q", 0), _array.tensor(k, "k", 0), _array.tensor(v, "v", 0)
    a.out = _array.tensor(out4, "out", 0, writable=True)
    a.feature = FEATURES.index(feature)
    keep = [q, k, v, out4]
    if omega is not None:
        om, p = _array.f32(omega, "omega", shape=(None, q.shape[3]))
        a.omega, a.features = p, om.shape[0]
        keep.append(om)
    if decay is not None:
        dec, p = _array.f32(np.asarray(decay, dtype=np.float32).reshape(-1) if np.isscalar(decay) or
                            not isinstance(decay, np.ndarray) else decay, "decay", shape=(q.shape[2],))
        a.decay = p
        keep.append(dec)
    a.causal = 1 if causal else 0
    a.normalize = 1 if normalize else 0
    a.chunk = int(chunk)
    a.threads = int(threads)
    return a, out, keep, q.shape


def linear_attention(q, k, v, *, feature="elu1", causal=True, decay=None, normalize=True, omega=None, chunk=0,
                     state=None, method="chunked", out=None, threads=0, max_bytes=0, workspace=None):
    """Linear attention: returns (out, state).

        causal:      o_t = sum_{s<=t} g^(t-s) (phi(q_t).phi(k_s)) v_s / sum_{s<=t} g^(t-s) phi(q_t).phi(k_s)
        non-causal:  o_t = phi(q_t)^T (phi(K)^T V) / phi(q_t)^T (phi(K)^T 1)

    q, k [batch, n, heads, d_k], v [batch, n, heads, d_v] float32 (any strides; 3-D for
    batch 1); out float32 [batch, n, heads, d_v].
    feature   "elu1" (elu(x) + 1), "relu" (max(x, 0)): F = d_k features;
              "favor" (FAVOR+, Performer): omega float32 [F, d_k] from favor_draw, and
              phi(x) = exp(w_i.x' - |x'|^2 / 2) / sqrt(F), x' = x d_k^(-1/4).
    decay     causal only: per-head g in (0, 1], float32 [heads] (RetNet); None: g = 1.
    normalize False: leave out the denominator (RetNet's numerator).
    method    "chunked" (the chunkwise-parallel prefill, chunks of `chunk` tokens, 0: 64;
              non-causal: phi(Q)(phi(K)^T V)), "recurrent" (token by token: decoding) or
              "naive" (the float64 quadratic reference; OutOfMemory above max_bytes > 0).
    state     causal "chunked" / "recurrent": float32 [batch, heads, F*d_v + F + 1], the state
              to start from (all zeros: empty), updated in place to the state after the last
              token. None: a new empty state, returned. The state is stored max-shifted
              (docs/linear-attention.md): use it only to continue a sequence.
              Non-causal and "naive": state is None.
    workspace "chunked": a uint8 array of linear_attention_workspace_size(...) bytes to reuse
              (default: the call allocates its own)."""
    a, out, keep, shape = _describe(q, k, v, feature, causal, decay, normalize, omega, chunk, out, threads)
    if method == "naive":
        if state is not None:
            refuse("method 'naive' keeps no state; pass state=None")
        call(_naive, ctypes.byref(a), int(max_bytes))
        return out, None
    if method not in ("chunked", "recurrent"):
        refuse("method '%s' is not 'chunked', 'recurrent' or 'naive'" % method)
    if not causal:
        if method == "recurrent":
            call(_step, ctypes.byref(a), None, 0)  # the library's sentence: the recurrent form is causal
        if state is not None:
            refuse("state must be None when causal=False (a non-causal pass has no state to carry)")
        _run_forward(a, None, 0, workspace)
        return out, None
    call(_check, ctypes.byref(a))
    per = int(_state_floats(ctypes.byref(a)))
    if state is None:
        state = np.zeros((shape[0], shape[2], per), dtype=np.float32)
    st, p = _array.f32(state, "state", writable=True)
    if st.size != shape[0] * shape[2] * per:
        refuse("state has %d floats; it must be batch*heads*(F*d_v+F+1) = %d ([%d, %d, %d])"
               % (st.size, shape[0] * shape[2] * per, shape[0], shape[2], per))
    if method == "chunked":
        _run_forward(a, p, st.size, workspace)
    else:
        call(_step, ctypes.byref(a), p, st.size)
    del keep
    return out, state


def _run_forward(a, p, n, workspace):
    if workspace is None:
        call(_forward_alloc, ctypes.byref(a), p, n)
        return
    ws = _array.as_array(workspace, "workspace")
    if not ws.flags.c_contiguous or not ws.flags.writeable:
        refuse("workspace must be a writable C-contiguous array")
    call(_forward, ctypes.byref(a), p, n, ws.ctypes.data, ws.nbytes)


def linear_attention_workspace_size(q, k, v, *, feature="elu1", causal=True, omega=None, chunk=0, threads=0):
    """Bytes of workspace the chunked form needs for this call."""
    a, _, keep, _ = _describe(q, k, v, feature, causal, None, True, omega, chunk, None, threads)
    call(_check, ctypes.byref(a))
    return int(_ws_size(ctypes.byref(a)))


def linear_attention_step(q, k, v, state, **kw):
    """The recurrent form: linear_attention(..., method="recurrent", state=state), one or more
    tokens appended to the state in place (any n; typically 1 when decoding)."""
    return linear_attention(q, k, v, state=state, method="recurrent", **kw)


def linear_state_floats(d_k, d_v, feature="elu1", features=0):
    """Floats of recurrent state per (batch, head): F * d_v + F + 1 (F = d_k, or `features`
    for FAVOR+)."""
    F = int(features) if feature == "favor" else int(d_k)
    return F * int(d_v) + F + 1
