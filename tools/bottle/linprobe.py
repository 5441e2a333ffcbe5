# Diagnostic: what the frozen features tell directly (no LLM): an MLP on the flattened grid,
# per task: Count -> count value, Relation -> the relation word, Depth/Distance -> answer letter.
import json, re, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mock import ViT
import pre

torch.set_num_threads(1)
D = np.load("d64.npz")
meta = json.load(open("d64.json"))
instruct = json.load(open("data64/train/instruct.json"))
TASKS = ["Count", "Relation", "Depth", "Distance"]


def label(task, prompt, letter):
    choices = dict(re.findall(r"\(([A-E])\) ([^\n]+)", prompt))
    if task == "Count":
        return int(choices[letter])
    if task == "Relation":
        return ["left", "right", "above", "below"].index(choices[letter])
    return "AB".index(letter)


tr = {t: ([], []) for t in TASKS}
for i in range(4000):
    c = instruct[i]["conversations"]
    t = TASKS[i % 4]
    tr[t][0].append(i); tr[t][1].append(label(t, c[0]["value"], c[1]["value"]))
te = {t: ([], []) for t in TASKS}
for j, q in enumerate(meta["test"]):
    te[q["task"]][0].append(j); te[q["task"]][1].append(label(q["task"], q["prompt"], q["answer"].strip("()")))


def run(enc_path, obj, patch=16, width=32, depth=2, grid=4):
    enc = ViT(64, patch, width, depth, 2, 128)
    if enc_path != "random":
        enc.load_state_dict(torch.load(enc_path))
    else:
        torch.manual_seed(0)
        enc = ViT(64, patch, width, depth, 2, 128)
    enc.eval()
    f = pre.features(obj, enc, torch.from_numpy(D["train"]))
    tf = pre.features(obj, enc, torch.from_numpy(D["test"]))
    def pool(x):
        B, N, C = x.shape; g = int(N ** .5)
        if g != grid:
            x = F.adaptive_avg_pool2d(x.transpose(1, 2).reshape(B, C, g, g), grid).flatten(2).transpose(1, 2)
        return x.flatten(1)
    f, tf = pool(f), pool(tf)
    out = {}
    for t in TASKS:
        xi, yi = tr[t]; xj, yj = te[t]
        x, y = f[xi], torch.tensor(yi); xt, yt = tf[xj], torch.tensor(yj)
        m, s = x.mean(0), x.std(0) + 1e-5
        x, xt = (x - m) / s, (xt - m) / s
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(x.shape[1], 128), nn.GELU(), nn.Linear(128, int(y.max()) + 1))
        opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.05)
        for ep in range(200):
            perm = torch.randperm(len(x))
            for k in range(0, len(x), 64):
                b = perm[k:k + 64]
                loss = F.cross_entropy(net(x[b]), y[b])
                opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            out[t] = round(100 * float((net(xt).argmax(1) == yt).float().mean()), 1)
    print(enc_path, obj, out, flush=True)


for spec in sys.argv[1:]:
    p, o = spec.split(":")
    run(p, o)
