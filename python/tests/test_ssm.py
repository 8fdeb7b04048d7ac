"""Selective scan, SSD (chunked, step, reference) and the Mamba / Mamba-2 mixer layers
against float64 recurrences written here from docs/ssm.md; continuation from states; refusals."""
import numpy as np
import pytest

import longctx as lc
from refs import mamba2_ref, mamba_ref, scan_ref, softplus_ref, ssd_ref


def _f(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _f64(*xs):
    return [None if x is None else x.astype(np.float64) for x in xs]


@pytest.mark.parametrize("method", ["f32", "naive"])
def test_selective_scan(method, rng):
    for trial in range(4):
        b, n, E, N = int(rng.integers(1, 3)), int(rng.integers(1, 50)), int(rng.integers(1, 40)), int(rng.integers(1, 20))
        x, dt, z = _f(rng, b, n, E), _f(rng, b, n, E), _f(rng, b, n, E)
        A = -np.exp(_f(rng, E, N, scale=0.5))
        B, C = _f(rng, b, n, N), _f(rng, b, n, N)
        D, bias = _f(rng, E), _f(rng, E)
        h0 = _f(rng, b, E, N)
        use = rng.random(3) < 0.5
        D_, z_, bias_ = (D if use[0] else None), (z if use[1] else None), (bias if use[2] else None)
        h = h0.copy()
        y, h2 = lc.selective_scan(x, dt, A, B, C, D=D_, z=z_, dt_bias=bias_, state=h, method=method,
                                  threads=int(rng.integers(0, 3)))
        assert h2 is h
        wy, wh = scan_ref(*_f64(x, dt, A, B, C, D_, z_, bias_, h0))
        np.testing.assert_allclose(y, wy, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(h, wh, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method", ["chunked", "step", "naive"])
def test_ssd(method, rng):
    for trial in range(4):
        b, n = int(rng.integers(1, 3)), int(rng.integers(1, 60))
        G = int(rng.choice([1, 2]))
        H, P, N = G * int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 17))
        x, dt = _f(rng, b, n, H, P), _f(rng, b, n, H)
        A = -np.exp(_f(rng, H, scale=0.5))
        B, C = _f(rng, b, n, G, N), _f(rng, b, n, G, N)
        D, bias = _f(rng, H), _f(rng, H)
        h0 = _f(rng, b, H, P, N)
        clamp = (0.01, 2.0) if rng.random() < 0.5 else (0.0, 0.0)
        h = h0.copy()
        y, _ = lc.ssd(x, dt, A, B, C, D=D, dt_bias=bias, dt_min=clamp[0], dt_max=clamp[1], state=h,
                      chunk=int(rng.choice([0, 1, 3, 8, 17])), method=method)
        wy, wh = ssd_ref(*_f64(x, dt, A, B, C, D, bias), clamp[0], clamp[1], h0.astype(np.float64))
        np.testing.assert_allclose(y, wy, atol=2e-4, rtol=2e-4)
        np.testing.assert_allclose(h, wh, atol=2e-4, rtol=2e-4)


def test_mamba2_chunked_continued_by_steps(rng):
    b, n, H, P, G, N = 2, 45, 4, 8, 2, 16
    x, dt = _f(rng, b, n, H, P), _f(rng, b, n, H)
    A = -np.exp(_f(rng, H))
    B, C = _f(rng, b, n, G, N), _f(rng, b, n, G, N)
    y, state = lc.mamba2_chunked(x, dt, A, B, C, chunk=16)
    y1, st = lc.mamba2_chunked(x[:, :30], dt[:, :30], A, B[:, :30], C[:, :30], chunk=16)
    ys = [y1]
    for t in range(30, n):
        yt, _ = lc.ssd_step(x[:, t:t + 1], dt[:, t:t + 1], A, B[:, t:t + 1], C[:, t:t + 1], state=st)
        ys.append(yt)
    np.testing.assert_allclose(np.concatenate(ys, axis=1), y, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(st, state, atol=2e-5, rtol=1e-4)
    ws = np.empty(lc.ssd_workspace_size(x, dt, A, B, C, chunk=16), np.uint8)
    np.testing.assert_array_equal(lc.ssd(x, dt, A, B, C, chunk=16, workspace=ws)[0], y)
    with pytest.raises(lc.InvalidArgument, match="workspace"):
        lc.ssd(x, dt, A, B, C, chunk=16, workspace=ws[:8])


def _mamba_weights(rng, hidden=12, E=20, N=6, K=4, R=3, bias=True):
    w = dict(in_proj_w=_f(rng, 2 * E, hidden, scale=0.3), conv_w=_f(rng, E, 1, K, scale=0.5),
             x_proj_w=_f(rng, R + 2 * N, E, scale=0.3), dt_proj_w=_f(rng, E, R, scale=0.3),
             A_log=np.log(np.tile(np.arange(1, N + 1, dtype=np.float32), (E, 1))), D=_f(rng, E),
             out_proj_w=_f(rng, hidden, E, scale=0.3))
    if bias:
        w.update(in_proj_b=_f(rng, 2 * E, scale=0.1), conv_b=_f(rng, E, scale=0.1), dt_proj_b=_f(rng, E, scale=0.1),
                 out_proj_b=_f(rng, hidden, scale=0.1))
    return w


def _ref_weights(w):
    out = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in w.items()}
    if out["conv_w"].ndim == 3:
        out["conv_w"] = out["conv_w"][:, 0]
    return out


@pytest.mark.parametrize("bias,jamba", [(True, False), (False, False), (True, True)])
def test_mamba_mixer(bias, jamba, rng):
    w = _mamba_weights(rng, bias=bias)
    if jamba:  # Jamba's inner RMSNorms on delta, B and C
        w.update(dt_norm_w=1 + _f(rng, 3, scale=0.1), b_norm_w=1 + _f(rng, 6, scale=0.1),
                 c_norm_w=1 + _f(rng, 6, scale=0.1), norm_eps=1e-6)
    layer = lc.MambaMixer(**w)
    b, n = 2, 19
    u = _f(rng, b, n, 12)
    y, st = layer(u)
    st0 = layer.new_state(b)
    wy, wc, wh = mamba_ref(_ref_weights(w), u.astype(np.float64), st0.conv.astype(np.float64),
                           st0.ssm.astype(np.float64))
    np.testing.assert_allclose(y, wy, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(st.conv, wc, atol=1e-6)
    np.testing.assert_allclose(st.ssm, wh, atol=2e-5, rtol=1e-4)
    # a prefill of 11 tokens continued by steps gives the same outputs and states
    y1, s2 = layer(u[:, :11])
    ys = [y1]
    for t in range(11, n):
        ys.append(layer(u[:, t:t + 1], s2, mode="step")[0])
    np.testing.assert_allclose(np.concatenate(ys, axis=1), y, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(s2.ssm, st.ssm, atol=2e-5, rtol=1e-4)
    # from a transformers-style state_dict
    sd = {"m." + hf: w[ours] for ours, hf in lc.MambaMixer._hf_names.items() if ours in w}
    extra = {"norm_eps": w["norm_eps"]} if jamba else {}
    np.testing.assert_array_equal(lc.MambaMixer.from_state_dict(sd, prefix="m.", **extra)(u)[0], y)


@pytest.mark.parametrize("norm_group", [0, 4])
def test_mamba2_mixer(norm_group, rng):
    hidden, H, P, G, N, K = 10, 4, 6, 2, 5, 4
    E = H * P
    CD = E + 2 * G * N
    w = dict(in_proj_w=_f(rng, 2 * E + 2 * G * N + H, hidden, scale=0.3), in_proj_b=_f(rng, 2 * E + 2 * G * N + H, scale=0.1),
             conv_w=_f(rng, CD, K, scale=0.5), conv_b=_f(rng, CD, scale=0.1), dt_bias=_f(rng, H, scale=0.5),
             A_log=_f(rng, H, scale=0.5), D=_f(rng, H), norm_w=1 + _f(rng, E, scale=0.1),
             out_proj_w=_f(rng, hidden, E, scale=0.3))
    layer = lc.Mamba2Mixer(heads=H, groups=G, state=N, norm_group=norm_group, chunk=5, **w)
    assert layer.head_dim == P and layer.hidden == hidden
    b, n = 2, 21
    u = _f(rng, b, n, hidden)
    y, st = layer(u)
    z = layer.new_state(b)
    wy, wc, wh = mamba2_ref(_ref_weights(w), u.astype(np.float64), z.conv.astype(np.float64),
                            z.ssm.astype(np.float64), H, G, N, norm_group=norm_group, eps=1e-5)
    np.testing.assert_allclose(y, wy, atol=5e-5, rtol=2e-4)
    np.testing.assert_allclose(st.conv, wc, atol=1e-6)
    np.testing.assert_allclose(st.ssm, wh, atol=5e-5, rtol=2e-4)
    y1, s2 = layer(u[:, :8])
    ys = [y1] + [layer(u[:, t:t + 1], s2, mode="step")[0] for t in range(8, n)]
    np.testing.assert_allclose(np.concatenate(ys, axis=1), y, atol=5e-5, rtol=2e-4)


def test_softplus():
    x = np.array([-40, -1, 0, 3, 20, 25], np.float32)
    np.testing.assert_allclose(lc.softplus(x), softplus_ref(x.astype(np.float64)), rtol=1e-6)
    assert lc.softplus(30.0) == 30.0


def test_refusals(rng):
    x, dt = _f(rng, 1, 5, 4), _f(rng, 1, 5, 4)
    A, B, C = -np.ones((4, 3), np.float32), _f(rng, 1, 5, 3), _f(rng, 1, 5, 3)
    with pytest.raises(lc.InvalidArgument, match=r"B has shape \[1, 5, 2\], expected \[1, 5, 3\]"):
        lc.selective_scan(x, dt, A, B[..., :2], C)
    with pytest.raises(lc.InvalidArgument, match="x has dtype float64; this entry point takes float32"):
        lc.selective_scan(x.astype(np.float64), dt, A, B, C)
    with pytest.raises(lc.InvalidArgument, match="out must be C-contiguous: the library writes it"):
        lc.selective_scan(x, dt, A, B, C, out=np.zeros((1, 5, 8), np.float32)[..., ::2])
    with pytest.raises(lc.InvalidArgument, match=r"state=2000 must be in 1..1024"):
        lc.selective_scan(x, dt, -np.ones((4, 2000), np.float32), np.zeros((1, 5, 2000), np.float32),
                          np.zeros((1, 5, 2000), np.float32))
    with pytest.raises(lc.InvalidArgument, match=r"n=0 must be > 0"):
        lc.selective_scan(x[:, :0], dt[:, :0], A, B[:, :0], C[:, :0])
    xs, dts = _f(rng, 1, 5, 3, 2), _f(rng, 1, 5, 3)
    Bs = _f(rng, 1, 5, 2, 4)
    with pytest.raises(lc.InvalidArgument, match="groups=2 must be > 0 and divide heads=3"):
        lc.ssd(xs, dts, -np.ones(3, np.float32), Bs, Bs)
    with pytest.raises(lc.InvalidArgument, match="dt_min=2, dt_max=1: need 0 <= dt_min <= dt_max"):
        lc.ssd(xs, dts, -np.ones(3, np.float32), Bs[:, :, :1], Bs[:, :, :1], dt_min=2, dt_max=1)
    with pytest.raises(lc.InvalidArgument, match="chunk=2000 must be in 0..1024"):
        lc.mamba2_chunked(xs, dts, -np.ones(3, np.float32), Bs[:, :, :1], Bs[:, :, :1], chunk=2000)
    with pytest.raises(lc.InvalidArgument, match=r"state has shape \[1, 3, 2, 3\], expected \[1, 3, 2, 4\]"):
        lc.ssd(xs, dts, -np.ones(3, np.float32), Bs[:, :, :1], Bs[:, :, :1], state=np.zeros((1, 3, 2, 3), np.float32))
    w = _mamba_weights(rng)
    with pytest.raises(lc.InvalidArgument, match=r"x_proj_w has shape \[14, 20\], expected \[15, 20\]"):
        lc.MambaMixer(**dict(w, x_proj_w=w["x_proj_w"][:14]))
    with pytest.raises(lc.InvalidArgument, match="conv_kernel=65 must be in 1..64"):
        lc.MambaMixer(**dict(w, conv_w=np.zeros((20, 65), np.float32)))
    layer = lc.MambaMixer(**w)
    with pytest.raises(lc.InvalidArgument, match=r"state.conv has shape \[2, 20, 3\], expected \[1, 20, 3\]"):
        layer(_f(rng, 1, 3, 12), layer.new_state(2))
    with pytest.raises(lc.InvalidArgument, match="mode 'decode' is not 'prefill' or 'step'"):
        layer(_f(rng, 1, 3, 12), mode="decode")
