"""longctx.Mask against masks built here from the definition in docs/masks.md."""
import numpy as np
import pytest

import longctx as lc
from refs import mask_ref

CASES = [
    dict(),
    dict(causal=True),
    dict(causal=True, window=5),
    dict(causal=True, window=4, sinks=3),
    dict(window=(3, 2)),
    dict(window=(None, 1), causal=False),
    dict(window=(6, 6), dilation=3),
    dict(window=(2, 2), global_tokens=[0, 7, 11]),
    dict(causal=True, stride=4),
    dict(causal=True, stride=5, summary=2),
    dict(causal=True, q_offset=9, window=7, sinks=2),
]


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_dense_count_allows_match_the_definition(case, rng):
    n_q = int(rng.integers(1, 30))
    n_kv = n_q + case.get("q_offset", 0) + int(rng.integers(0, 5))
    m = lc.Mask(**case)
    want = mask_ref(n_q, n_kv, **case)
    got = m.dense(n_q, n_kv)
    assert got.dtype == np.bool_ and got.shape == (n_q, n_kv)
    np.testing.assert_array_equal(got, want)
    assert m.count(n_q, n_kv) == want.sum()
    for _ in range(20):
        i, j = int(rng.integers(n_q)), int(rng.integers(n_kv))
        assert m.allows(i, j) == want[i, j]


def test_block_sparse_bitmap(rng):
    bq, bk = 3, 4
    n_q, n_kv = 17, 23
    bits = rng.integers(0, 2, size=(-(-n_q // bq), -(-n_kv // bk)))
    m = lc.Mask(blocks=bits, block_size=(bq, bk), causal=True)
    np.testing.assert_array_equal(m.dense(n_q, n_kv), mask_ref(n_q, n_kv, causal=True, blocks=bits,
                                                              block_size=(bq, bk)))


def test_classify_tiles_agrees_with_the_cells(rng):
    m = lc.Mask(causal=True, window=6, sinks=2)
    d = m.dense(40, 40)
    for _ in range(40):
        i0, j0 = int(rng.integers(0, 39)), int(rng.integers(0, 39))
        i1, j1 = int(rng.integers(i0 + 1, 41)), int(rng.integers(j0 + 1, 41))
        c = m.classify(i0, i1, j0, j1)
        tile = d[i0:i1, j0:j1]
        if c == "empty":
            assert not tile.any()
        elif c == "full":
            assert tile.all()
        else:
            assert c == "partial"


def test_bigbird_structure(rng):
    block, n = 4, 48
    bb = lc.BigBird(block=block, window_blocks=1, global_blocks=1, random_blocks=2, seed=int(rng.integers(1 << 30)))
    d = lc.Mask(bigbird=bb).dense(n, n)
    nb = n // block
    blocks = d.reshape(nb, block, nb, block).any(axis=(1, 3))
    # whole blocks, global row and column, the window band, and 2 random blocks per row
    assert (d.reshape(nb, block, nb, block).all(axis=(1, 3)) == blocks).all()
    assert blocks[0].all() and blocks[:, 0].all()
    for qb in range(1, nb):
        for kb in range(max(0, qb - 1), min(nb, qb + 2)):
            assert blocks[qb, kb]
        extra = blocks[qb].sum() - 1 - (min(nb, qb + 2) - max(1, qb - 1))
        assert extra == 2, (qb, blocks[qb])
    # the same seed draws the same blocks; the draw is over n_keys (0: the call's keys)
    np.testing.assert_array_equal(d, lc.Mask(bigbird=lc.BigBird(block, 1, 1, 2, bb.seed, n_keys=n)).dense(n, n))


def test_bad_masks_are_refused_with_the_sentence():
    with pytest.raises(lc.InvalidArgument, match=r"mask.window.left=-3 must be >= 0 or -1"):
        lc.Mask(window=(-3, 0)).check(4, 4)
    with pytest.raises(lc.InvalidArgument, match=r"mask.global.index must be strictly increasing"):
        lc.Mask(global_tokens=[3, 1]).dense(4, 4)
    with pytest.raises(lc.InvalidArgument, match=r"mask.stride.summary=5 must be in \[0, stride.every=4\]"):
        lc.Mask(stride=4, summary=5).count(8, 8)
    with pytest.raises(lc.InvalidArgument, match=r"mask.blocks.n_kb=1 blocks of 4 do not cover 9 keys"):
        lc.Mask(blocks=np.ones((3, 1)), block_size=4).dense(9, 9)
    with pytest.raises(lc.InvalidArgument, match=r"random_blocks=65 must be in \[0, 64\]"):
        lc.Mask(bigbird=lc.BigBird(4, random_blocks=65)).check(8, 8)
    with pytest.raises(lc.InvalidArgument, match="mask.q_offset=-1 must not be negative"):
        lc.Mask(q_offset=-1).check(1, 1)
    with pytest.raises(lc.InvalidArgument, match="n_q=0 and n_kv=3 must be positive"):
        lc.Mask().dense(0, 3)
    with pytest.raises(lc.InvalidArgument, match="block_size"):
        lc.Mask(blocks=np.ones((2, 2)))
    e = pytest.raises(lc.Error, lc.Mask(sinks=-1).check, 2, 2).value
    assert e.status == "LC_EINVAL" and e.sentence == "mask.sinks=-1 must not be negative" == str(e)
    assert isinstance(e, ValueError)
