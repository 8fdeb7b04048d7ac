#!/usr/bin/env python3
"""Trains tiny language models from scratch on the needle-in-a-haystack format of longctx's
recall harness (scripts/recall_data.py, src/recall/, docs/recall.md), for `longctx niah` and
`longctx recall` to measure. Needs PyTorch, transformers and tokenizers (the GPU machine):

    PYTHONUNBUFFERED=1 python3 scripts/train_recall_models.py --out OUT [--models llama,mistral,mamba2]

Each model is one of transformers' own classes (LlamaForCausalLM with RoPE, MistralForCausalLM
with a sliding window, Mamba2ForCausalLM, JambaForCausalLM), float32, hidden 128, vocabulary 512,
trained for about a minute and a half on an H100 at a training length of 256 tokens on a mixture of
  single needle  the harness's prompt: <s> filler + needle + filler + question -> " 1234567." </s>
  multi-key      2-4 needles of distinct keys, one asked (RULER's MK-NIAH)
  multi-value    2-3 needles of one key, every value asked (MV-NIAH)
  MQAR           multi-query associative recall: 8-16 " key value" pairs, then 4 keys each
                 followed by its value (Zoology's MQAR in this vocabulary)
with the loss on the answer tokens only. The held-out exact-match recall of each kind is printed
every few hundred steps (the learning curve) and training stops early once every kind is
near-perfect. Prompts vary in length from 96 to 256 tokens; the needles sit at uniform token
offsets (any depth).

Written to OUT/<name>/ (save_pretrained): config.json, model.safetensors, generation_config.json,
tokenizer.json, tokenizer_config.json, curve.json (the learning curve), and parity.json: prompts at
the training length with PyTorch's greedy answers, which `longctx niah --parity` compares with its
own. OUT/recall_models.tgz holds them all.
"""
import argparse
import json
import math
import os
import random
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recall_data as R  # noqa: E402

import torch  # noqa: E402

try:
    import transformers  # noqa: E402
except ImportError:  # scripts/recall_plain_llama.py stands in (--impl plain)
    transformers = None

ENC = R.Encoder()
V = ENC.vocab
DIGITS = [V[str(d)] for d in range(10)]
KEY_IDS = [V["Ġ" + k] for k in R.KEYS]
NEEDLE = ENC.encode(R.needle_text("apple", "0000000"))          # 16 ids
NEEDLE_KEY = NEEDLE.index(V["Ġapple"])
NEEDLE_DIGITS = [i for i, t in enumerate(NEEDLE) if t == V["0"]]
Q1 = ENC.encode(R.question_text("apple", 1))
QV = ENC.encode(R.question_text("apple", 2))


def answer_ids(n_values):
    return ENC.encode(R.answer_text(["0000000"] * n_values))


def log(*a):
    print(*a, flush=True)


# ---- models -------------------------------------------------------------------------------------

