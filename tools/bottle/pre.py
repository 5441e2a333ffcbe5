# The six pre-training objectives on one tiny ViT (heads dropped afterwards).
import math, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mock import ViT, Block, words

NOISE_T = 0.1  # denoise: features taken at this noise level


def patchify(x, p):
    B, C, H, W = x.shape
    g = H // p
    return x.view(B, C, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(B, g * g, p * p * C)


def alpha_bar(t):
    return torch.cos(t * math.pi / 2) ** 2


def tstep_emb(t, d):
    half = d // 2
    f = torch.exp(-math.log(1000) * torch.arange(half) / half)
    a = t[:, None] * 1000 * f[None]
    return torch.cat([a.sin(), a.cos()], -1)


class Heads(nn.Module):
    def __init__(self, obj, enc, vocab=None):
        super().__init__()
        w, p, g = enc.width, enc.patch, enc.grid
        self.obj = obj
        if obj == "classify":
            self.h = nn.Linear(w, 62)
        elif obj == "contrastive":
            self.img = nn.Linear(w, 64)
            self.txt = nn.EmbeddingBag(vocab, 64, mode="mean")
            self.txt2 = nn.Sequential(nn.GELU(), nn.Linear(64, 64))
            self.t = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        elif obj == "masked":
            self.dec_in = nn.Linear(w, 32)
            self.mask = nn.Parameter(torch.zeros(1, 1, 32))
            self.pos = nn.Parameter(torch.randn(1, g * g, 32) * 0.02)
            self.dec = Block(32, 2, 128)
            self.out = nn.Linear(32, p * p * 3)
        elif obj == "denoise":
            self.temb = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
            self.out = nn.Linear(w, p * p * 3)
        elif obj == "segment":
            self.out = nn.Linear(w, p * p * 12)
        elif obj == "depth":
            self.out = nn.Linear(w, p * p)


def ssi_loss(pred, target):
    # MiDaS: align prediction to target disparity by per-image least-squares scale and shift
    B = pred.shape[0]
    p, t = pred.view(B, -1), target.view(B, -1)
    pm, tm = p.mean(1, keepdim=True), t.mean(1, keepdim=True)
    s = ((p - pm) * (t - tm)).sum(1, keepdim=True) / ((p - pm) ** 2).sum(1, keepdim=True).clamp(min=1e-6)
    return ((s * (p - pm) + tm - t).abs()).mean()


def loss_of(obj, enc, heads, x, seg, disp, looks, cap_ids, gen):
    p, g = enc.patch, enc.grid
    B = len(x)
    if obj == "classify":
        return F.binary_cross_entropy_with_logits(heads.h(enc.tokens(x).mean(1)), looks)
    if obj == "contrastive":
        zi = F.normalize(heads.img(enc.tokens(x).mean(1)), dim=-1)
        flat = torch.cat(cap_ids)
        offs = torch.tensor([0] + [len(c) for c in cap_ids[:-1]]).cumsum(0)
        zt = F.normalize(heads.txt2(heads.txt(flat, offs)), dim=-1)
        logits = zi @ zt.T * heads.t.exp().clamp(max=100)
        lab = torch.arange(B)
        return (F.cross_entropy(logits, lab) + F.cross_entropy(logits.T, lab)) / 2
    if obj == "masked":
        N = g * g
        keep_n = max(1, int(round(N * 0.25)))
        noise = torch.rand(B, N, generator=gen)
        order = noise.argsort(1)
        keep = order[:, :keep_n]
        t = enc.tokens(x, keep=keep)
        d = heads.dec_in(t)
        full = heads.mask.expand(B, N, -1).clone()
        full = full.scatter(1, keep[..., None].expand(-1, -1, d.shape[-1]), d)
        out = heads.out(heads.dec(full + heads.pos))
        tgt = patchify(x, p)
        tgt = (tgt - tgt.mean(-1, keepdim=True)) / (tgt.var(-1, keepdim=True) + 1e-6).sqrt()
        m = torch.ones(B, N)
        m.scatter_(1, keep, 0)
        return (((out - tgt) ** 2).mean(-1) * m).sum() / m.sum()
    if obj == "denoise":
        t = torch.rand(B, generator=gen)
        ab = alpha_bar(t)[:, None, None, None]
        eps = torch.randn(x.shape, generator=gen)
        xt = ab.sqrt() * x + (1 - ab).sqrt() * eps
        out = heads.out(enc.tokens(xt))
        return F.mse_loss(out, patchify(eps, p))
    if obj == "segment":
        out = heads.out(enc.tokens(x)).view(B, g, g, p, p, 12).permute(0, 5, 1, 3, 2, 4).reshape(B, 12, g * p, g * p)
        return F.cross_entropy(out, seg)
    if obj == "depth":
        out = heads.out(enc.tokens(x)).view(B, g, g, p, p).permute(0, 1, 3, 2, 4).reshape(B, g * p, g * p)
        return ssi_loss(out, disp)


def pretrain(obj, enc, data, steps, lr, batch, seed, vocab=None, log_every=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    heads = Heads(obj, enc, vocab)
    params = list(enc.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    X = data["x"]
    N = len(X)
    t0 = time.process_time()
    losses = []
    warm = max(1, steps // 20)
    for s in range(steps):
        for gr in opt.param_groups:
            gr["lr"] = lr * min(1.0, (s + 1) / warm) * (0.5 * (1 + math.cos(math.pi * s / steps)))
        idx = torch.randint(0, N, (batch,), generator=gen)
        x = X[idx].float()
        seg = data["seg"][idx].long() if obj == "segment" else None
        disp = (1.0 / data["depth"][idx].float()) if obj == "depth" else None
        looks = data["looks"][idx] if obj == "classify" else None
        caps = [data["caps"][i] for i in idx.tolist()] if obj == "contrastive" else None
        loss = loss_of(obj, enc, heads, x, seg, disp, looks, caps, gen)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if log_every and (s + 1) % log_every == 0:
            print(f"  [{obj}] step {s+1} loss {np.mean(losses[-log_every:]):.4f}", flush=True)
    return losses, time.process_time() - t0


@torch.no_grad()
def features(obj, enc, X, batch=256):
    out = []
    for i in range(0, len(X), batch):
        x = X[i:i + batch].float()
        if obj == "denoise":
            gen = torch.Generator().manual_seed(1234 + i)
            ab = alpha_bar(torch.tensor(NOISE_T))
            x = ab.sqrt() * x + (1 - ab).sqrt() * torch.randn(x.shape, generator=gen)
        out.append(enc.tokens(x))
    return torch.cat(out)
