#!/usr/bin/env python3
"""Golden fixtures for longctx's tokenizer and model runner (tests/test_tokenizer.c,
tests/test_model.c). Needs PyTorch, transformers and tokenizers; runs on the CPU.

Tokenizers (OUTDIR/tokenizer/<name>/tokenizer.json, trained here on a generated corpus):
    gpt2        byte-level BPE, GPT-2's regex (ByteLevel use_regex=true)
    llama3      Split with Llama 3's regex + ByteLevel(use_regex=false), ignore_merges, <|begin_of_text|> template
    qwen2       NFC, Split with Qwen2's regex + ByteLevel(use_regex=false)
    spm         SentencePiece-style BPE with byte fallback, Metaspace(prepend_scheme=first), <s> template
    spm_legacy  the same model with Llama 2's normalizer (Prepend + Replace) and no pre-tokenizer
and OUTDIR/tokenizer/cases.json: for every case text, the ids of each tokenizer with and
without special tokens and the decoded text.

Models (OUTDIR/models/<name>/): tiny random-weight float32 checkpoints written by
save_pretrained (llama in several shards), the tokenizer they use, and golden.json:
    {"prompt_text", "prompt_ids", "generated_ids" (16 greedy tokens, each the argmax of a
     full forward), "n_positions", "vocab", "logits_file": "logits.f32"}
logits.f32 is float32 [n_positions, vocab], transformers' logits of one forward over
prompt_ids + generated_ids (eager attention).

Usage: python3 scripts/gen_model_fixtures.py OUTDIR   (then copy OUTDIR/* to tests/fixtures/)
"""
import json
import math
import os
import shutil
import sys
import traceback
import unicodedata

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

WORDS = ("the a of to and in is it that was for on are with as his they be at one have this from or had by word but what "
         "some we can out other were all there when up use your how said an each she which do their time if will way about "
         "many then them write would like so these her long make thing see him two has look more day could go come did "
         "number sound no most people my over know water than call first who may down side been now find any new work part "
         "take get place made live where after back little only round man year came show every good me give our under name "
         "very through just form sentence great think say help low line differ turn cause much mean before move right boy "
         "old too same tell does set three want air well also play small end put home read hand port large spell add even "
         "land here must big high such follow act why ask men change went light kind off need house picture try us again "
         "animal point mother world near build self earth father needle haystack context window attention memory token").split()


def corpus(n_lines=3000, seed=1234):
    """Deterministic training text: sentences from WORDS with numbers, punctuation, code and
    some non-ASCII words, so merges cover each character class."""
    g = torch.Generator().manual_seed(seed)
    extra = ["café", "naïve", "über", "straße", "señor", "北京", "東京", "日本語", "привет", "мир", "γειά", "😀", "🚀", "—", "…"]
    code = ["def f(x):", "    return x + 1", "for (int i = 0; i < n; i++) {", "}", "x = [1, 2, 3]", "if (a != b) { c++; }",
            "print(\"hello\")", "#include <stdio.h>", "int main(void) { return 0; }"]
    lines = []
    for i in range(n_lines):
        r = int(torch.randint(0, 10, (1,), generator=g))
        if r == 0:
            lines.append(code[int(torch.randint(0, len(code), (1,), generator=g))])
            continue
        k = int(torch.randint(3, 14, (1,), generator=g))
        ws = []
        for _ in range(k):
            u = int(torch.randint(0, 40, (1,), generator=g))
            if u == 0:
                ws.append(str(int(torch.randint(0, 100000, (1,), generator=g))))
            elif u == 1:
                ws.append(extra[int(torch.randint(0, len(extra), (1,), generator=g))])
            else:
                w = WORDS[int(torch.randint(0, len(WORDS), (1,), generator=g))]
                ws.append(w.capitalize() if u == 2 else w)
        s = " ".join(ws)
        s += [".", ",", "!", "?", ";", ":", "'s", " n't", "..."][int(torch.randint(0, 9, (1,), generator=g))]
        lines.append(s)
    return lines


CASES = [
    "Hello world",
    "Hello, world! How are you?",
    "  leading spaces and trailing spaces   ",
    "multiple   spaces\tand\ttabs\nand\n\nnewlines\r\nand CRLF",
    "The year 2024 had 366 days; 1234567890 digits and 3.14159.",
    "It's a dog's life, isn't it? They'll say we'd done it, I'm sure you've seen.",
    "IT'S LOUD, YOU'LL SEE",
    "café naïve über straße señor",
    "北京 東京 日本語のテキスト",
    "привет мир γειά σου",
    "emoji 😀🚀 and ZWJ 👩‍👩‍👧 family",
    "def f(x):\n    return x + 1  # comment\n\tindented()",
    "for (int i = 0; i < n; i++) { a[i] = b[i] * 2; }",
    "unknown bytes: \u00a7 \u00b6 \u2603 \u0915\u094d\u0937 \U0001f9ec",
    "needle in a haystack: the secret number is 7302914.",
    "word" * 40,
    "",
    " ",
    "\n",
    "a",
]
SPECIAL_CASES = {
    "gpt2": ["before<|endoftext|>after", "<|endoftext|><|endoftext|>x"],
    "llama3": ["<|begin_of_text|>Hello<|eot_id|> world<|end_of_text|>", "a <|eot_id|> b"],
    "qwen2": ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>x"],
    "spm": ["<s> Hello</s> world", "a</s>b"],
    "spm_legacy": ["<s> Hello</s> world", "a</s>b"],
}


