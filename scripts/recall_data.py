"""The needle-in-a-haystack format shared by longctx's recall harness (src/recall/) and the
training script (scripts/train_recall_models.py). Standard library only, so that it runs
anywhere: `python3 scripts/recall_data.py OUTDIR` writes the tokenizer.json the trained
models use.

The format (docs/recall.md); src/recall/filler.c holds the same word lists and templates:

  prompt   = <s> haystack question
  haystack = filler sentences, cut to an exact token count, with needles inserted at
             token offsets (the asked needle at the requested depth)
  filler   = sentences drawn uniformly from five templates with uniform words:
               " The {noun} is {adj}."
               " {name} {verb} the {adj} {noun} near the {place}."
               " The {noun} and the {noun} are {adj}."
               " Here we go."
               " There and back again."
  needle   = " The special magic number for {key} is {value}."      (value: 7 digits)
  question = " What is the special magic number for {key}? The special magic number for {key} is"
  answer   = " {value}." then </s>
  multi-value (RULER's MV-NIAH): V needles of one key; the question
             " What are all the special magic numbers for {key}? The special magic numbers for {key} are"
             and the answer " {v1}, {v2}, ... {vV}." in the order they appear
  multi-key (RULER's MK-NIAH): needles of distinct keys, one of them asked

The tokenizer is a byte-level BPE whose vocabulary holds the 256 byte symbols and every word
of the format as one token (with its leading space, "Ġgrass"), no merges and ignore_merges:
a pre-token in the vocabulary is one token, any other falls back to bytes. The Digits
pre-tokenizer (individual digits) runs before the ByteLevel one, so a value is seven digit
tokens after a lone "Ġ".
"""
import json
import os
import re
import sys

NOUNS = ["grass", "sky", "sun", "moon", "river", "tree", "stone", "road", "house", "field", "garden", "cloud", "wind", "rain",
         "snow", "hill", "lake", "forest", "bird", "dog", "cat", "horse", "boat", "bridge", "door", "window", "wall", "lamp",
         "book", "table"]
ADJS = ["green", "blue", "yellow", "red", "white", "black", "grey", "brown", "old", "new", "tall", "short", "warm", "cold",
        "quiet", "loud", "bright", "dark", "soft", "hard", "wide", "narrow"]
PLACES = ["market", "station", "harbor", "village", "castle", "library", "kitchen", "valley", "school", "tower"]
NAMES = ["Anna", "Bruno", "Clara", "David", "Emma", "Felix", "Grace", "Henry", "Irene", "Jonas", "Karl", "Laura"]
VERBS = ["saw", "found", "liked", "painted", "passed", "visited"]
KEYS = ["apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "olive", "peach", "pear", "plum", "berry", "tiger",
        "lion", "zebra", "panda", "koala", "otter", "falcon", "eagle", "raven", "whale", "shark", "salmon", "ruby", "amber",
        "coral", "jade", "pearl", "opal", "topaz", "silver", "piano", "violin", "guitar", "flute", "drum", "harp", "trumpet",
        "cello", "rocket", "comet", "planet", "galaxy", "meteor", "orbit", "nebula", "quasar", "pepper", "ginger", "garlic",
        "onion", "carrot", "potato", "tomato", "radish", "anchor", "compass", "lantern", "candle", "mirror", "ladder",
        "hammer", "kettle"]
OTHER = ["The", "the", "is", "are", "near", "and", "Here", "we", "go", "There", "back", "again", "special", "magic",
         "number", "numbers", "for", "What", "all"]
SPECIALS = ["<s>", "</s>", "<pad>"]
BOS, EOS, PAD = 0, 1, 2
VOCAB_SIZE = 512  # the models' embedding rows (the tokenizer uses fewer ids)


def needle_text(key, value):
    return f" The special magic number for {key} is {value}."


def question_text(key, values=1):
    if values == 1:
        return f" What is the special magic number for {key}? The special magic number for {key} is"
    return f" What are all the special magic numbers for {key}? The special magic numbers for {key} are"


def answer_text(values):
    return " " + ", ".join(values) + "."


def filler_sentence(rng):
    """One filler sentence; rng is a random.Random (longctx draws the same distribution with Philox)."""
    t = rng.randrange(5)
    if t == 0:
        return f" The {rng.choice(NOUNS)} is {rng.choice(ADJS)}."
    if t == 1:
        return f" {rng.choice(NAMES)} {rng.choice(VERBS)} the {rng.choice(ADJS)} {rng.choice(NOUNS)} near the {rng.choice(PLACES)}."
    if t == 2:
        return f" The {rng.choice(NOUNS)} and the {rng.choice(NOUNS)} are {rng.choice(ADJS)}."
    if t == 3:
        return " Here we go."
    return " There and back again."


def bytes_to_unicode():
    """GPT-2's byte -> printable character table (the ByteLevel pre-tokenizer's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def vocabulary():
    """token string -> id: the specials, the 256 byte symbols (byte order), then each word with its leading space."""
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    b2u = bytes_to_unicode()
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    for w in OTHER + NOUNS + ADJS + PLACES + NAMES + VERBS + KEYS:
        t = "Ġ" + w
        if t not in vocab:
            vocab[t] = len(vocab)
    assert len(vocab) <= VOCAB_SIZE
    return vocab


def tokenizer_json():
    vocab = vocabulary()
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
             for i, s in enumerate(SPECIALS)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS], "tokens": ["<s>"]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True, "vocab": vocab, "merges": []},
    }


def write_tokenizer(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False, indent=1)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=1)


_PIECE = re.compile(r" ?[A-Za-z]+|[0-9]| (?=[0-9])|[^A-Za-z0-9 ]| ")


class Encoder:
    """The tokenizer's ids for the format's text, without the tokenizers library (checked against it
    by the training script): a word with its space is one token, a digit one token, a space before a
    digit the token "Ġ", punctuation one byte token."""

    def __init__(self):
        self.vocab = vocabulary()
        self.b2u = bytes_to_unicode()
        self.inv = {i: s for s, i in self.vocab.items()}

    def encode(self, text):
        ids = []
        for p in _PIECE.findall(text):
            sym = "".join(self.b2u[b] for b in p.encode())
            if sym in self.vocab:
                ids.append(self.vocab[sym])
            else:
                ids.extend(self.vocab[c] for c in sym)
        return ids

    def decode(self, ids):
        u2b = {c: b for b, c in self.b2u.items()}
        s = "".join(self.inv[i] for i in ids if i >= len(SPECIALS) and i in self.inv)  # unknown ids skipped, as tokenizers does
        return bytes(u2b[c] for c in s).decode("utf-8", errors="replace")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    write_tokenizer(out)
    enc = Encoder()
    print(f"wrote {out}/tokenizer.json: {len(enc.vocab)} tokens")
    print(enc.encode(needle_text("apple", "1234567")))
