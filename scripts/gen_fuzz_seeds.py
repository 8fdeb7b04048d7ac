#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<name>/): small valid
inputs of each parser, from the test fixtures and from the formats' definitions, so that
libFuzzer starts from inputs that reach deep. Run from the repository root; the files are
committed, and the corpus replay tests run each of them on every test run. The fuzzer's own
finds that are worth keeping are added by hand (longctx-fuzz's -merge=1, see docs/reliability.md)."""
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
FIX = os.path.join(ROOT, "tests", "fixtures")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def config_seeds():
    src = os.path.join(FIX, "config")
    for f in sorted(os.listdir(src)):
        with open(os.path.join(src, f)) as fh:
            text = fh.read()
        try:
            text = compact(json.loads(text))
        except ValueError:
            pass  # the malformed fixtures stay as they are
        put("config", f, text)
    for m in sorted(os.listdir(os.path.join(FIX, "models"))):
        p = os.path.join(FIX, "models", m, "config.json")
        if os.path.exists(p):
            with open(p) as fh:
                put("config", "model-" + m + ".json", compact(json.load(fh)))


FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fnv(b):
    h = FNV_OFFSET
    for x in b:
        h = ((h ^ x) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def memory_file(heads, dk, dv, capacity, segment, index, first, end, m=32, ef=64, lists=1, probe=16):
    """A kNN memory file as lc_knn_memory_save writes it (src/memory/memory_io.c)."""
    b = b"LCKNNMEM" + struct.pack("<II", 1, 0x01020304)
    b += struct.pack("<14q", heads, dk, dv, capacity, segment, index, m, ef, lists, probe, first, end, 0, 0)
    rows = []
    for h in range(heads):
        for p in range(first, end):
            rows += [((p * 7 + h * 3 + i) % 11 - 5) / 4.0 for i in range(dk)]
        for p in range(first, end):
            rows += [((p * 5 + h + i) % 7 - 3) / 2.0 for i in range(dv)]
    b += struct.pack("<%df" % len(rows), *rows)
    return b + struct.pack("<Q", fnv(b))


def memory_seeds():
    files = {
        "exact-3-rows": memory_file(1, 4, 4, 8, 8, 0, 0, 3),
        "hnsw-2-heads-full-segment": memory_file(2, 4, 2, 8, 4, 1, 0, 6),
        "ivf-one-segment": memory_file(1, 2, 2, 64, 40, 2, 0, 45),
        "evicted-wrapped": memory_file(1, 2, 3, 4, 2, 0, 2, 6),
        "empty": memory_file(1, 1, 1, 1, 1, 0, 0, 0),
    }
    for name, b in sorted(files.items()):
        put("memory_file", name, b"\x00" + b)       # as it is
        put("memory_file", name + "-fixsum", b"\x01" + b)  # the harness recomputes the checksum


def args_seeds():
    modes = {
        0: ["12", "-5", "1000", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1x", " 3", ""],
        1: ["1", "4096", "4097", "-0"],
        2: ["0", "18446744073709551615", "18446744073709551616"],
        3: ["0.5", "1e-3", "1e309", "nan", "inf", "0x1p3", "-0", ".5", "5."],
        4: ["1K", "1.5K", "1.0001K", "2M", "1G", "1T", "1024T", "8388607T"],
        5: ["1K,4K,64K", "1K..2M", "1..1099511627776", "1K,,2K", "4K..1K", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"],
        6: ["8B", "70.6B", "236e9", "7000M", "1.2T", "-3B", "1e16"],
        7: ["0", "1", "1024", "1025", "100000", "-1", "2K"],
        8: ["80GB", "141GiB", "512MB", "1.5TB", "12345", "80XB", "-1GB"],
        9: ["f32", "bfloat16", "q4", "fp5", ""],
        10: ["flash", "kv-quant", "ring", "mla"],
        11: ["h100-80gb", "tpu", "llama-3.1-8b", "LLAMA-3.1-8B"],
        12: ["--lengths\n1K..2M\n--csv", "--model\ngemma-2-9b\n--batch\n4\n--json", "--mem\n24GiB\n--techniques\nflash,sliding,mla",
             "--batch\n0", "--list", "--lengths\n1..1T\n--model\nmamba-2.8b", "--params\n1e15\n--active-params\n1"],
        13: ["--n\n8", "--only\nbigbird\n--n\n16", "--n\n3", "--help"],
    }
    for mode, texts in sorted(modes.items()):
        for i, t in enumerate(texts):
            put("args", "mode%02d-%d" % (mode, i), bytes([mode]) + t.encode())


def safetensors_file(tensors, meta=None, data=b""):
    header = dict(tensors)
    if meta is not None:
        header["__metadata__"] = meta
    h = compact(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    f = lambda dtype, shape, a, b: {"dtype": dtype, "shape": shape, "data_offsets": [a, b]}
    files = {
        "f32-bf16-f16-empty": safetensors_file({"a": f("F32", [2, 3], 0, 24), "b": f("BF16", [4], 24, 32), "c": f("F16", [], 32, 34),
                                                "e": f("F32", [0], 34, 34)}, {"format": "pt"}, bytes(range(34))),
        "one-f32": safetensors_file({"w": f("F32", [1], 0, 4)}, None, b"\x00\x00\x80\x3f"),
        "eight-dims": safetensors_file({"x": f("F16", [1, 1, 1, 1, 1, 1, 2, 1], 0, 4)}, {"k": "v"}, b"\x00\x3c\x00\x40"),
        "refused-dtype": safetensors_file({"q": f("I8", [2], 0, 2)}, None, b"\x01\x02"),
    }
    for name, b in sorted(files.items()):
        put("safetensors", name, b"\x00" + b)
    index = {"metadata": {"total_size": 16}, "weight_map": {"w": "a.safetensors", "v": "b.safetensors"}}
    put("safetensors", "index-two-shards", b"\x01" + compact(index).encode())
    put("safetensors", "index-one-shard", b"\x01" + compact({"weight_map": {"w": "a.safetensors"}}).encode())


def small_tokenizer(path, keep):
    """The fixture tokenizer with its vocabulary cut to ids < keep and the merges that stay inside it."""
    with open(path) as fh:
        j = json.load(fh)
    m = j["model"]
    vocab = {t: i for t, i in m["vocab"].items() if i < keep}
    merges = []
    for mg in m["merges"]:
        a, b = mg if isinstance(mg, list) else mg.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    m["vocab"], m["merges"] = vocab, merges
    j["added_tokens"] = [t for t in j.get("added_tokens", []) if t["id"] < keep]
    return compact(j).encode()


def tokenizer_seeds():
    texts = ["Hello world, it's 2024!\n", "  naïve café 日本語 🙂", "a" * 40, "<s>x</s>", "\u2581spaces\tand\ttabs"]
    src = os.path.join(FIX, "tokenizer")
    for i, name in enumerate(sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))):
        j = small_tokenizer(os.path.join(src, name, "tokenizer.json"), 300)
        t = texts[i % len(texts)].encode()
        put("tokenizer", name, struct.pack("<H", len(t)) + j + t)
        put("tokenizer", name + "-no-text", struct.pack("<H", 0) + j)


def side_config_seeds():
    """fuzz_side_config: mode 0 + a tokenizer_config.json, mode 1 + a generation_config.json;
    the fixtures' files, then the forms transformers writes and a few it does not."""
    for d in sorted(os.listdir(os.path.join(FIX, "models"))):
        for mode, name in ((0, "tokenizer_config.json"), (1, "generation_config.json")):
            p = os.path.join(FIX, "models", d, name)
            if os.path.exists(p):
                with open(p) as fh:
                    put("side_config", "%s-%s" % (d, name.split("_")[0]), bytes([mode]) + compact(json.load(fh)).encode())
    tok = {
        "strings-add-both": {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True, "add_eos_token": True},
        "content-objects": {"bos_token": {"content": "<|begin_of_text|>", "lstrip": False, "__type": "AddedToken"},
                            "eos_token": {"content": "<|end_of_text|>"}, "add_bos_token": True},
        "null-bos-eos-only": {"bos_token": None, "eos_token": "<|endoftext|>", "add_eos_token": True},
        "unknown-tokens": {"bos_token": "<nope>", "eos_token": 7, "add_bos_token": "yes"},
        "empty-object": {},
    }
    for name, obj in tok.items():
        put("side_config", "tok-" + name, b"\x00" + compact(obj).encode())
    put("side_config", "tok-not-an-object", b"\x00[1, 2]")
    put("side_config", "tok-truncated", b"\x00{\"bos_token\": \"<s")
    gen = {
        "eos-list": {"bos_token_id": 0, "eos_token_id": [1, 2, 3]},
        "eos-int": {"eos_token_id": 5},
        "eos-many": {"eos_token_id": list(range(20))},
        "eos-negative": {"eos_token_id": -1},
        "eos-float": {"eos_token_id": 2.5},
        "eos-huge": {"eos_token_id": 4e62},
        "eos-string": {"eos_token_id": "</s>"},
        "no-eos": {"do_sample": True, "temperature": 0.6},
    }
    for name, obj in gen.items():
        put("side_config", "gen-" + name, b"\x01" + compact(obj).encode())
    put("side_config", "gen-not-an-object", b"\x01\"text\"")
    put("side_config", "gen-empty", b"\x01")


if __name__ == "__main__":
    config_seeds()
    memory_seeds()
    args_seeds()
    safetensors_seeds()
    tokenizer_seeds()
    side_config_seeds()
    for h in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, h)
        files = os.listdir(d)
        print("%-12s %3d files, %6d bytes" % (h, len(files), sum(os.path.getsize(os.path.join(d, f)) for f in files)))