def make_config(name, train_length, args):
    if args.impl == "plain":  # scripts/recall_plain_llama.py: llama and mistral only
        import recall_plain_llama as P
        if name not in ("llama", "mistral"):
            raise ValueError(f"--impl plain has llama and mistral, not {name}")
        return P.Config(model_type=name, vocab_size=R.VOCAB_SIZE, hidden_size=args.hidden, intermediate_size=2 * args.hidden,
                        num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=2, head_dim=args.hidden // 4,
                        max_position_embeddings=train_length, sliding_window=args.window if name == "mistral" else None)
    t = transformers
    common = dict(vocab_size=R.VOCAB_SIZE, hidden_size=args.hidden, intermediate_size=2 * args.hidden, num_hidden_layers=args.layers,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=args.hidden // 4, max_position_embeddings=train_length,
                  rms_norm_eps=1e-6, bos_token_id=R.BOS, eos_token_id=R.EOS, pad_token_id=R.PAD, tie_word_embeddings=False)
    if name == "llama":
        return t.LlamaConfig(**common, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    if name == "mistral":
        return t.MistralConfig(**common, sliding_window=args.window, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    if name == "mamba2":
        return t.Mamba2Config(vocab_size=R.VOCAB_SIZE, hidden_size=128, state_size=64, num_heads=8, head_dim=32, expand=2, n_groups=1,
                              conv_kernel=4, chunk_size=64, num_hidden_layers=4, bos_token_id=R.BOS, eos_token_id=R.EOS,
                              pad_token_id=R.PAD, tie_word_embeddings=False)
    if name == "jamba":
        c = dict(common)
        c.pop("head_dim")
        return t.JambaConfig(**c, attn_layer_period=2, attn_layer_offset=1, num_experts=1, expert_layer_period=2, expert_layer_offset=1,
                             mamba_d_state=16, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=8, use_mamba_kernels=False)
    raise ValueError(name)


# ---- data (on the GPU) ----------------------------------------------------------------------------

class Data:
    """Batches of the harness's format as token ids, built on the device."""

    def __init__(self, device, seed, filler_tokens=1 << 20):
        rng = random.Random(seed)
        ids = []
        while len(ids) < filler_tokens:
            ids.extend(ENC.encode(R.filler_sentence(rng)))
        self.filler = torch.tensor(ids, dtype=torch.long, device=device)
        self.dev = device
        self.g = torch.Generator(device=device)
        self.g.manual_seed(seed)
        self.needle = torch.tensor(NEEDLE, device=device)
        self.q1, self.qv = torch.tensor(Q1, device=device), torch.tensor(QV, device=device)
        self.digits = torch.tensor(DIGITS, device=device)
        self.keys = torch.tensor(KEY_IDS, device=device)
        self.q_key = [[i for i, t in enumerate(q) if t == V["Ġapple"]] for q in (Q1, QV)]
        self.min_length, self.full_share = 96, 0.6  # prompt lengths: the training length, else uniform from min_length

    def ri(self, lo, hi, shape):  # integers in [lo, hi)
        return torch.randint(lo, hi, shape, generator=self.g, device=self.dev)

    def niah(self, B, P, kind, n):
        """kind 'single' (n = 1), 'mk' (n needles, distinct keys, one asked) or 'mv' (n values of one key).
        Returns ids [B, P + A + 1] (prompt, answer, </s>) and labels (-100 on the prompt)."""
        dev, L = self.dev, len(NEEDLE)
        q = self.qv if kind == "mv" else self.q1
        F = P - 1 - L * n - len(q)
        assert F >= 0, (P, kind, n)
        start = self.ri(0, len(self.filler) - F, (B,))
        filler = self.filler[start[:, None] + torch.arange(F, device=dev)]
        offsets = torch.sort(self.ri(0, F + 1, (B, n)), dim=1).values
        keys = torch.argsort(torch.rand(B, len(KEY_IDS), generator=self.g, device=dev), dim=1)[:, :n]
        if kind == "mv":
            keys = keys[:, :1].expand(B, n)
        key_ids = self.keys[keys]                                        # [B, n]
        vals = self.ri(0, 10, (B, n, 7))
        needles = self.needle.repeat(B, n, 1)                            # [B, n, L]
        needles[:, :, NEEDLE_KEY] = key_ids
        needles[:, :, NEEDLE_DIGITS] = self.digits[vals]
        H = F + L * n
        starts = offsets + L * torch.arange(n, device=dev)               # needle i's first id in the haystack
        mask = torch.zeros(B, H, dtype=torch.bool, device=dev)
        at = (starts[:, :, None] + torch.arange(L, device=dev)).reshape(B, -1)
        mask.scatter_(1, at, torch.ones_like(at, dtype=torch.bool))
        hay = torch.empty(B, H, dtype=torch.long, device=dev)
        hay[mask] = needles.reshape(-1)
        hay[~mask] = filler.reshape(-1)
        asked = self.ri(0, n, (B,)) if kind == "mk" else torch.zeros(B, dtype=torch.long, device=dev)
        qk = key_ids[torch.arange(B, device=dev), asked]
        question = q.repeat(B, 1)
        question[:, self.q_key[kind == "mv"]] = qk[:, None]
        if kind == "mv":
            ans_vals = vals                                                  # every value, in prompt order
        else:
            ans_vals = vals[torch.arange(B, device=dev), asked][:, None]     # [B, 1, 7]
        m = ans_vals.shape[1]
        ans = torch.tensor(answer_ids(m), device=dev).repeat(B, 1)
        dpos = [i for i, t in enumerate(answer_ids(m)) if t == V["0"]]
        ans[:, dpos] = self.digits[ans_vals.reshape(B, -1)]
        bos = torch.full((B, 1), R.BOS, device=dev)
        eos = torch.full((B, 1), R.EOS, device=dev)
        ids = torch.cat([bos, hay, question, ans, eos], dim=1)
        assert ids.shape[1] == P + ans.shape[1] + 1
        labels = ids.clone()
        labels[:, :P] = -100
        return ids, labels

    def mqar(self, B, pairs, queries):
        """<s> ( key value){pairs} ( key value){queries}: each query's value is the target (its key is not)."""
        dev = self.dev
        keys = torch.argsort(torch.rand(B, len(KEY_IDS), generator=self.g, device=dev), dim=1)[:, :pairs]
        vals = self.ri(0, 10, (B, pairs, 7))
        unit = torch.tensor(ENC.encode(" apple 0000000"), device=dev)    # Ġapple Ġ d x7
        kv = unit.repeat(B, pairs, 1)
        kv[:, :, 0] = self.keys[keys]
        kv[:, :, 2:] = self.digits[vals]
        pick = torch.argsort(torch.rand(B, pairs, generator=self.g, device=dev), dim=1)[:, :queries]
        qs = torch.gather(kv, 1, pick[:, :, None].expand(B, queries, kv.shape[2]))
        bos = torch.full((B, 1), R.BOS, device=dev)
        ids = torch.cat([bos, kv.reshape(B, -1), qs.reshape(B, -1)], dim=1)
        labels = ids.clone()
        labels[:, :1 + pairs * kv.shape[2]] = -100
        labels[:, 1 + pairs * kv.shape[2]::kv.shape[2]] = -100               # the queried keys
        return ids, labels

    def batch(self, B, train_length, rng, mix):
        r = rng.random() * sum(mix.values())
        P = train_length if rng.random() < self.full_share else rng.randint(self.min_length, train_length)
        for kind, w in mix.items():
            if r < w:
                break
            r -= w
        if kind == "single":
            return ("single",) + self.niah(B, P, "single", 1)
        if kind == "mk":
            return ("mk",) + self.niah(B, max(P, 97), "mk", rng.randint(2, 4))
        if kind == "mv":
            return ("mv",) + self.niah(B, max(P, 97), "mv", rng.randint(2, 3))
        return ("mqar",) + self.mqar(B, rng.randint(6, min(16, (train_length - 37) // 9)), 4)


@torch.no_grad()
def exact_match(model, ids, labels):
    """Teacher-forced: every target token the argmax (then greedy decoding gives the answer exactly)."""
    pred = model(input_ids=ids).logits[:, :-1].argmax(-1)
    tgt = labels[:, 1:]
    return ((pred == tgt) | (tgt == -100)).all(dim=1).float().mean().item()


# ---- training --------------------------------------------------------------------------------------

def train(name, args, device, out_dir):
    torch.manual_seed(args.seed)
    cfg = make_config(name, args.train_length, args)
    if args.impl == "plain":
        import recall_plain_llama as P
        model = P.PlainCausalLM(cfg).to(device)
    else:
        attn = {} if name == "mamba2" else {"attn_implementation": "sdpa"}
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, **attn).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"== {name}: {cfg.model_type}, {n_params / 1e6:.3f} M parameters, budget {args.seconds:.0f} s ({args.impl})")
    data = Data(device, args.seed + 1)
    data.min_length, data.full_share = args.min_length, args.full_share
    evald = Data(device, args.seed + 99, 1 << 16)
    T = args.train_length
    E = args.eval_batch
    evals = {"single": evald.niah(E, T, "single", 1), "mk": evald.niah(E, T, "mk", 4), "mv": evald.niah(E, T, "mv", 3),
             "mqar": evald.mqar(E, min(16, (T - 37) // 9), 4)}
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    rng = random.Random(args.seed + 7)
    t0 = time.time()
    curve, good, step, loss_avg = [], 0, 0, None
    while True:
        el = time.time() - t0
        frac = min(1.0, el / args.seconds)
        if el >= args.seconds or (args.steps and step >= args.steps):
            break
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for gp in opt.param_groups:
            gp["lr"] = lr
        model.train()
        kind, ids, labels = data.batch(args.batch, T, rng, args.mix_weights)
        if args.lm_loss:  # every next token (the filler's repeats teach copying), not only the answer
            labels = ids.clone()
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()
        if step % args.eval_every == 0 or (args.steps and step == args.steps):
            model.eval()
            acc = {k: exact_match(model, ids_, lab) for k, (ids_, lab) in evals.items()}
            curve.append({"step": step, "seconds": round(time.time() - t0, 1), "loss": round(loss_avg, 4), **{k: round(v, 4) for k, v in acc.items()}})
            log(f"{name} step {step:5d} {time.time() - t0:6.1f}s loss {loss_avg:.4f} lr {lr:.2e} recall at {T}: " +
                " ".join(f"{k} {v:.3f}" for k, v in acc.items()))
            good = good + 1 if min(acc.values()) >= args.stop_at else 0
            if good >= 2:
                log(f"{name}: every kind at or above {args.stop_at} twice in a row: stop")
                break
    model.eval()
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d)
    R.write_tokenizer(d)
    with open(os.path.join(d, "curve.json"), "w") as f:
        json.dump({"model": name, "steps": step, "seconds": round(time.time() - t0, 1), "params": n_params, "batch": args.batch,
                   "train_length": T, "seed": args.seed, "curve": curve}, f, indent=1)
    log(f"{name}: {step} steps in {time.time() - t0:.1f} s ({(time.time() - t0) / max(step, 1) * 1e3:.1f} ms/step); saved {sorted(os.listdir(d))}")
    return model, d


@torch.no_grad()
def greedy(model, ids, max_new):
    """PyTorch's greedy answer without a cache: the argmax of a full forward per token (stops at </s>)."""
    x = torch.tensor([ids], device=next(model.parameters()).device)
    out = []
    for _ in range(max_new):
        t = int(model(input_ids=x).logits[0, -1].argmax())
        if t == R.EOS:
            break
        out.append(t)
        x = torch.cat([x, torch.tensor([[t]], device=x.device)], dim=1)
    return out


def parity(model, d, args, device):
    """Prompts at the training length with PyTorch's greedy answers, for longctx niah --parity."""
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    except ImportError:  # the generator's own encoder and decoder (longctx checks the text's ids itself)
        tok = None
    data = Data(device, args.seed + 1234, 1 << 16)
    prompts, found, mismatch = [], 0.0, 0
    kinds = [("single", 1)] * (args.parity // 2) + [("mk", 4)] * (args.parity // 4) + [("mv", 3)] * (args.parity - args.parity // 2 - args.parity // 4)
    for i, (kind, n) in enumerate(kinds):
        ids, _ = data.niah(1, args.train_length, kind, n)
        ids, start = ids[0].tolist(), args.train_length
        prompt, target = ids[:start], ids[start:-1]
        text = ENC.decode(prompt)
        if tok and tok.encode(text).ids != prompt:       # tokenizers' ids for the text (with <s>) must be the generator's
            mismatch += 1
        expected = [s for s in ENC.decode(target).strip(" .").split(", ")]
        gen = greedy(model, prompt, 30)
        answer = tok.decode(gen, skip_special_tokens=True) if tok else ENC.decode(gen)
        score = sum(v in answer for v in expected) / len(expected)
        found += score
        prompts.append({"kind": kind, "text": text, "ids": prompt, "expected": expected, "generated_ids": gen, "answer": answer, "score": score})
    with open(os.path.join(d, "parity.json"), "w") as f:
        json.dump({"max_new": 30, "train_length": args.train_length, "recall_pytorch": found / len(kinds), "impl": args.impl,
                   "torch": torch.__version__, "transformers": transformers.__version__ if transformers else None,
                   "tokenizers_mismatches": mismatch if tok else None, "prompts": prompts}, f)
    log(f"parity: {len(kinds)} prompts at {args.train_length} tokens, PyTorch greedy recall {found / len(kinds):.4f}; "
        f"tokenizers' ids differ from the generator's on {mismatch}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="llama,mistral,mamba2")
    ap.add_argument("--seconds", default="90", help="training seconds per model: one number, or name=s,name=s")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the time budget only)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--stop-at", type=float, default=0.995)
    ap.add_argument("--train-length", type=int, default=256)
    ap.add_argument("--parity", type=int, default=48)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--copy-to", default="", help="copy the .tgz there after each model")
    ap.add_argument("--impl", default="auto", choices=["auto", "transformers", "plain"],
                    help="transformers' classes, or scripts/recall_plain_llama.py (llama, mistral) where transformers is missing")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--window", type=int, default=128, help="mistral's sliding_window")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's default)")
    ap.add_argument("--eval-batch", type=int, default=256)
    ap.add_argument("--min-length", type=int, default=96, help="shortest prompts trained on (single needles and MQAR; multi-needle ones from 97)")
    ap.add_argument("--full-share", type=float, default=0.6, help="share of batches at the training length")
    ap.add_argument("--lm-loss", action="store_true", help="train on every next token, not only the answers (the eval scores answers)")
    ap.add_argument("--mix", default="single=0.35,mk=0.35,mv=0.15,mqar=0.15", help="the batches' kinds and weights")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    log(f"torch {torch.__version__}, transformers {transformers.__version__ if transformers else None}, device {device}"
        f" ({torch.cuda.get_device_name() if device == 'cuda' else 'cpu'})")
    if args.impl == "auto":
        args.impl = "transformers" if transformers else "plain"
    if args.threads:
        torch.set_num_threads(args.threads)
    # the generator's ids are the tokenizer's
    R.write_tokenizer(args.out)
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    except ImportError:
        tok = None
        log("tokenizer check: no tokenizers library here (longctx niah --parity compares the prompt texts' ids instead)")
    rng = random.Random(5)
    sample = "".join(R.filler_sentence(rng) for _ in range(20)) + R.needle_text("kettle", "0123456") + R.question_text("kettle") + \
        R.answer_text(["0123456"]) + R.question_text("plum", 3) + R.answer_text(["1111111", "2222222", "9876543"])
    a, b = tok.encode(sample).ids if tok else None, [R.BOS] + ENC.encode(sample)
    if tok:
        log(f"tokenizer check: tokenizers {'==' if a == b else '!='} the generator's ids ({len(a)} tokens)")
    if tok and a != b:
        log("tokenizers:", a[:60])
        log("generator: ", b[:60])
    args.mix_weights = {k: float(v) for k, v in (item.split("=") for item in args.mix.split(","))}
    budgets = {}
    for item in args.seconds.split(","):
        k, _, v = item.rpartition("=")
        budgets[k] = float(v)
    made = []
    for name in args.models.split(","):
        args_m = argparse.Namespace(**vars(args))
        args_m.seconds = budgets.get(name, budgets.get("", 90.0))
        try:
            model, d = train(name, args_m, device, args.out)
            parity(model, d, args_m, device)
            made.append(name)
        except Exception as e:  # one model's failure must not lose the others
            import traceback
            traceback.print_exc()
            log(f"{name}: FAILED: {e}")
        if device == "cuda":
            torch.cuda.empty_cache()
        with tarfile.open(os.path.join(args.out, "recall_models.tgz"), "w:gz") as tf:  # after each model: a cut run keeps what it made
            for m in made:
                tf.add(os.path.join(args.out, m), arcname=m)
        if args.copy_to:
            import shutil
            shutil.copy(os.path.join(args.out, "recall_models.tgz"), args.copy_to)
        log(f"wrote {args.out}/recall_models.tgz with {made}")


if __name__ == "__main__":
    main()
