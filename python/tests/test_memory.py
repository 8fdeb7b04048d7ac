"""kNN memory (search, eviction, save / load), kNN memory attention and block retrieval
against NumPy written here from docs/memory.md; refusals."""
import math

import numpy as np
import pytest

import longctx as lc
from refs import attention_ref, mask_ref


def _topk_ref(q, keys, first, top_k):
    """q [n_q, Hq, d]; keys [size, H, d] held from position `first`."""
    n_q, hq, _ = q.shape
    g = hq // keys.shape[1]
    pos = np.zeros((hq, n_q, top_k), np.int64)
    sc = np.zeros((hq, n_q, top_k))
    for h in range(hq):
        s = q[:, h].astype(np.float64) @ keys[:, h // g].astype(np.float64).T  # [n_q, size]
        for i in range(n_q):
            order = sorted(range(s.shape[1]), key=lambda p: (-s[i, p], p))[:top_k]
            pos[h, i], sc[h, i] = np.array(order) + first, s[i, order]
    return pos, sc


def test_exact_search_and_fifo_eviction(rng):
    H, dk, dv, cap = 2, 8, 5, 40
    m = lc.KnnMemory(H, dk, dv, cap, segment=16)
    ks, vs = [], []
    for _ in range(5):
        n = int(rng.integers(1, 20))
        k = rng.standard_normal((n, H, dk), dtype=np.float32)
        v = rng.standard_normal((n, H, dv), dtype=np.float32)
        m.append(k, v)
        ks.append(k), vs.append(v)
        allk, allv = np.concatenate(ks), np.concatenate(vs)
        total = allk.shape[0]
        assert len(m) == min(total, cap) and m.first == max(0, total - cap)
        held = allk[m.first:]
        q = rng.standard_normal((3, 4, dk), dtype=np.float32)
        top_k = int(rng.integers(1, len(m) + 1))
        pos, sc = m.search(q, top_k)
        wp, ws = _topk_ref(q, held, m.first, top_k)
        np.testing.assert_array_equal(pos, wp)
        np.testing.assert_allclose(sc, ws, atol=1e-5, rtol=1e-5)
        p = int(rng.integers(m.first, total))
        key, val = m.get(1, p)
        np.testing.assert_array_equal(key, allk[p, 1])
        np.testing.assert_array_equal(val, allv[p, 1])


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_approximate_indexes_return_true_scores(index, rng):
    H, dk = 1, 16
    m = lc.KnnMemory(H, dk, 4, 400, segment=200, index=index)
    k = rng.standard_normal((400, H, dk), dtype=np.float32)
    m.append(k, rng.standard_normal((400, H, 4), dtype=np.float32))
    q = rng.standard_normal((4, 1, dk), dtype=np.float32)
    pos, sc = m.search(q, 10)
    for i in range(4):
        np.testing.assert_allclose(sc[0, i], k[pos[0, i], 0] @ q[i, 0], rtol=1e-5, atol=1e-5)
        assert (np.diff(sc[0, i]) <= 1e-6).all()
    wp, _ = _topk_ref(q, k, 0, 10)
    recall = np.mean([len(set(pos[0, i]) & set(wp[0, i])) / 10 for i in range(4)])
    assert recall >= 0.5 and m.config["index"] == index


def test_save_and_load(tmp_path, rng):
    m = lc.KnnMemory(2, 4, 3, 30)
    m.append(rng.standard_normal((45, 2, 4), dtype=np.float32), rng.standard_normal((45, 2, 3), dtype=np.float32))
    path = str(tmp_path / "mem.bin")
    m.save(path)
    m2 = lc.KnnMemory.load(path)
    assert (len(m2), m2.first) == (30, 15)
    q = rng.standard_normal((2, 2, 4), dtype=np.float32)
    for a, b in zip(m.search(q, 7), m2.search(q, 7)):
        np.testing.assert_array_equal(a, b)
    data = bytearray(open(path, "rb").read())
    data[-20] ^= 1  # in the values
    open(path, "wb").write(bytes(data))
    with pytest.raises(lc.FormatError, match="checksum|corrupted"):
        lc.KnnMemory.load(path)
    open(path, "wb").write(b"not a memory")
    with pytest.raises(lc.FormatError, match="not a longctx kNN memory file"):
        lc.KnnMemory.load(path)
    with pytest.raises(lc.IOError):
        lc.KnnMemory.load(str(tmp_path / "absent.bin"))


def test_knn_attention(rng):
    H, hq, dk, dv = 2, 4, 8, 6
    mem = lc.KnnMemory(H, dk, dv, 64)
    mk = rng.standard_normal((50, H, dk), dtype=np.float32)
    mv = rng.standard_normal((50, H, dv), dtype=np.float32)
    mem.append(mk, mv)
    n = 9
    q = rng.standard_normal((n, hq, dk), dtype=np.float32)
    k = rng.standard_normal((n, H, dk), dtype=np.float32)
    v = rng.standard_normal((n, H, dv), dtype=np.float32)
    gate = rng.random(hq).astype(np.float32)
    mask = lc.Mask(causal=True, window=4)
    top_k = 5
    out, lse = lc.knn_attention(q, k, v, mem, top_k=top_k, gate=gate, mask=mask, lse=True)
    loc, loc_lse = attention_ref(q[None].astype(np.float64), k[None].astype(np.float64), v[None].astype(np.float64),
                                 mask_ref(n, n, causal=True, window=4))
    pos, _ = _topk_ref(q, mk, 0, top_k)
    memo = np.zeros((n, hq, dv))
    for h in range(hq):
        for i in range(n):
            p = pos[h, i]
            s = mk[p, h // 2].astype(np.float64) @ q[i, h].astype(np.float64) / math.sqrt(dk)
            w = np.exp(s - s.max())
            memo[i, h] = (w / w.sum()) @ mv[p, h // 2].astype(np.float64)
    want = gate[None, :, None] * memo + (1 - gate[None, :, None]) * loc[0]
    np.testing.assert_allclose(out, want, atol=3e-5, rtol=1e-4)
    np.testing.assert_allclose(lse, loc_lse[0], atol=3e-5)


def _block_ref(q, k, v, block, top_blocks, window, sinks, q_offset, landmarks=None):
    """q [n_q, Hq, d], k [n_kv, H, d] float64 -> out [n_q, Hq, dv]."""
    n_q, hq, dk = q.shape
    g = hq // k.shape[1]
    out = np.zeros((n_q, hq, v.shape[2]))
    for i in range(n_q):
        p = q_offset + i
        w0 = max(0, p - window + 1)
        lb = block * (w0 // block)
        for h in range(hq):
            kh, vh, qh = k[:, h // g], v[:, h // g], q[i, h]
            nb = lb // block
            if landmarks is None:
                L = np.array([kh[j * block:(j + 1) * block].mean(0) for j in range(nb)]).reshape(nb, dk)
            else:
                L = landmarks[:nb, h // g]
            score = L @ qh
            chosen = sorted(range(nb), key=lambda j: (-score[j], j))[:top_blocks]
            keys = set(range(lb, p + 1)) | set(range(min(sinks, p + 1)))
            for j in chosen:
                keys |= set(range(j * block, (j + 1) * block))
            idx = np.array(sorted(keys))
            s = kh[idx] @ qh / math.sqrt(dk)
            e = np.exp(s - s.max())
            out[i, h] = (e / e.sum()) @ vh[idx]
    return out


@pytest.mark.parametrize("landmarks", [False, True])
def test_block_attention(landmarks, rng):
    for trial in range(3):
        H, hq, dk, dv = 2, 4, 8, 5
        block = int(rng.integers(1, 6))
        n_kv = int(rng.integers(10, 60))
        n_q = int(rng.integers(1, n_kv + 1))
        k = rng.standard_normal((n_kv, H, dk), dtype=np.float32)
        v = rng.standard_normal((n_kv, H, dv), dtype=np.float32)
        q = rng.standard_normal((n_q, hq, dk), dtype=np.float32)
        kw = dict(block=block, top_blocks=int(rng.integers(0, 4)), window=int(rng.integers(1, 12)),
                  sinks=int(rng.integers(0, 3)))
        L = rng.standard_normal((n_kv // block, H, dk), dtype=np.float32) if landmarks else None
        out = lc.block_attention(q, k, v, landmarks=L, **kw)
        want = _block_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), q_offset=n_kv - n_q,
                          landmarks=None if L is None else L.astype(np.float64), **kw)
        np.testing.assert_allclose(out, want, atol=3e-5, rtol=1e-4)
    # every block chosen: exactly causal attention
    out = lc.block_attention(q, k, v, block=2, top_blocks=1000, window=1)
    ref, _ = attention_ref(q[None].astype(np.float64), k[None].astype(np.float64), v[None].astype(np.float64),
                           mask_ref(n_q, n_kv, causal=True, q_offset=n_kv - n_q))
    np.testing.assert_allclose(out, ref[0], atol=3e-5, rtol=1e-4)
    ws = np.empty(lc.block_attention_workspace_size(q, k, v, block=2, top_blocks=3, window=4), np.uint8)
    np.testing.assert_allclose(lc.block_attention(q, k, v, block=2, top_blocks=3, window=4, workspace=ws),
                               lc.block_attention(q, k, v, block=2, top_blocks=3, window=4), atol=1e-6)


def test_refusals(rng):
    with pytest.raises(lc.InvalidArgument):
        lc.KnnMemory(0, 4, 4, 10)
    m = lc.KnnMemory(1, 4, 4, 10)
    q = np.zeros((2, 1, 4), np.float32)
    with pytest.raises(lc.InvalidState, match="the memory is empty"):
        lc.knn_attention(q, q, q, m, top_k=1, gate=[0.5])
    k = rng.standard_normal((3, 1, 4), dtype=np.float32)
    bad = k.copy()
    bad[1, 0, 2] = np.nan
    with pytest.raises(lc.InvalidArgument):
        m.append(bad, k)
    assert len(m) == 0  # a failed append leaves the memory as it was
    m.append(k, k)
    with pytest.raises(lc.OutOfRange, match=r"top_k=4 must be in \[1, 3\]"):
        lc.knn_attention(q, q, q, m, top_k=4, gate=[0.5])
    with pytest.raises(lc.InvalidArgument, match=r"gate\[0\]=1.5 must be in \[0, 1\]"):
        lc.knn_attention(q, q, q, m, top_k=2, gate=[1.5])
    with pytest.raises(lc.InvalidArgument, match="batch must be 1"):
        lc.knn_attention(np.zeros((2, 2, 1, 4), np.float32), np.zeros((2, 2, 1, 4), np.float32),
                         np.zeros((2, 2, 1, 4), np.float32), m, top_k=2, gate=[0.5])
    with pytest.raises(lc.Unsupported, match="soft-capping is not supported"):
        a = lc.knn_attention  # softcap goes through the local descriptor: not exposed, so build it by hand
        from longctx import memory as mm
        loc, *_ = mm._attention_describe(q, q, q, None, False, 0.0, 5.0, None, False, None, 0, "auto")
        d = mm.CKnnAttention()
        d.local, d.memory, d.top_k = loc, m._handle(), 1
        g = np.array([0.5], np.float32)
        d.gate = g.ctypes.data_as(mm.P_f32)
        mm.call(mm._knn_retrieve, mm.ctypes.byref(d))
        del a
    x = np.zeros((6, 1, 4), np.float32)
    with pytest.raises(lc.InvalidArgument, match="window=0 must be >= 1"):
        lc.block_attention(x, x, x, block=2, top_blocks=1, window=0)
    with pytest.raises(lc.OutOfRange, match="q_offset=5 \\+ n_q=6 must be in"):
        lc.block_attention(x, x, x, block=2, top_blocks=1, window=2, q_offset=5)
