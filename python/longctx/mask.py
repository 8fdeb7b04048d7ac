"""Attention masks as data: lc_mask (include/longctx/mask.h, docs/masks.md)."""
import ctypes

import numpy as np

from ._lib import call, fn, refuse
from ._structs import CMask, c_int, c_int64, c_void_p, POINTER

_check = fn("lc_mask_check", c_int, [POINTER(CMask), c_int64, c_int64])
_allows = fn("lc_mask_allows", c_int, [POINTER(CMask), c_int64, c_int64])
_classify = fn("lc_mask_classify_tile", c_int, [POINTER(CMask), c_int64, c_int64, c_int64, c_int64])
_fill = fn("lc_mask_fill_tile", None, [POINTER(CMask), c_int64, c_int64, c_int64, c_int64, c_void_p, c_int64])
_count = fn("lc_mask_count", c_int64, [POINTER(CMask), c_int64, c_int64])

MAX_RANDOM_BLOCKS = 64
_TILE = ("empty", "partial", "full")


class BigBird:
    """BigBird's block pattern (Zaheer et al. 2020): per query block of `block` tokens, the
    `window_blocks` neighbouring key blocks on each side, the first `global_blocks` blocks
    (their queries see every key, their keys are seen by every query) and `random_blocks`
    (<= 64) random key blocks drawn from the rest, fixed by `seed`. `n_keys` is the key
    length the random draw is made over; 0 means the key length of the call."""

    def __init__(self, block, window_blocks=1, global_blocks=0, random_blocks=0, seed=0, n_keys=0):
        self.block, self.window_blocks, self.global_blocks = int(block), int(window_blocks), int(global_blocks)
        self.random_blocks, self.seed, self.n_keys = int(random_blocks), int(seed), int(n_keys)

    def __repr__(self):
        return ("BigBird(block=%d, window_blocks=%d, global_blocks=%d, random_blocks=%d, seed=%d, n_keys=%d)"
                % (self.block, self.window_blocks, self.global_blocks, self.random_blocks, self.seed, self.n_keys))


