"""The wall: a cost model of memory, FLOPs and bytes for every long-context technique
(include/longctx/cost.h, docs/cost-model.md), as data, as the table of `longctx wall` and as
a plot."""
import ctypes
import json
import math
import os

from . import _array
from ._lib import call, fn, refuse
from ._structs import CCostProblem, CCostRow, CModelShape, POINTER, c_double, c_int, c_int64

_c_char_p = ctypes.c_char_p
_preset_names = fn("lc_model_preset_names", POINTER(_c_char_p), [])
_preset = fn("lc_model_preset", c_int, [_c_char_p, POINTER(CModelShape)])
_model_check = fn("lc_model_check", c_int, [POINTER(CModelShape)])
_from_text = fn("lc_model_from_config_text", c_int, [_c_char_p, _c_char_p, c_double, POINTER(CModelShape)])
_from_file = fn("lc_model_from_config_file", c_int, [_c_char_p, c_double, POINTER(CModelShape)])
_tech_name = fn("lc_technique_name", _c_char_p, [c_int])
_tech_parse = fn("lc_technique_parse", c_int, [_c_char_p, POINTER(c_int)])
_defaults = fn("lc_cost_defaults", None, [POINTER(CCostProblem), POINTER(CModelShape)])
_cost_check = fn("lc_cost_check", c_int, [POINTER(CCostProblem)])
_applies = fn("lc_cost_applies", c_int, [POINTER(CCostProblem), c_int])
_eval = fn("lc_cost_eval", c_int, [POINTER(CCostProblem), c_int, c_int64, POINTER(CCostRow)])
_max_context = fn("lc_cost_max_context", c_int, [POINTER(CCostProblem), c_int, c_double, POINTER(c_int64)])
_parse_bytes = fn("lc_cost_parse_bytes", c_int, [_c_char_p, POINTER(c_double)])
_gpu_memory = fn("lc_cost_gpu_memory", c_int, [_c_char_p, POINTER(c_double)])
_gpu_names = fn("lc_cost_gpu_names", POINTER(_c_char_p), [])
_sum_clamped = fn("lc_sum_clamped", c_double, [c_int64, c_int64, c_int64, c_int64, c_int64])
_pairs_causal = fn("lc_pairs_causal", c_double, [c_int64])
_pairs_sliding = fn("lc_pairs_sliding", c_double, [c_int64, c_int64])
_pairs_longformer = fn("lc_pairs_longformer", c_double, [c_int64, c_int64, c_int64])
_pairs_bigbird = fn("lc_pairs_bigbird", c_double, [c_int64, c_int64, c_int64, c_int64, c_int64])

MAX_TOKENS = 1 << 40
ROW_FIELDS = tuple(f[0] for f in CCostRow._fields_)
_SHAPE_INTS = tuple(f[0] for f in CModelShape._fields_ if f[0] not in ("name", "params", "active_params"))


def _names(f):
    arr, out, i = f(), [], 0
    while arr[i]:
        out.append(arr[i].decode())
        i += 1
    return out


def presets():
    """Names of the built-in model presets ("llama-3.1-8b", ..., "jamba-v0.1")."""
    return _names(_preset_names)


def gpus():
    """Names of the GPUs the cost model knows ("h100-80gb", "h200-141gb", ...)."""
    return _names(_gpu_names)


def gpu_memory(name):
    """Bytes of memory of a GPU by name (lc_cost_gpu_memory)."""
    out = c_double()
    call(_gpu_memory, name.encode(), ctypes.byref(out))
    return out.value


def parse_bytes(text):
    """"80GB" (10^9), "80GiB" (2^30), "512MB", "1.5TB" or a plain number -> bytes."""
    out = c_double()
    call(_parse_bytes, str(text).encode(), ctypes.byref(out))
    return out.value


def technique_names():
    """Names of the techniques, in the library's order: native, standard, flash, mha, gqa, mqa,
    sliding, longformer, bigbird, linear, mamba, mla, kv-quant."""
    out, i = [], 0
    while True:
        n = _tech_name(i).decode()
        if n == "?":
            return out
        out.append(n)
        i += 1


