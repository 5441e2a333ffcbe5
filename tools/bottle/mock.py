# PyTorch mock-up of the cambrian quick-start probe: tiny timm-layout ViT (frozen, features
# cached) -> grid pooling -> mlp2x_gelu connector -> tiny Llama (word-level tokenizer), stage 1
# on captions (plain template, connector only), stage 2 on the instruct conversations (vicuna_v1,
# connector + LLM), loss on answer tokens only, warmup 3% + cosine, AdamW wd 0, clip 1.
# Scored on the synthetic CV-Bench-style tasks by choice likelihood (letter + </s>), with the
# image and with no image tokens.
import json, math, re, time, random
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
WORD = re.compile(r"\w+|[^\w\s]+")


def words(text):
    return WORD.findall(text)


class Tok:
    def __init__(self, texts):
        vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
        for t in texts:
            for w in words(t):
                if w not in vocab:
                    vocab[w] = len(vocab)
        self.vocab = vocab

    def enc(self, text):
        return [self.vocab.get(w, 0) for w in words(text)]


# ---------------------------------------------------------------- encoder
class Block(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.n1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.n2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)
        self.h = heads

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = self.qkv(self.n1(x)).view(B, N, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, D)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.n2(x))))


class ViT(nn.Module):
    def __init__(self, image=64, patch=16, width=32, depth=2, heads=2, mlp=128):
        super().__init__()
        self.patch, self.grid = patch, image // patch
        self.embed = nn.Conv2d(3, width, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, self.grid ** 2 + 1, width) * 0.02)
        self.blocks = nn.ModuleList([Block(width, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.width = width
        # timm init: trunc normal 0.02 for linears
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.cls, std=1e-6)

    def tokens(self, x, keep=None, extra=None):
        t = self.embed(x).flatten(2).transpose(1, 2) + self.pos[:, 1:]
        if extra is not None:
            t = t + extra
        if keep is not None:
            t = torch.gather(t, 1, keep[..., None].expand(-1, -1, t.shape[-1]))
        t = torch.cat([self.cls.expand(len(t), -1, -1) + self.pos[:, :1], t], 1)
        for b in self.blocks:
            t = b(t)
        return self.norm(t)[:, 1:]


# ---------------------------------------------------------------- LLM
class RMS(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def rope(x, cos, sin):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Layer(nn.Module):
    def __init__(self, d, inter, heads, kv):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv, d // heads
        self.n1, self.n2 = RMS(d), RMS(d)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, kv * self.hd, bias=False)
        self.v = nn.Linear(d, kv * self.hd, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.g = nn.Linear(d, inter, bias=False)
        self.u = nn.Linear(d, inter, bias=False)
        self.dn = nn.Linear(inter, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, N, D = x.shape
        y = self.n1(x)
        q = rope(self.q(y).view(B, N, self.h, self.hd).transpose(1, 2), cos, sin)
        k = rope(self.k(y).view(B, N, self.kv, self.hd).transpose(1, 2), cos, sin)
        v = self.v(y).view(B, N, self.kv, self.hd).transpose(1, 2)
        k = k.repeat_interleave(self.h // self.kv, 1)
        v = v.repeat_interleave(self.h // self.kv, 1)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.o(a.transpose(1, 2).reshape(B, N, D))
        y = self.n2(x)
        return x + self.dn(F.silu(self.g(y)) * self.u(y))


class Llama(nn.Module):
    def __init__(self, vocab, d=64, inter=172, layers=2, heads=4, kv=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([Layer(d, inter, heads, kv) for _ in range(layers)])
        self.norm = RMS(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.hd = d // heads
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, e, pad):  # e: B,N,D embeddings; pad: B,N bool (True = real)
        B, N, _ = e.shape
        pos = torch.arange(N, dtype=torch.float32)
        inv = 1.0 / (10000 ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        f = torch.outer(pos, inv)
        f = torch.cat([f, f], -1)
        cos, sin = f.cos(), f.sin()
        causal = torch.ones(N, N, dtype=torch.bool).tril()
        mask = causal[None, None] & pad[:, None, None, :]
        x = e
        for l in self.layers:
            x = l(x, cos, sin, mask)
        return self.head(self.norm(x))


class Connector(nn.Module):
    def __init__(self, din, d, grid):
        super().__init__()
        self.grid = grid
        self.l1, self.l2 = nn.Linear(din, d), nn.Linear(d, d)

    def forward(self, f):  # f: B, g*g, din
        B, N, C = f.shape
        g = int(math.isqrt(N))
        if g != self.grid:
            f = F.adaptive_avg_pool2d(f.transpose(1, 2).reshape(B, C, g, g), self.grid).flatten(2).transpose(1, 2)
        return self.l2(F.gelu(self.l1(f)))


# ---------------------------------------------------------------- sequences
def build_seq(tok, turns, template, with_image=True):
    """turns: [(human, gpt), ...]. Returns list of segments: ('img',) or token id lists with
    target flags. Output: ids (with -1 where the image goes), target mask."""
    ids, tgt = [1], [0]

    def add(text, t):
        x = tok.enc(text)
        ids.extend(x)
        tgt.extend([t] * len(x))

    def add_image():
        if with_image:
            ids.append(-1)
            tgt.append(0)

    if template == "plain":
        h, g = turns[0]
        add_image()
        add(g, 1)
        ids.append(2); tgt.append(1)
        return ids, tgt
    add(VICUNA_SYSTEM, 0)
    for i, (h, g) in enumerate(turns):
        add(" USER: ", 0)
        if "<image>" in h:
            pre, post = h.split("<image>", 1)
            add(pre, 0)
            add_image()
            add(post, 0)
        else:
            add(h, 0)
        add(" ASSISTANT: ", 0)
        if g is None:
            return ids, tgt
        add(g, 1)
        ids.append(2); tgt.append(1)
    return ids, tgt


def collate(llm, conn, feats, seqs, img_idx, ntok):
    """seqs: list of (ids, tgt); img_idx: per seq index into feats or None. Returns embeddings,
    pad mask, target ids, target mask (shifted)."""
    lens = [len(s[0]) - s[0].count(-1) + (ntok if -1 in s[0] else 0) for s in seqs]
    N = max(lens)
    B = len(seqs)
    D = llm.emb.weight.shape[1]
    e = torch.zeros(B, N, D)
    pad = torch.zeros(B, N, dtype=torch.bool)
    lab = torch.zeros(B, N, dtype=torch.long)
    tm = torch.zeros(B, N)
    need = [i for i, s in enumerate(seqs) if -1 in s[0]]
    img_emb = conn(feats[[img_idx[i] for i in need]]) if need else None
    rows = []
    for b, (ids, tgt) in enumerate(seqs):
        parts, labs, tms = [], [], []
        j = 0
        while j < len(ids):
            if ids[j] == -1:
                parts.append(img_emb[need.index(b)])
                labs += [0] * ntok; tms += [0] * ntok
                j += 1
            else:
                k = j
                while k < len(ids) and ids[k] != -1:
                    k += 1
                parts.append(llm.emb(torch.tensor(ids[j:k])))
                labs += ids[j:k]; tms += tgt[j:k]
                j = k
        x = torch.cat(parts)
        n = len(x)
        rows.append((x, n))
        lab[b, :n] = torch.tensor(labs)
        tm[b, :n] = torch.tensor(tms, dtype=torch.float32)
        pad[b, :n] = True
    e = torch.stack([F.pad(x, (0, 0, 0, N - n)) for x, n in rows])
    # predict token t from position t-1
    return e, pad, lab[:, 1:], tm[:, 1:]


def lm_loss(llm, conn, feats, batch, ntok):
    seqs = [b[0] for b in batch]
    e, pad, lab, tm = collate(llm, conn, feats, seqs, [b[1] for b in batch], ntok)
    logits = llm(e, pad)[:, :-1]
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), lab.reshape(-1), reduction="none").view(lab.shape)
    return (nll * tm).sum() / tm.sum().clamp(min=1)


def warmup_cosine(peak, total, ratio=0.03):
    w = math.ceil(total * ratio)

    def lr(s):
        if s < w:
            return peak * s / max(w, 1)
        p = (s - w) / max(total - w, 1)
        return peak * max(0.0, 0.5 * (1 + math.cos(math.pi * p)))
    return lr


def train_stage(params, llm, conn, feats, data, batch, lr, epochs, ntok, rng, log=None):
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8)
    steps = epochs * math.ceil(len(data) / batch)
    sched = warmup_cosine(lr, steps)
    s = 0
    losses = []
    for ep in range(epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for i in range(0, len(order), batch):
            for g in opt.param_groups:
                g["lr"] = sched(s)
            loss = lm_loss(llm, conn, feats, [data[j] for j in order[i:i + batch]], ntok)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
            s += 1
    return losses


LETTERS = "ABCDE"


@torch.no_grad()
def score(llm, conn, tfeats, tok, test, ntok, with_image):
    """Likelihood scorer: each choice's reply (letter then </s>), summed log-prob."""
    per = {}
    for qi, t in enumerate(test):
        q = "<image>\n" + t["prompt"] + "\nAnswer with the option's letter from the given choices directly."
        ids, _ = build_seq(tok, [(q, None)], "vicuna", with_image)
        seqs = []
        for c in range(len(t["choices"])):
            a = tok.enc(LETTERS[c]) + [2]
            seqs.append((ids + a, [0] * len(ids) + [1] * len(a)))
        e, pad, lab, tm = collate(llm, conn, tfeats, seqs, [qi] * len(seqs), ntok)
        lp = torch.log_softmax(llm(e, pad)[:, :-1], -1).gather(-1, lab[..., None])[..., 0]
        ll = (lp * tm).sum(1)
        pred = int(ll.argmax())
        gold = LETTERS.index(t["answer"].strip("()"))
        per.setdefault(t["task"], []).append(pred == gold)
    acc = {k: 100.0 * np.mean(v) for k, v in per.items()}
    acc["avg"] = float(np.mean([acc[k] for k in ["Count", "Relation", "Depth", "Distance"]]))
    return acc