class Mask:
    """Which keys each query row may see: lc_mask, every field of it.

    Query row i of a call sits at position p = q_offset + i; key j at position j. Key j is
    visible to row i when (not causal or j <= p) and (no pattern is set, or some set pattern
    allows it): the patterns are united, then intersected with causality. Mask() is full
    bidirectional attention.

    Arguments (all optional):
      causal        True: j <= p
      window        int W: the last W keys including the query's own (left W-1, right 0;
                    Mistral with causal=True); or a pair (left, right), keys p-left .. p+right,
                    None or -1 for unbounded on that side (Longformer: (w, w))
      dilation      window dilation d > 1: only keys with (p - j) % d == 0
      sinks         the first `sinks` keys are always visible (StreamingLLM), subject to causal
      global_tokens strictly increasing positions: a global query sees every key, a global
                    key is seen by every query (Longformer)
      stride        Sparse Transformer: with summary=0 the strided pattern (p - j) % stride == 0;
      summary       with summary=c > 0 the fixed pattern, keys j with j % stride >= stride - c
      bigbird       a BigBird(block, window_blocks, global_blocks, random_blocks, seed, n_keys)
      blocks        a block-sparse bitmap [n_qb, n_kb] (nonzero: visible) over query blocks of
      block_size    block_q positions and key blocks of block_k keys: an int or (block_q, block_k)
      q_offset      position of query row 0 (queries [p, p+m) over a cache of p + m keys)

    Masks compose: Mask(causal=True, window=4096, sinks=4) is StreamingLLM's pattern."""

    def __init__(self, causal=False, window=None, *, dilation=0, sinks=0, global_tokens=None, stride=0, summary=0,
                 bigbird=None, blocks=None, block_size=None, q_offset=0):
        self.causal = bool(causal)
        self.window = window
        self.dilation = int(dilation)
        self.sinks = int(sinks)
        self.stride, self.summary = int(stride), int(summary)
        self.q_offset = int(q_offset)
        self.bigbird = bigbird
        if bigbird is not None and not isinstance(bigbird, BigBird):
            refuse("mask.bigbird must be a longctx.BigBird, not %s" % type(bigbird).__name__)
        self.global_tokens = None
        if global_tokens is not None:
            g = np.ascontiguousarray(np.asarray(global_tokens, dtype=np.int64).reshape(-1))
            self.global_tokens = g
        self.blocks = None
        self.block_size = None
        if blocks is not None:
            b = np.asarray(blocks)
            if b.ndim != 2:
                refuse("mask.blocks must be a 2-D bitmap [n_qb, n_kb], has %d dims" % b.ndim)
            self.blocks = np.ascontiguousarray(b != 0, dtype=np.uint8)
            if block_size is None:
                refuse("mask.blocks needs block_size: an int or (block_q, block_k)")
            bs = (block_size, block_size) if np.isscalar(block_size) else tuple(block_size)
            if len(bs) != 2:
                refuse("mask.block_size must be an int or a pair (block_q, block_k)")
            self.block_size = (int(bs[0]), int(bs[1]))

    # ---- the C struct
    def _window_bounds(self):
        w = self.window
        if w is None:
            return None
        if np.isscalar(w):
            w = int(w)
            if w <= 0:
                refuse("mask.window=%d must be a positive number of keys (or a pair (left, right))" % w)
            return (w - 1, 0)
        w = tuple(w)
        if len(w) != 2:
            refuse("mask.window must be an int or a pair (left, right)")
        return tuple(-1 if x is None else int(x) for x in w)

    def _c(self, n_kv=None):
        """The lc_mask; it points into this object's arrays, which must outlive the call."""
        m = CMask()
        m.q_offset = self.q_offset
        m.causal = 1 if self.causal else 0
        wb = self._window_bounds()
        if wb is not None:
            m.window.enabled = 1
            m.window.left, m.window.right = wb
            m.window.dilation = self.dilation
        if self.global_tokens is not None and self.global_tokens.size:
            m.global_.index = self.global_tokens.ctypes.data_as(POINTER(c_int64))
            m.global_.count = self.global_tokens.size
        m.sinks = self.sinks
        m.stride.every, m.stride.summary = self.stride, self.summary
        bb = self.bigbird
        if bb is not None:
            m.bigbird.block, m.bigbird.window_blocks = bb.block, bb.window_blocks
            m.bigbird.global_blocks, m.bigbird.random_blocks = bb.global_blocks, bb.random_blocks
            m.bigbird.seed = bb.seed & 0xFFFFFFFFFFFFFFFF
            m.bigbird.n_keys = bb.n_keys if bb.n_keys or n_kv is None else n_kv
        if self.blocks is not None:
            m.blocks.bits = self.blocks.ctypes.data
            m.blocks.block_q, m.blocks.block_k = self.block_size
            m.blocks.n_qb, m.blocks.n_kb = self.blocks.shape
        return m

    # ---- queries
    def check(self, n_q, n_kv):
        """Validates the mask for n_q query rows over n_kv keys (lc_mask_check); raises
        InvalidArgument naming the wrong field."""
        m = self._c(n_kv)
        call(_check, ctypes.byref(m), int(n_q), int(n_kv))

    def allows(self, i, j):
        """May query row i see key j? (lc_mask_allows, the definition.)"""
        i, j = int(i), int(j)
        if i < 0 or j < 0:
            refuse("mask.allows: i=%d and j=%d must not be negative" % (i, j))
        m = self._c(j + 1)
        call(_check, ctypes.byref(m), i + 1, j + 1)
        return bool(_allows(ctypes.byref(m), i, j))

    def dense(self, n_q, n_kv):
        """The mask as a bool array [n_q, n_kv] (lc_mask_fill_tile over the whole grid)."""
        n_q, n_kv = int(n_q), int(n_kv)
        m = self._c(n_kv)
        call(_check, ctypes.byref(m), n_q, n_kv)
        out = np.zeros((n_q, n_kv), dtype=np.uint8)
        _fill(ctypes.byref(m), 0, n_q, 0, n_kv, out.ctypes.data, n_kv)
        return out.view(np.bool_)

    def count(self, n_q, n_kv):
        """Allowed (query, key) pairs for n_q rows over n_kv keys (lc_mask_count, exact)."""
        m = self._c(int(n_kv))
        call(_check, ctypes.byref(m), int(n_q), int(n_kv))
        return int(_count(ctypes.byref(m), int(n_q), int(n_kv)))

    def classify(self, i0, i1, j0, j1):
        """'empty', 'partial' or 'full' for rows [i0, i1) x keys [j0, j1)
        (lc_mask_classify_tile: 'empty' and 'full' are proven, 'partial' may be conservative)."""
        if not (0 <= i0 < i1 and 0 <= j0 < j1):
            refuse("mask.classify: need 0 <= i0 < i1 and 0 <= j0 < j1, got rows [%d, %d), keys [%d, %d)"
                   % (i0, i1, j0, j1))
        m = self._c(int(j1))
        call(_check, ctypes.byref(m), int(i1), int(j1))
        return _TILE[_classify(ctypes.byref(m), int(i0), int(i1), int(j0), int(j1))]

    def __repr__(self):
        parts = []
        for name, default in (("causal", False), ("window", None), ("dilation", 0), ("sinks", 0), ("stride", 0),
                              ("summary", 0), ("bigbird", None), ("q_offset", 0)):
            v = getattr(self, name)
            if v != default:
                parts.append("%s=%r" % (name, v))
        if self.global_tokens is not None:
            parts.append("global_tokens=%s" % self.global_tokens.tolist())
        if self.blocks is not None:
            parts.append("blocks=<%dx%d>, block_size=%r" % (self.blocks.shape + (self.block_size,)))
        return "Mask(%s)" % ", ".join(parts)


def sliding_window(w, sinks=0):
    """Mistral's mask: causal, the last w keys including the query's own (plus `sinks`)."""
    return Mask(causal=True, window=w, sinks=sinks)


def as_mask(mask, causal=False):
    if mask is None:
        return Mask(causal=causal)
    if not isinstance(mask, Mask):
        refuse("mask must be a longctx.Mask, not %s" % type(mask).__name__)
    if causal and not mask.causal:
        refuse("causal=True and a mask without causal: set it on the Mask")
    return mask