def technique_code(t):
    if isinstance(t, int):
        return t
    out = c_int()
    call(_tech_parse, str(t).encode(), ctypes.byref(out))
    return out.value


# ---- exact pair counts
def sum_clamped(a, b, off, lo, hi):
    """sum over p in [a, b) of min(hi, max(lo, p + off)), lo <= hi."""
    return _sum_clamped(a, b, off, lo, hi)


def pairs_causal(n):
    """(query, key) pairs of causal attention over n tokens: n (n + 1) / 2."""
    return _pairs_causal(n)


def pairs_sliding(n, window):
    """Pairs of a causal sliding window of `window` keys including self."""
    return _pairs_sliding(n, window)


def pairs_longformer(n, w, g):
    """Pairs of Longformer (bidirectional): keys within +-w, plus global tokens 0..g-1 both ways."""
    return _pairs_longformer(n, w, g)


def pairs_bigbird(n, block, window_blocks, global_blocks, random_blocks):
    """Pairs of BigBird (bidirectional); exact when block divides n."""
    return _pairs_bigbird(n, block, window_blocks, global_blocks, random_blocks)


# ---- model shapes
class ModelShape:
    """A model's shape as the cost model sees it (lc_model_shape): name, layers, attn_layers,
    local_layers, window, hidden, heads, kv_heads, head_dim_k, head_dim_v, kv_lora_rank,
    qk_rope_dim, ssm_inner, ssm_state, ssm_conv, params, active_params.

    ModelShape.preset("llama-3.1-8b"), ModelShape.from_config("config.json" or a dict or JSON
    text), or ModelShape(**fields) for a shape of your own."""

    def __init__(self, name="custom", **fields):
        self._s = CModelShape()
        self._s.name = str(name).encode()[:63]
        for k, v in fields.items():
            if k not in _SHAPE_INTS and k not in ("params", "active_params"):
                refuse("ModelShape has no field '%s'" % k)
            setattr(self._s, k, v)
        if fields and "active_params" not in fields:
            self._s.active_params = self._s.params

    @classmethod
    def _wrap(cls, s):
        m = cls.__new__(cls)
        m._s = s
        return m

    @classmethod
    def preset(cls, name):
        """A built-in preset by name (case-insensitive); see presets()."""
        s = CModelShape()
        call(_preset, str(name).encode(), ctypes.byref(s))
        return cls._wrap(s)

    @classmethod
    def from_config(cls, config, params=0.0, label=None):
        """A Hugging Face config.json: a path, a dict or JSON text. params > 0 gives the
        parameter count (needed for mixtures of experts and MLA); otherwise it is estimated."""
        s = CModelShape()
        if isinstance(config, dict):
            call(_from_text, json.dumps(config).encode(), (label or "config").encode(), float(params), ctypes.byref(s))
        elif isinstance(config, (str, os.PathLike)) and not str(config).lstrip().startswith("{"):
            call(_from_file, os.fsencode(config), float(params), ctypes.byref(s))
        else:
            call(_from_text, str(config).encode(), (label or "config").encode(), float(params), ctypes.byref(s))
        return cls._wrap(s)

    def check(self):
        """Validates the shape (lc_model_check)."""
        call(_model_check, ctypes.byref(self._s))

    def __getattr__(self, k):
        if k == "_s":
            raise AttributeError(k)
        if k == "name":
            return self._s.name.decode()
        if k in _SHAPE_INTS or k in ("params", "active_params"):
            return getattr(self._s, k)
        raise AttributeError(k)

    def __setattr__(self, k, v):
        if k == "_s":
            object.__setattr__(self, k, v)
        elif k == "name":
            self._s.name = str(v).encode()[:63]
        elif k in _SHAPE_INTS or k in ("params", "active_params"):
            setattr(self._s, k, v)
        else:
            refuse("ModelShape has no field '%s'" % k)

    def as_dict(self):
        d = {"name": self.name}
        d.update({k: getattr(self._s, k) for k in _SHAPE_INTS})
        d["params"], d["active_params"] = self._s.params, self._s.active_params
        return d

    def __repr__(self):
        return "ModelShape(%s)" % ", ".join("%s=%r" % kv for kv in self.as_dict().items())


