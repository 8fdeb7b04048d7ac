"""Ring attention (include/longctx/ring.h, docs/ring-attention.md): one exact attention over
a sequence split across P ranks whose key/value slices travel around a ring, merged by
log-sum-exp. Here the P ranks are threads of this process joined by an in-memory transport
written in Python (the library's driver, plan and CPU compute do the work); across
processes the library's MPI transport runs it (`mpirun -np P longctx ring`)."""
import ctypes
import threading

import numpy as np

from . import _array
from ._lib import call, fn, last_error, raise_for, refuse, set_error
from ._structs import (CRing, CRingStats, CRingTransport, POINTER, c_int, c_int64, _GATHER, _RECV, _SEND,
                       _WAIT)
from .core import isa_code
from .mask import as_mask

LAYOUTS = ("contiguous", "zigzag")
_EIO, _EINTERNAL = 6, 8

_chunks = fn("lc_ring_chunks", c_int, [c_int])
_chunk_start = fn("lc_ring_chunk_start", c_int64, [c_int, c_int, c_int, c_int, c_int64])
_split_check = fn("lc_ring_split_check", c_int, [c_int, c_int, c_int64])
_ring_alloc = fn("lc_ring_attention_alloc", c_int, [POINTER(CRing), POINTER(CRingStats)])


def _layout(layout):
    if layout not in LAYOUTS:
        refuse("ring layout '%s' is not 'contiguous' or 'zigzag'" % layout)
    return LAYOUTS.index(layout)


def ring_split_check(n_total, ranks, layout="zigzag"):
    """Whether a sequence of n_total tokens splits evenly over `ranks` ranks in this layout;
    raises InvalidArgument naming the nearest length that would ("pad it to 1002 tokens")."""
    call(_split_check, _layout(layout), int(ranks), int(n_total))


def ring_positions(n_total, ranks, rank, layout="zigzag"):
    """The token positions rank `rank` holds, in its local order (int64 [n_total // ranks]):
    contiguous [r n, (r+1) n); zigzag chunk r then chunk 2P-1-r of n / 2 tokens each."""
    ring_split_check(n_total, ranks, layout)
    code = _layout(layout)
    n_local = int(n_total) // int(ranks)
    nc = int(_chunks(code))
    c = n_local // nc
    return np.concatenate([np.arange(s, s + c) for s in
                           (int(_chunk_start(code, int(ranks), int(rank), x, n_local)) for x in range(nc))])


class _Hub:
    """The in-memory transport shared by the ranks (threads) of one ring."""

    def __init__(self, size):
        self.size = size
        self.cv = threading.Condition()
        self.mail = {}
        self.gathers = {}
        self.generation = [0] * size
        self.posted = [None] * size

    def table(self, rank):
        """One rank's lc_ring_transport; the callbacks must stay referenced while it runs."""

        def guard(f):
            def run(*a):
                try:
                    return f(*a)
                except Exception as e:  # never let an exception cross into C
                    return set_error(_EINTERNAL, "ring transport (python): %r" % (e,))
            return run

        @guard
        def send(_ctx, buf, nbytes, to, tag):
            data = ctypes.string_at(buf, nbytes)  # delivered at once: the send is complete
            with self.cv:
                self.mail[(to, rank, tag)] = data
                self.cv.notify_all()
            return 0

        @guard
        def recv(_ctx, buf, nbytes, frm, tag):
            self.posted[rank] = (buf, nbytes, frm, tag)
            return 0

        @guard
        def wait(_ctx, slot, timeout):
            if slot == 0:
                return 0
            buf, nbytes, frm, tag = self.posted[rank]
            key = (rank, frm, tag)
            with self.cv:
                if not self.cv.wait_for(lambda: key in self.mail, timeout):
                    return set_error(_EIO, "ring transport: rank %d waited %g s for slice %d from rank %d" %
                                     (rank, timeout, tag, frm))
                data = self.mail.pop(key)
            if len(data) != nbytes:
                return set_error(_EIO, "ring transport: rank %d posted %d bytes, rank %d sent %d" %
                                 (rank, nbytes, frm, len(data)))
            ctypes.memmove(buf, data, nbytes)
            self.posted[rank] = None
            return 0

        @guard
        def allgather(_ctx, inp, out, nbytes, timeout):
            g = self.generation[rank]
            self.generation[rank] += 1
            with self.cv:
                slot = self.gathers.setdefault(g, {"parts": [None] * self.size, "read": 0})
                slot["parts"][rank] = ctypes.string_at(inp, nbytes)
                self.cv.notify_all()
                if not self.cv.wait_for(lambda: all(p is not None for p in slot["parts"]), timeout):
                    return set_error(_EIO, "ring transport: rank %d waited %g s for the others' agreement" %
                                     (rank, timeout))
                data = b"".join(slot["parts"])
                slot["read"] += 1
                if slot["read"] == self.size:
                    del self.gathers[g]
            if len(data) != nbytes * self.size:
                return set_error(_EIO, "ring transport: the ranks gathered blocks of different sizes")
            ctypes.memmove(out, data, len(data))
            return 0

        fns = (_SEND(send), _RECV(recv), _WAIT(wait), _GATHER(allgather))
        t = CRingTransport()
        t.ctx, t.rank, t.size = None, rank, self.size
        t.start_send, t.start_recv, t.wait, t.allgather = fns
        t.progress = None
        return t, fns