def train_bytelevel(lines, split, specials, vocab_size, ignore_merges, nfc):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    if split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok


def train_spm(lines, legacy, vocab_size):
    """SentencePiece-style BPE: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, then the
    learned pieces (the layout of Llama 2's tokenizer.json)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 256, special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=120,
                                  show_progress=False)
    tok.train_from_iterator(lines, trainer)
    j = json.loads(tok.to_str())
    if legacy:
        j["pre_tokenizer"] = None
    old = j["model"]["vocab"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = 3 + b
    for piece, _ in sorted(old.items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    j["model"]["vocab"] = vocab
    for a in j["added_tokens"]:
        a["id"] = vocab[a["content"]]
    tok = Tokenizer.from_str(json.dumps(j))
    if legacy:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return tok


def build_tokenizers(out):
    lines = corpus()
    toks = {}
    toks["gpt2"] = train_bytelevel(lines, None, ["<|endoftext|>"], 480, False, False)
    toks["llama3"] = train_bytelevel(lines, LLAMA3_SPLIT, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], 480, True, False)
    bos = toks["llama3"].token_to_id("<|begin_of_text|>")
    toks["llama3"].post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                                                  special_tokens=[("<|begin_of_text|>", bos)])
    toks["qwen2"] = train_bytelevel(lines, QWEN2_SPLIT, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 480, False, True)
    toks["spm"] = train_spm(lines, False, 500)
    toks["spm_legacy"] = train_spm(lines, True, 500)
    cases = []
    texts = [unicodedata.normalize("NFC", t) for t in CASES]
    texts += [t for v in SPECIAL_CASES.values() for t in v]
    for t in texts:
        c = {"text": t, "ids": {}, "ids_special": {}, "decoded": {}}
        for name, tok in toks.items():
            ids = tok.encode(t, add_special_tokens=False).ids
            c["ids"][name] = ids
            c["ids_special"][name] = tok.encode(t, add_special_tokens=True).ids
            c["decoded"][name] = tok.decode(ids, skip_special_tokens=False)
        cases.append(c)
    d = os.path.join(out, "tokenizer")
    for name, tok in toks.items():
        os.makedirs(os.path.join(d, name), exist_ok=True)
        tok.save(os.path.join(d, name, "tokenizer.json"))
        print(f"tokenizer {name}: vocab {tok.get_vocab_size()}")
    with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizers_version": __import__("tokenizers").__version__, "cases": cases}, f, ensure_ascii=False, indent=0)
    return toks


# ---- models ------------------------------------------------------------------------------

PROMPT = ("The needle in the haystack: the secret number is 7302914. Attention reads every token of the context window, "
          "and the model must find the number again after many words of filler text about the world and its people.")

V = 512


def common(**kw):
    base = dict(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6)
    base.update(kw)
    return base


def configs():
    t = transformers
    return {
        "llama": ("llama3", lambda: t.LlamaConfig(**common(head_dim=16, tie_word_embeddings=False, rope_parameters={
            "rope_type": "llama3", "rope_theta": 10000.0, "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16}))),
        "llama_yarn": ("llama3", lambda: t.LlamaConfig(**common(head_dim=16, rope_parameters={
            "rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 16}))),
        "mistral": ("spm", lambda: t.MistralConfig(**common(head_dim=16, sliding_window=12, tie_word_embeddings=False))),
        "qwen2": ("qwen2", lambda: t.Qwen2Config(**common(tie_word_embeddings=True, use_sliding_window=False))),
        "gemma2": ("spm", lambda: t.Gemma2Config(**common(num_hidden_layers=4, head_dim=16, sliding_window=12, query_pre_attn_scalar=24,
                                                        attn_logit_softcapping=5.0, final_logit_softcapping=10.0,
                                                        hidden_activation="gelu_pytorch_tanh"))),
        "deepseek_v2": ("llama3", lambda: t.DeepseekV2Config(**common(num_hidden_layers=3, moe_intermediate_size=32, first_k_dense_replace=1,
                                                                    n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2,
                                                                    kv_lora_rank=32, q_lora_rank=48, qk_nope_head_dim=16,
                                                                    qk_rope_head_dim=8, v_head_dim=16, num_key_value_heads=4,
                                                                    topk_method="greedy", n_group=1, topk_group=1,
                                                                    routed_scaling_factor=1.0, norm_topk_prob=False))),
        "mamba": ("llama3", lambda: t.MambaConfig(vocab_size=V, hidden_size=64, state_size=8, num_hidden_layers=2, expand=2,
                                                conv_kernel=4, use_mambapy=False)),
        "mamba2": ("llama3", lambda: t.Mamba2Config(vocab_size=V, hidden_size=64, state_size=16, num_heads=8, head_dim=16, expand=2,
                                                  n_groups=2, conv_kernel=4, chunk_size=8, num_hidden_layers=2)),
        "jamba": ("llama3", lambda: t.JambaConfig(**common(num_hidden_layers=4, attn_layer_period=2, attn_layer_offset=1,
                                                         expert_layer_period=2, expert_layer_offset=1, num_experts=4,
                                                         num_experts_per_tok=2, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2,
                                                         mamba_dt_rank=8, use_mamba_kernels=False))),
    }


def randomise(model, model_type, seed):
    """Weights large enough that logits spread over several units (clear greedy choices):
    matrices N(0, 1/fan_in), norms 1 + N(0, 0.1^2) (Gemma: N(0, 0.1^2) since it scales by 1 + w),
    biases N(0, 0.1^2); Mamba's A_log, D and dt biases keep transformers' initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(k in name for k in ("A_log", "dt_bias", "dt_proj.bias")) or name.endswith(".D"):
                continue
            if p.dim() >= 2:
                fan_in = p.shape[-1] if p.dim() == 2 else int(torch.tensor(p.shape[1:]).prod())
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            elif "norm" in name:
                base = 0.0 if model_type == "gemma2" else 1.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def greedy(model, ids, n):
    ids = list(ids)
    margins = []
    for _ in range(n):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].float()
        top = torch.topk(logits, 2).values
        margins.append(float(top[0] - top[1]))
        ids.append(int(torch.argmax(logits)))
    return ids, margins