_PROBLEM_FIELDS = ("batch", "score_dtype", "cache_dtype", "weight_dtype", "quant_dtype", "quant_group", "window",
                   "gqa_kv_heads", "lf_window", "lf_global", "bb_block", "bb_window", "bb_global", "bb_random",
                   "mla_rank", "mla_rope", "mamba_state")


class CostProblem:
    """One cost question (lc_cost_problem): a ModelShape and the technique parameters, filled
    with the library's defaults (lc_cost_defaults) and then any of: batch, score_dtype,
    cache_dtype, weight_dtype, quant_dtype ("f32", "bf16", "int8", "fp8", "int4", ...),
    quant_group, window, gqa_kv_heads, lf_window, lf_global, bb_block, bb_window, bb_global,
    bb_random, mla_rank, mla_rope, mamba_state."""

    def __init__(self, model, **overrides):
        if isinstance(model, str):
            model = ModelShape.preset(model)
        self.model = model
        self._p = CCostProblem()
        _defaults(ctypes.byref(self._p), ctypes.byref(model._s))
        for k, v in overrides.items():
            if k not in _PROBLEM_FIELDS:
                refuse("CostProblem has no field '%s'" % k)
            if v is None:
                continue
            setattr(self._p, k, _array.dtype_code(v, k) if k.endswith("_dtype") else int(v))
        call(_cost_check, ctypes.byref(self._p))

    @classmethod
    def _wrap(cls, p):
        """A CostProblem over a filled lc_cost_problem (a copy of it)."""
        obj = cls.__new__(cls)
        obj._p = CCostProblem.from_buffer_copy(p)
        obj.model = ModelShape._wrap(CModelShape.from_buffer_copy(obj._p.model))
        return obj

    def __getattr__(self, k):
        if k in ("_p", "model"):
            raise AttributeError(k)
        if k in _PROBLEM_FIELDS:
            v = getattr(self._p, k)
            return _array.DTYPE_NAMES[v] if k.endswith("_dtype") else v
        raise AttributeError(k)

    def applies(self, technique):
        """Whether the technique applies to the model (attention techniques need heads)."""
        return bool(_applies(ctypes.byref(self._p), technique_code(technique)))

    def eval(self, technique, n):
        """The cost of a technique at context n (tokens per sequence), as a dict of
        pairs, score_matrix_bytes, score_layer_bytes, score_model_bytes, workspace_bytes,
        cache_bytes, weight_bytes, total_bytes, prefill_flops, decode_flops, decode_bytes."""
        r = CCostRow()
        call(_eval, ctypes.byref(self._p), technique_code(technique), int(n), ctypes.byref(r))
        return {f: getattr(r, f) for f in ROW_FIELDS}

    def max_context(self, technique, device_bytes):
        """The longest context whose total bytes fit in device_bytes (a number or "80GiB"):
        0 when not even one token fits, -1 when every length up to 2^40 does."""
        if isinstance(device_bytes, str):
            device_bytes = parse_bytes(device_bytes)
        out = c_int64()
        call(_max_context, ctypes.byref(self._p), technique_code(technique), float(device_bytes), ctypes.byref(out))
        return out.value


# ---- lengths
def _parse_length(s):
    s = s.strip()
    mult = 1
    if s[-1:] in "kK" and s:
        mult, s = 1024, s[:-1]
    elif s[-1:] in "mM" and s:
        mult, s = 1 << 20, s[:-1]
    elif s[-1:] in "gG" and s:
        mult, s = 1 << 30, s[:-1]
    try:
        v = float(s) * mult
    except ValueError:
        v = -1
    if not (1 <= v <= MAX_TOKENS) or v != math.floor(v):
        refuse("lengths must be lengths in [1, 2^40] like 1K,4K,1M or 1K..2M")
    return int(v)


