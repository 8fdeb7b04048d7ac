"""Tokenizers read from a Hugging Face tokenizer.json, giving the ids the `tokenizers`
library gives (include/longctx/tokenizer.h, docs/tokenizer.md)."""
import ctypes
import os

import numpy as np

from ._lib import Handle, InvalidState, call, fn, raise_for, refuse
from ._structs import POINTER, c_int, c_int64, c_size_t, c_void_p

_c_char_p = ctypes.c_char_p
_P_i32 = POINTER(ctypes.c_int32)
_load = fn("lc_tokenizer_load", c_int, [_c_char_p, POINTER(c_void_p)])
_destroy = fn("lc_tokenizer_destroy", None, [c_void_p])
_vocab = fn("lc_tokenizer_vocab_size", c_int64, [c_void_p])
_encode = fn("lc_tokenizer_encode", c_int, [c_void_p, _c_char_p, c_size_t, c_int, _P_i32, c_int64, POINTER(c_int64)])
_decode = fn("lc_tokenizer_decode", c_int, [c_void_p, _P_i32, c_int64, c_int, c_void_p, c_size_t, POINTER(c_size_t)])
_token_id = fn("lc_tokenizer_token_id", c_int, [c_void_p, _c_char_p, POINTER(ctypes.c_int32)])
_token_str = fn("lc_tokenizer_token_str", _c_char_p, [c_void_p, ctypes.c_int32])
_is_special = fn("lc_tokenizer_is_special", c_int, [c_void_p, ctypes.c_int32])
_bos = fn("lc_tokenizer_bos", ctypes.c_int32, [c_void_p])
_eos = fn("lc_tokenizer_eos", ctypes.c_int32, [c_void_p])

_ERANGE = 4


class Tokenizer(Handle):
    """A tokenizer.json (or a directory holding one, with tokenizer_config.json beside it for
    the BOS / EOS tokens): BPE, byte-level (GPT-2, Llama 3, Qwen2 regexes) or SentencePiece
    style, added tokens, post-processors; see docs/tokenizer.md for what is supported (the
    rest is refused as Unsupported, named). Immutable: threads may share one.

      encode(text, add_special=False) -> int32 ids     decode(ids, skip_special=False) -> str
      token_id("</s>"), token_str(id), is_special(id), vocab_size, bos, eos (-1: none)"""

    _what = "tokenizer"
    _destroy = _destroy

    def __init__(self, path):
        self._h = None
        h = c_void_p()
        call(_load, os.fsencode(path), ctypes.byref(h))
        self._h = h


    @property
    def vocab_size(self):
        """One past the largest id of the vocabulary and the added tokens."""
        return int(_vocab(self._handle()))

    @property
    def bos(self):
        return int(_bos(self._handle()))

    @property
    def eos(self):
        return int(_eos(self._handle()))

    def encode(self, text, add_special=False):
        """text (str, or UTF-8 bytes) -> ids, an int32 array. add_special applies the
        post-processor (e.g. prepends <s> or <|begin_of_text|>)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        cap = len(data) + 16
        while True:
            ids = np.empty(cap, np.int32)
            n = c_int64()
            st = _encode(self._handle(), data, len(data), int(bool(add_special)), ids.ctypes.data_as(_P_i32), cap,
                         ctypes.byref(n))
            if st == _ERANGE and n.value > cap:
                cap = n.value
                continue
            raise_for(st)
            return ids[:n.value].copy()

    def decode(self, ids, skip_special=False):
        """ids -> text, as `tokenizers`' decode: unknown ids skipped, skip_special leaves out
        special added tokens, bytes that are not UTF-8 become U+FFFD."""
        a = np.ascontiguousarray(np.asarray(ids).reshape(-1))
        if a.size and not np.issubdtype(a.dtype, np.integer):
            refuse("ids have dtype %s; token ids are integers" % a.dtype)
        a = a.astype(np.int32)
        cap = 16 * a.size + 64
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = c_size_t()
            st = _decode(self._handle(), a.ctypes.data_as(_P_i32), a.size, int(bool(skip_special)), buf, cap,
                         ctypes.byref(n))
            if st == _ERANGE and n.value >= cap:
                cap = n.value + 1
                continue
            raise_for(st)
            return buf.raw[:n.value].decode("utf-8")

    def token_id(self, token):
        """The id of a token string (added tokens first, then the vocabulary); OutOfRange if none."""
        out = ctypes.c_int32()
        call(_token_id, self._handle(), token.encode("utf-8"), ctypes.byref(out))
        return out.value

    def token_str(self, id):
        """The stored string of an id ("Ġhello", "▁the", "<0x0A>"), or None."""
        s = _token_str(self._handle(), int(id))
        return None if s is None else s.decode("utf-8", "replace")

    def is_special(self, id):
        return bool(_is_special(self._handle(), int(id)))

    def __len__(self):
        return self.vocab_size

    def __repr__(self):
        return "<Tokenizer vocab %d, bos %d, eos %d>" % (self.vocab_size, self.bos, self.eos)