def old_style_rope(path):
    """Rewrites config.json's rope_parameters as the older rope_scaling + top-level rope_theta."""
    with open(path) as f:
        c = json.load(f)
    rp = dict(c.pop("rope_parameters"))
    c["rope_theta"] = rp.pop("rope_theta")
    c["rope_scaling"] = rp
    with open(path, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)


def build_model(out, name, tok_name, make, toks, tok_dir, seed):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    torch.manual_seed(seed)
    cfg = make()
    tok = toks[tok_name]
    specials = {"spm": ("<s>", "</s>"), "llama3": ("<|begin_of_text|>", "<|end_of_text|>"), "qwen2": (None, "<|endoftext|>")}[tok_name]
    bos = tok.token_to_id(specials[0]) if specials[0] else None
    eos = tok.token_to_id(specials[1])
    cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = bos, eos, None
    attn = {"attn_implementation": "eager"} if cfg.model_type not in ("mamba", "mamba2") else {}
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, **attn)
    randomise(model, cfg.model_type, seed)
    model.eval()
    d = os.path.join(out, "models", name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, max_shard_size="150KB" if name == "llama" else "100MB")
    if name == "llama_yarn":
        old_style_rope(os.path.join(d, "config.json"))
    # The saved checkpoint (and, for llama_yarn, the old config style) must load back to the same logits.
    reloaded = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, **attn)
    reloaded.eval()
    shutil.copy(os.path.join(tok_dir, tok_name, "tokenizer.json"), os.path.join(d, "tokenizer.json"))
    fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), bos_token=specials[0], eos_token=specials[1])
    fast.save_pretrained(d)
    prompt_ids = tok.encode(PROMPT, add_special_tokens=True).ids
    ids, margins = greedy(reloaded, prompt_ids, 16)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
        logits2 = reloaded(torch.tensor([ids])).logits[0].float()
    diff = float((logits - logits2).abs().max())
    assert diff == 0.0 or diff < 1e-6 * float(logits.abs().max()), f"{name}: reloaded checkpoint differs by {diff}"
    logits.numpy().astype("<f4").tofile(os.path.join(d, "logits.f32"))
    golden = {"model_type": cfg.model_type, "prompt_text": PROMPT, "prompt_ids": prompt_ids, "generated_ids": ids[len(prompt_ids):],
              "n_positions": len(ids), "vocab": int(logits.shape[1]), "logits_file": "logits.f32",
              "min_greedy_margin": min(margins), "max_abs_logit": float(logits.abs().max()),
              "transformers_version": transformers.__version__, "torch_version": torch.__version__}
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {name}: {cfg.model_type}, {n_params} params, prompt {len(prompt_ids)} tokens, logits |max| "
          f"{golden['max_abs_logit']:.3g}, smallest greedy margin {min(margins):.3g}, files {sorted(os.listdir(d))}")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures-out"
    torch.set_num_threads(4)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    toks = build_tokenizers(out)
    failed = []
    for i, (name, (tok_name, make)) in enumerate(configs().items()):
        try:
            build_model(out, name, tok_name, make, toks, os.path.join(out, "tokenizer"), 1000 + i)
        except Exception:
            failed.append(name)
            print(f"model {name}: FAILED")
            traceback.print_exc()
    print("failed:", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