def parse_lengths(text):
    """"1K,4K,1M" or "1K..2M" (doubling) -> a sorted list of token counts; a list of ints
    passes through (sorted)."""
    if not isinstance(text, str):
        out = sorted(int(x) for x in text)
        if not out or out[0] < 1 or out[-1] > MAX_TOKENS:
            refuse("lengths must be lengths in [1, 2^40]")
        return out
    if ".." in text:
        a, b = text.split("..", 1)
        a, b = _parse_length(a), _parse_length(b)
        if b < a:
            refuse("lengths must be lengths in [1, 2^40] like 1K,4K,1M or 1K..2M")
        out = []
        while a <= b and len(out) < 64:
            out.append(a)
            a *= 2
        return out
    parts = text.split(",")
    if len(parts) > 64 or any(not p for p in parts):
        refuse("lengths must be lengths in [1, 2^40] like 1K,4K,1M or 1K..2M")
    return sorted(_parse_length(p) for p in parts)


# ---- formatting as `longctx wall` prints
def fmt_bytes(b):
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB")
    u = 0
    while b >= 1024 and u < 7:
        b /= 1024
        u += 1
    f = "%.0f %s" if u == 0 else "%.2f %s" if b < 10 else "%.1f %s" if b < 100 else "%.0f %s"
    return f % (b, units[u])


def fmt_si(v):
    units = ("", "K", "M", "G", "T", "P", "E", "Z", "Y")
    u = 0
    while v >= 1000 and u < 8:
        v /= 1000
        u += 1
    f = "%.2f%s" if v < 10 else "%.1f%s" if v < 100 else "%.0f%s"
    return f % (v, units[u])


def fmt_tokens(t):
    v = int(t)
    if v >= 1 << 30 and v % (1 << 30) == 0:
        return "%dG" % (v >> 30)
    if v >= 1 << 20 and v % (1 << 20) == 0:
        return "%dM" % (v >> 20)
    if v >= 1024 and v % 1024 == 0:
        return "%dK" % (v >> 10)
    return "%d" % v


def _fit_text(fit):
    """max_context in the command's CSV: the length, or "unbounded" (never a -1 placeholder)."""
    return "%d" % fit if fit >= 0 else "unbounded"


