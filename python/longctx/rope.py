"""Rotary position embeddings and their context-extension scalings (include/longctx/rope.h,
docs/rope.md), computed as Hugging Face transformers' modeling_rope_utils does."""
import ctypes

import numpy as np

from . import _array
from ._lib import call, fn, refuse
from ._structs import CRope, P_f64, P_i64, POINTER, Tensor, c_int, c_int64

_dim = fn("lc_rope_dim", c_int, [POINTER(CRope)])
_check = fn("lc_rope_check", c_int, [POINTER(CRope)])
_inv_freq = fn("lc_rope_inv_freq", c_int, [POINTER(CRope), c_int64, P_f64, P_f64])
_apply = fn("lc_rope_apply", c_int, [POINTER(CRope), POINTER(Tensor), P_i64, c_int64, c_int64])

TYPES = ("default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope")
LAYOUTS = ("neox", "gptj")


class Rope:
    """A RoPE configuration: lc_rope, fields named after Hugging Face's rope_parameters. A
    0 / None in an optional field means "absent from the config" and gets HF's default.

      type              "default", "linear" (position interpolation), "ntk" (static NTK-aware),
                        "dynamic" (dynamic NTK), "yarn", "llama3", "longrope"
      head_dim          the head dimension; rotated dims = int(head_dim * partial) (even, >= 2)
      theta             rope_theta (> 1)
      partial           partial_rotary_factor in (0, 1]; dims past the rotated ones pass through
      layout            "neox" (HF "rotate half": pairs (i, i + dim/2)) or "gptj" (pairs (2i, 2i+1))
      factor            the scaling factor s (linear, ntk, dynamic, llama3: required;
                        yarn, longrope: default max_pos / original_max_pos)
      max_pos, original_max_pos   max_position_embeddings, original_max_position_embeddings;
                        max_pos absent: original_max_pos * factor (or original_max_pos) when
                        given; default, linear, ntk and llama3 never read it; dynamic needs it
      attention_factor  yarn, longrope: default computed (0.1 ln s + 1, ...)
      beta_fast, beta_slow, mscale, mscale_all_dim, truncate     yarn (truncate=False: gpt-oss)
      low_freq_factor, high_freq_factor                           llama3
      short_factor, long_factor                                   longrope: dim/2 values each

    Rope("yarn", head_dim=128, theta=1e4, factor=4, original_max_pos=8192)"""

    def __init__(self, type="default", head_dim=None, theta=10000.0, *, partial=0.0, layout="neox", factor=0.0,
                 max_pos=0, original_max_pos=0, attention_factor=0.0, beta_fast=0.0, beta_slow=0.0, mscale=0.0,
                 mscale_all_dim=0.0, truncate=True, low_freq_factor=0.0, high_freq_factor=0.0, short_factor=None,
                 long_factor=None):
        if type not in TYPES:
            refuse("rope type '%s' is not one of %s" % (type, ", ".join(TYPES)))
        if layout not in LAYOUTS:
            refuse("rope layout '%s' is not 'neox' or 'gptj'" % layout)
        if head_dim is None:
            refuse("rope.head_dim is required")
        self.type, self.layout, self.head_dim = type, layout, int(head_dim)
        self.theta, self.partial, self.factor = float(theta), float(partial or 0.0), float(factor or 0.0)
        self.max_pos, self.original_max_pos = int(max_pos or 0), int(original_max_pos or 0)
        self.attention_factor = float(attention_factor or 0.0)
        self.beta_fast, self.beta_slow = float(beta_fast or 0.0), float(beta_slow or 0.0)
        self.mscale, self.mscale_all_dim = float(mscale or 0.0), float(mscale_all_dim or 0.0)
        self.truncate = bool(truncate)
        self.low_freq_factor, self.high_freq_factor = float(low_freq_factor or 0.0), float(high_freq_factor or 0.0)
        self.short_factor = None if short_factor is None else np.ascontiguousarray(short_factor, dtype=np.float64)
        self.long_factor = None if long_factor is None else np.ascontiguousarray(long_factor, dtype=np.float64)

    @classmethod
    def from_config(cls, config):
        """The RoPE of a Hugging Face config.json dict: rope_theta, partial_rotary_factor,
        head_dim (else hidden_size / num_attention_heads), max_position_embeddings and
        rope_scaling or rope_parameters (rope_type or type, factor, ...)."""
        c = dict(config)
        params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
        head_dim = c.get("head_dim") or (c["hidden_size"] // c["num_attention_heads"])
        kind = params.get("rope_type", params.get("type", "default"))
        kind = {"su": "longrope", "mrope": "default"}.get(kind, kind)
        theta = params.get("rope_theta", c.get("rope_theta", 10000.0))
        return cls(kind, head_dim=head_dim, theta=theta,
                   partial=params.get("partial_rotary_factor", c.get("partial_rotary_factor", 0.0)),
                   factor=params.get("factor", 0.0), max_pos=c.get("max_position_embeddings", 0),
                   original_max_pos=params.get("original_max_position_embeddings",
                                               c.get("original_max_position_embeddings", 0)),
                   attention_factor=params.get("attention_factor", 0.0), beta_fast=params.get("beta_fast", 0.0),
                   beta_slow=params.get("beta_slow", 0.0), mscale=params.get("mscale", 0.0),
                   mscale_all_dim=params.get("mscale_all_dim", 0.0), truncate=params.get("truncate", True),
                   low_freq_factor=params.get("low_freq_factor", 0.0),
                   high_freq_factor=params.get("high_freq_factor", 0.0),
                   short_factor=params.get("short_factor"), long_factor=params.get("long_factor"))

    def _c(self):
        r = CRope()
        r.type = TYPES.index(self.type)
        r.layout = LAYOUTS.index(self.layout)
        r.head_dim = self.head_dim
        r.partial, r.theta = self.partial, self.theta
        r.max_pos, r.original_max_pos = self.max_pos, self.original_max_pos
        if not self.max_pos:  # absent: what a config extended by `factor` would say
            if self.original_max_pos and self.factor:
                r.max_pos = int(round(self.original_max_pos * self.factor))
            elif self.original_max_pos:
                r.max_pos = self.original_max_pos
            elif self.type in ("default", "linear", "ntk", "llama3"):
                r.max_pos = 1  # these types never read it
        r.factor, r.attention_factor = self.factor, self.attention_factor
        r.beta_fast, r.beta_slow = self.beta_fast, self.beta_slow
        r.mscale, r.mscale_all_dim = self.mscale, self.mscale_all_dim
        r.no_truncate = 0 if self.truncate else 1
        r.low_freq_factor, r.high_freq_factor = self.low_freq_factor, self.high_freq_factor
        half = max(1, self.dim_unchecked() // 2)
        for name in ("short_factor", "long_factor"):
            f = getattr(self, name)
            if f is not None:
                if f.ndim != 1 or f.size != half:
                    refuse("rope.%s has %d values; it needs rotated dims / 2 = %d" % (name, f.size, half))
                setattr(r, name, f.ctypes.data_as(P_f64))
        return r

    def dim_unchecked(self):
        p = self.partial if self.partial > 0 else 1.0
        return int(self.head_dim * p)

    @property
    def dim(self):
        """The rotated dims: int(head_dim * partial) (lc_rope_dim)."""
        return int(_dim(ctypes.byref(self._c())))

    def check(self):
        """Validates every field for the chosen type (lc_rope_check)."""
        call(_check, ctypes.byref(self._c()))

    def inv_freq(self, seq_len=0):
        """(inv_freq float64 [dim/2], attention_factor) as HF's init function for this type
        returns them when called with seq_len (0: not passed; dynamic uses it as the length
        seen so far, longrope picks its long factors when seq_len > original_max_pos)."""
        r = self._c()
        call(_check, ctypes.byref(r))
        out = np.empty(int(_dim(ctypes.byref(r))) // 2, dtype=np.float64)
        af = ctypes.c_double()
        call(_inv_freq, ctypes.byref(r), int(seq_len), out.ctypes.data_as(P_f64), ctypes.byref(af))
        return out, af.value

    def apply(self, x, positions=None, *, pos0=0, seq_len=0, dtype=None):
        """Rotates x in place and returns it: x [batch, seq, heads, head_dim] (or [seq, heads,
        head_dim]), float32 / float16 / bfloat16, any non-negative strides. Token s sits at
        positions[s] (int64 [seq]) or, without positions, at pos0 + s; seq_len as in inv_freq."""
        x4, _ = _array.as_4d(x, "x")
        code = _array.array_dtype(x4, "x", dtype)
        t = _array.tensor(x4, "x", code, writable=True)
        pos_arr = pos_p = None
        if positions is not None:
            pos_arr = np.ascontiguousarray(positions, dtype=np.int64).reshape(-1)
            if pos_arr.size != x4.shape[1]:
                refuse("positions has %d entries; x has seq=%d" % (pos_arr.size, x4.shape[1]))
            pos_p = pos_arr.ctypes.data_as(P_i64)
        r = self._c()
        call(_apply, ctypes.byref(r), ctypes.byref(t), pos_p, int(pos0), int(seq_len))
        return x

    def __repr__(self):
        fields = ["%r" % self.type, "head_dim=%d" % self.head_dim, "theta=%g" % self.theta]
        for n in ("partial", "factor", "max_pos", "original_max_pos", "attention_factor", "beta_fast", "beta_slow",
                  "mscale", "mscale_all_dim", "low_freq_factor", "high_freq_factor"):
            if getattr(self, n):
                fields.append("%s=%g" % (n, getattr(self, n)))
        if self.layout != "neox":
            fields.append("layout=%r" % self.layout)
        if not self.truncate:
            fields.append("truncate=False")
        return "Rope(%s)" % ", ".join(fields)


def rope_tables(rope, positions, seq_len=0, dtype=np.float32, layout=None):
    """(cos, sin) tables of a Rope at the given positions, each [len(positions), dim/2]:
    cos(p * inv_freq_i) * attention_factor, likewise sin (the factor Hugging Face folds into
    both). layout="hf" gives HF's [len(positions), dim] tables instead (the halves
    concatenated for "neox", each value repeated twice for "gptj")."""
    inv, af = rope.inv_freq(seq_len)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    ang = pos[:, None] * inv[None, :]
    cos, sin = np.cos(ang) * af, np.sin(ang) * af
    if layout == "hf":
        if rope.layout == "neox":
            cos, sin = np.concatenate([cos, cos], axis=1), np.concatenate([sin, sin], axis=1)
        else:
            cos, sin = np.repeat(cos, 2, axis=1), np.repeat(sin, 2, axis=1)
    elif layout is not None:
        refuse("rope_tables layout must be None or 'hf', not %r" % (layout,))
    return cos.astype(dtype), sin.astype(dtype)


def rope_apply(rope, x, positions=None, *, pos0=0, seq_len=0, dtype=None):
    """Rotates x in place (Rope.apply); returns x."""
    return rope.apply(x, positions, pos0=pos0, seq_len=seq_len, dtype=dtype)