def ring_attention(q, k, v, mask=None, *, ranks, layout="zigzag", causal=False, scale=0.0, softcap=0.0, dtype=None,
                   threads=1, isa="auto", timeout=60.0, stats=False):
    """Ring attention over `ranks` ranks run as threads of this process: returns (out, lse)
    equal to attention(q, k, v, mask) over the whole sequence (and, with stats=True, one
    dict per rank: compute_s, wait_s, total_s, steps, blocks_computed, blocks_received,
    block_calls, bytes_sent, bytes_received, pairs).

    q [batch, N, heads_q, d_k], k [batch, N, heads_kv, d_k], v [batch, N, heads_kv, d_v]
    (or 3-D), one sequence of N = ranks * n_local tokens (zigzag: n_local even; see
    ring_split_check), float32 / float16 / bfloat16. The mask describes the whole sequence
    and may use causal, window (any left / right / dilation) and stride without summary;
    patterns that name absolute key positions (sinks, global tokens, fixed strides,
    BigBird, bitmaps) are refused as Unsupported, as the library's ring does. threads:
    OpenMP threads per rank. Each rank's slice is a view of q, k, v for contiguous layouts
    and a copy for zigzag (whose two chunks are apart)."""
    q4, sq = _array.as_4d(q, "q")
    k4, _ = _array.as_4d(k, "k")
    v4, _ = _array.as_4d(v, "v")
    code = _layout(layout)
    P = int(ranks)
    N = q4.shape[1]
    call(_split_check, code, P, N)
    m = as_mask(mask, causal)
    cq = _array.array_dtype(q4, "q", dtype)
    ck = _array.array_dtype(k4, "k", dtype)
    cv = _array.array_dtype(v4, "v", dtype)
    B, H = q4.shape[0], q4.shape[2]
    out = np.empty(q4.shape[:3] + v4.shape[3:], dtype=q4.dtype)
    lse = np.empty((B, H, N), np.float32)
    hub = _Hub(P)
    n_local = N // P
    results = [None] * P
    keep = []
    rings = []
    for r in range(P):
        pos = ring_positions(N, P, r, layout)
        if code == 0:
            sl = slice(pos[0], pos[-1] + 1)
            lq, lk, lv, lo = q4[:, sl], k4[:, sl], v4[:, sl], out[:, sl]
        else:
            lq, lk, lv = q4[:, pos], k4[:, pos], v4[:, pos]
            lo = np.empty(lq.shape[:3] + v4.shape[3:], dtype=q4.dtype)
        ll = np.empty((B, H, n_local), np.float32)
        ring = CRing()
        a = ring.attn
        a.q, a.k, a.v = _array.tensor(lq, "q", cq), _array.tensor(lk, "k", ck), _array.tensor(lv, "v", cv)
        a.out = _array.tensor(lo, "out", _array.array_dtype(lo, "out", dtype), writable=True)
        a.lse = ll.ctypes.data_as(POINTER(ctypes.c_float))
        a.scale, a.softcap, a.threads, a.isa = float(scale), float(softcap), int(threads), isa_code(isa)
        a.mask = m._c(N)
        ring.layout, ring.timeout_s = code, float(timeout)
        table, fns = hub.table(r)
        ring.transport = ctypes.pointer(table)
        keep.append((lq, lk, lv, table, fns))
        rings.append((ring, pos, lo, ll))

    def run(r):
        ring = rings[r][0]
        st = CRingStats()
        status = _ring_alloc(ctypes.byref(ring), ctypes.byref(st))
        sentence = ""
        if status:
            sentence = last_error()
        results[r] = (status, sentence, st)

    workers = [threading.Thread(target=run, args=(r,), name="longctx-ring-%d" % r) for r in range(P)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for r in range(P):
        status, sentence, _ = results[r]
        if status:
            set_error(status, sentence)
            raise_for(status)
    for ring, pos, lo, ll in rings:
        if code == 1:
            out[:, pos] = lo
        lse[:, :, pos] = ll
    del keep
    res_out, res_lse = (out[0], lse[0]) if sq else (out, lse)
    if stats:
        return res_out, res_lse, [{f[0]: getattr(s, f[0]) for f in CRingStats._fields_} for _, _, s in results]
    return res_out, res_lse