class Wall:
    """The result of wall(): the cost of each technique at each length, and the longest
    context that fits on the device.

      rows          list of dicts: technique, n, the cost fields (CostProblem.eval) and fits
      max_context   {technique: longest n that fits (0: not even the weights; -1: unbounded)}
      problem       the CostProblem; device_name, device_bytes; lengths; techniques
      table()       the text table of `longctx wall`      csv()   its CSV      json()  its JSON
      column(f, t)  one field of one technique over the lengths (a list)
      plot(path)    total memory vs length, log-log: .svg written by this package, other
                    formats through matplotlib when it is installed"""

    def __init__(self, problem, lengths, techniques, device_name, device_bytes):
        self.problem, self.lengths, self.techniques = problem, lengths, techniques
        self.device_name, self.device_bytes = device_name, device_bytes
        self.rows = []
        self.max_context = {}
        for t in techniques:
            self.max_context[t] = problem.max_context(t, device_bytes)
            for n in lengths:
                r = problem.eval(t, n)
                r = dict(technique=t, n=n, **r)
                r["fits"] = r["total_bytes"] <= device_bytes
                self.rows.append(r)

    def column(self, field, technique):
        return [r[field] for r in self.rows if r["technique"] == technique]

    def _describe(self):
        m, p = self.problem.model, self.problem
        s = "model %s: %d layers" % (m.name, m.layers)
        if m.attn_layers > 0:
            s += " (%d attention, %d heads, %d KV heads, head dim %d/%d" % (m.attn_layers, m.heads, m.kv_heads,
                                                                          m.head_dim_k, m.head_dim_v)
        if m.local_layers > 0:
            s += ", %d with a %d-token window" % (m.local_layers, m.window)
        if m.kv_lora_rank > 0:
            s += ", MLA latent %d + %d" % (m.kv_lora_rank, m.qk_rope_dim)
        if m.attn_layers > 0:
            s += ")"
        if m.layers > m.attn_layers:
            s += ", %d Mamba (d_inner %d, d_state %d)" % (m.layers - m.attn_layers, m.ssm_inner, m.ssm_state)
        s += ", %s params" % fmt_si(m.params)
        if m.active_params < m.params:
            s += " (%s active)" % fmt_si(m.active_params)
        s += "\ndevice %s = %s; batch %d; weights %s, scores %s, cache %s\n" % (
            self.device_name, fmt_bytes(self.device_bytes), p.batch, p.weight_dtype, p.score_dtype, p.cache_dtype)
        return s

    def table(self):
        """The text table `longctx wall` prints, line for line."""
        f = "%-10s %6s %10s %10s %10s %10s %10s %9s %9s %10s %4s\n"
        out = [self._describe(), "\n", f % ("technique", "n", "scores/hd", "scores/lyr", "scores/mdl", "KV/state",
                                            "total mem", "prefill", "decode", "dec.bytes", "fits"),
               f % ("", "tokens", "one head", "one layer", "all layers", "", "+weights", "FLOP", "FLOP/tok",
                    "read/tok", "")]
        for t in self.techniques:
            out.append("-" * 106 + "\n")
            for i, r in enumerate(r for r in self.rows if r["technique"] == t):
                s1 = s2 = s3 = "-"
                if r["score_matrix_bytes"] > 0:
                    s1, s2, s3 = (fmt_bytes(r[k]) for k in ("score_matrix_bytes", "score_layer_bytes",
                                                            "score_model_bytes"))
                out.append(f % (t if i == 0 else "", fmt_tokens(r["n"]), s1, s2, s3, fmt_bytes(r["cache_bytes"]),
                                fmt_bytes(r["total_bytes"]), fmt_si(r["prefill_flops"]), fmt_si(r["decode_flops"]),
                                fmt_bytes(r["decode_bytes"]), "yes" if r["fits"] else "NO"))
        p = self.problem
        out.append("\nthe wall: the longest context that fits in %s next to %s of weights\n" % (
            fmt_bytes(self.device_bytes), fmt_bytes(p.model.params * _DTYPE_BYTES[p.weight_dtype])))
        for t in self.techniques:
            fit = self.max_context[t]
            if fit < 0:
                s = "unbounded"
            elif fit == 0:
                s = "none: the weights alone do not fit"
            elif fit >= 10000:
                s = "%d (%s)" % (fit, fmt_si(fit))
            else:
                s = "%d" % fit
            out.append("  %-10s %s\n" % (t, s))
        return "".join(out)

    def __str__(self):
        return self.table()

    def __repr__(self):
        return "<Wall %s: %d techniques x %d lengths on %s>" % (self.problem.model.name, len(self.techniques),
                                                              len(self.lengths), self.device_name)

    def csv(self):
        """The CSV of `longctx wall --csv`."""
        lines = ["technique,n,pairs_per_head,score_matrix_bytes,score_layer_bytes,score_model_bytes,workspace_bytes,"
                 "cache_bytes,weight_bytes,total_bytes,prefill_flops,decode_flops,decode_bytes,fits,max_context"]
        for r in self.rows:
            lines.append(",".join([r["technique"], "%d" % r["n"]] + [_g17(r[k]) for k in ROW_FIELDS] +
                                  ["%d" % r["fits"], _fit_text(self.max_context[r["technique"]])]))
        return "\n".join(lines) + "\n"

    def as_dict(self):
        """The data of `longctx wall --json` as Python objects."""
        m = self.problem.model.as_dict()
        techs = []
        for t in self.techniques:
            rows = []
            for r in self.rows:
                if r["technique"] == t:
                    d = {"n": r["n"], "pairs_per_head": r["pairs"]}
                    d.update({k: r[k] for k in ROW_FIELDS[1:]})
                    d["fits"] = r["fits"]
                    rows.append(d)
            fit = self.max_context[t]  # the command writes null (and "unbounded": true) where nothing walls it
            techs.append({"name": t, "max_context": fit if fit >= 0 else None, "unbounded": fit < 0, "rows": rows})
        p = self.problem
        return {"model": m, "device": self.device_name, "device_bytes": self.device_bytes, "batch": p.batch,
                "score_dtype": p.score_dtype, "cache_dtype": p.cache_dtype, "weight_dtype": p.weight_dtype,
                "techniques": techs}

    def json(self, **kw):
        return json.dumps(self.as_dict(), **kw)

    def plot(self, path=None, ax=None):
        """Total memory (weights + cache + workspace) against context length, log-log, one
        line per technique and the device's memory as a horizontal line. path ending in .svg:
        written by this package (no dependency); any other path, or ax (a matplotlib Axes):
        drawn with matplotlib. Returns the path (or the Axes)."""
        if ax is None and path is not None and str(path).lower().endswith(".svg"):
            with open(path, "w") as f:
                f.write(self.svg())
            return path
        try:
            import matplotlib
            if ax is None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            refuse("plot: a .svg path needs nothing; other formats need matplotlib, which is not installed",
                   cls=_Unsupported)
        own = ax is None
        if own:
            fig, ax = plt.subplots(figsize=(12, 7.6))
        for t in self.techniques:
            ax.loglog(self.lengths, self.column("total_bytes", t), marker="o", ms=3, label=self._label(t))
        ax.axhline(self.device_bytes, color="k", ls="--", label="%s: %s" % (self.device_name,
                                                                        fmt_bytes(self.device_bytes)))
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("memory: weights + KV cache/state + attention workspace (bytes)")
        ax.set_title(self._title())
        ax.legend(fontsize=8)
        if own:
            fig.savefig(path)
            plt.close(fig)
            return path
        return ax

    def _title(self):
        p = self.problem
        return "The wall: %s, batch %d, %s cache, %s weights" % (p.model.name, p.batch, p.cache_dtype, p.weight_dtype)

    def _label(self, t):
        fit = self.max_context[t]
        f = "no wall" if fit < 0 else "weights do not fit" if fit == 0 else "wall at " + fmt_si(fit)
        return "%s (%s)" % (t, f)

    def svg(self, width=1200, height=760):
        """The plot as SVG text (log-log, total memory against length)."""
        colors = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31")
        x0, y0, w, h = 110, 60, 800, 610
        xs = [float(n) for n in self.lengths]
        ys = [r["total_bytes"] for r in self.rows] + [self.device_bytes]
        ymin = 2.0 ** math.floor(math.log2(max(min(y for y in ys if y > 0) * 0.7, 1)))
        ymax = 2.0 ** math.ceil(math.log2(max(ys) * 1.5))
        xmin, xmax = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] * 2
        lx = lambda v: x0 + w * (math.log(v) - math.log(xmin)) / (math.log(xmax) - math.log(xmin))  # noqa: E731
        ly = lambda v: y0 + h - h * (math.log(max(v, ymin)) - math.log(ymin)) / (math.log(ymax) - math.log(ymin))  # noqa
        esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
        o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
             'font-size="12">' % (width, height), '<rect width="100%" height="100%" fill="white"/>',
             '<text x="%d" y="30" font-size="16">%s</text>' % (x0, esc(self._title())),
             '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>' % (x0, y0, w, h)]
        e = math.ceil(math.log2(xmin))
        while 2.0 ** e <= xmax:
            v = 2.0 ** e
            if e % 2 == 0 or xmax / xmin < 64:
                o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (lx(v), y0, lx(v), y0 + h))
                o.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (lx(v), y0 + h + 18, fmt_tokens(v)))
            e += 1
        e = int(math.log2(ymin))
        step = max(1, int(math.ceil((math.log2(ymax) - e) / 12)))
        while 2.0 ** e <= ymax:
            v = 2.0 ** e
            o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (x0, ly(v), x0 + w, ly(v)))
            o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (x0 - 6, ly(v) + 4, fmt_bytes(v)))
            e += step
        o.append('<text x="%d" y="%d" text-anchor="middle">context length (tokens)</text>' % (x0 + w // 2, y0 + h + 40))
        o.append('<text transform="translate(30,%d) rotate(-90)" text-anchor="middle">memory: weights + KV '
                 'cache/state + attention workspace</text>' % (y0 + h // 2))
        yd = ly(self.device_bytes)
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black" stroke-dasharray="6,4"/>' % (x0, yd, x0 + w, yd))
        o.append('<text x="%d" y="%.1f">%s</text>' % (x0 + 6, yd - 5, esc("%s: %s" % (self.device_name,
                                                                                  fmt_bytes(self.device_bytes)))))
        for i, t in enumerate(self.techniques):
            c = colors[i % len(colors)]
            pts = " ".join("%.1f,%.1f" % (lx(x), ly(y)) for x, y in zip(xs, self.column("total_bytes", t)))
            o.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>' % (pts, c))
            yy = y0 + 10 + 20 * i
            o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (x0 + w + 20, yy, x0 + w + 44, yy, c))
            o.append('<text x="%d" y="%d">%s</text>' % (x0 + w + 50, yy + 4, esc(self._label(t))))
        o.append("</svg>")
        return "\n".join(o) + "\n"


def _g17(v):
    return "%.17g" % v


_DTYPE_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "int8": 1.0, "fp8": 1.0, "int4": 0.5}


def wall(model="llama-3.1-8b", *, config=None, params=None, active_params=None, lengths="1K..2M", batch=1,
         gpu="h100-80gb", mem=None, score_dtype=None, cache_dtype=None, weight_dtype=None, quant_dtype=None,
         window=None, kv_heads=None, techniques=None, **problem):
    """The wall, as `longctx wall` computes it: returns a Wall (rows, max_context, table(),
    csv(), json(), plot()).

      model        a preset name (presets()) or a ModelShape; config: a Hugging Face
                   config.json (path, dict or JSON text) instead
      params, active_params   parameter counts (numbers, or "8B", "70.6e9"): for configs
                   whose count cannot be estimated (MoE, MLA), or to override
      lengths      "1K..2M" (doubling), "1K,4K,128K", or a list of ints
      batch        sequences;  gpu: a GPU name (gpus()), or mem: "80GB", "141GiB" or bytes
      score_dtype, cache_dtype, weight_dtype, quant_dtype   "f32", "f16", "bf16", "int8", "fp8", "int4"
      window       sliding's window;  kv_heads: gqa's KV heads
      techniques   names (techniques()) or a comma-separated string; default every one that
                   applies to the model
      **problem    any other CostProblem field (lf_window, bb_block, mla_rank, ...)"""
    p_count = _params(params, "params")
    a_count = _params(active_params, "active_params")
    if config is not None:
        m = ModelShape.from_config(config, p_count or 0.0)
    elif isinstance(model, ModelShape):
        m = ModelShape._wrap(CModelShape.from_buffer_copy(model._s))
    else:
        m = ModelShape.preset(model)
    if p_count:
        m.params = p_count
        m.active_params = min(p_count, m.active_params)
    if a_count:
        m.active_params = a_count
    if m.active_params > m.params:
        refuse("active_params must not exceed the parameter count")
    prob = CostProblem(m, batch=batch, score_dtype=score_dtype, cache_dtype=cache_dtype, weight_dtype=weight_dtype,
                       quant_dtype=quant_dtype, window=window, gqa_kv_heads=kv_heads, **problem)
    if prob.quant_dtype not in ("int4", "int8", "fp8"):
        refuse("quant_dtype must be int4, int8 or fp8")
    if mem is not None:
        device_bytes = parse_bytes(mem) if isinstance(mem, str) else float(mem)
        device_name = "memory"
    else:
        device_bytes, device_name = gpu_memory(gpu), gpu
    all_t = technique_names()
    if techniques is None:
        chosen = [t for t in all_t if prob.applies(t)]
    else:
        if isinstance(techniques, str):
            techniques = techniques.split(",")
        want = set()
        for t in techniques:
            code = technique_code(t)
            if not prob.applies(code):
                refuse("technique %s needs attention heads; %s has none" % (t, m.name))
            want.add(all_t[code])
        chosen = [t for t in all_t if t in want]
    return Wall(prob, parse_lengths(lengths), chosen, device_name, device_bytes)


def _params(v, name):
    if v is None:
        return 0.0
    if isinstance(v, str):
        s = v.strip()
        mult = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}.get(s[-1:].lower(), 1.0)
        if mult != 1.0:
            s = s[:-1]
        try:
            x = float(s) * mult
        except ValueError:
            x = -1.0
    else:
        x = float(v)
    if not (0 < x <= 1e15):
        refuse("%s must be a positive count like 8B or 70.6e9" % name)
    return x


from ._lib import Unsupported as _Unsupported  # noqa: E402


techniques = technique_names
