"""Tokenizer against the ids and texts Hugging Face `tokenizers` gave for the golden cases of
tests/fixtures/tokenizer (five trained tokenizer.json files); refusals."""
import json
import os

import numpy as np
import pytest

import longctx as lc

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "tests", "fixtures", "tokenizer")
NAMES = ["gpt2", "llama3", "qwen2", "spm", "spm_legacy"]
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(FIX, "cases.json")), reason="no tokenizer fixtures")


@pytest.mark.parametrize("name", NAMES)
def test_golden_cases(name):
    cases = json.load(open(os.path.join(FIX, "cases.json")))["cases"]
    tok = lc.Tokenizer(os.path.join(FIX, name))
    assert tok.vocab_size > 0
    for c in cases:
        if name not in c["ids"]:
            continue
        ids = tok.encode(c["text"])
        assert ids.dtype == np.int32
        assert ids.tolist() == c["ids"][name], c["text"]
        assert tok.encode(c["text"], add_special=True).tolist() == c["ids_special"][name], c["text"]
        if "decoded" in c and name in c["decoded"]:
            assert tok.decode(ids) == c["decoded"][name]


def test_tokens_and_specials():
    tok = lc.Tokenizer(os.path.join(FIX, "spm", "tokenizer.json"))
    assert tok.bos >= 0 and tok.is_special(tok.bos)
    assert tok.token_id(tok.token_str(tok.bos)) == tok.bos
    ids = tok.encode("Hello world", add_special=True)
    assert ids[0] == tok.bos
    assert tok.decode(ids, skip_special=True) == "Hello world"
    long_text = "the quick brown fox " * 500
    assert tok.decode(tok.encode(long_text)) == long_text


def test_refusals(tmp_path):
    with pytest.raises(lc.IOError):
        lc.Tokenizer(str(tmp_path / "absent.json"))
    (tmp_path / "bad.json").write_text("{\"model\": ")
    with pytest.raises(lc.FormatError):
        lc.Tokenizer(str(tmp_path / "bad.json"))
    tok = lc.Tokenizer(os.path.join(FIX, "gpt2"))
    with pytest.raises(lc.OutOfRange):
        tok.token_id("<no such token>")
    with pytest.raises(lc.InvalidArgument, match="UTF-8|utf-8|byte"):
        tok.encode(b"ab\xffcd")
    with pytest.raises(lc.InvalidArgument, match="integers"):
        tok.decode(np.array([1.5]))
