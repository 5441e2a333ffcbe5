# One probe run: [pretrain encoder] -> features -> stage 1 -> stage 2 -> score image / no-image.
import argparse, json, random, time, sys
import numpy as np
import torch
from mock import Tok, ViT, Llama, Connector, build_seq, train_stage, score, VICUNA_SYSTEM, words
import pre

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="d64")
ap.add_argument("--synth", default="data64")
ap.add_argument("--obj", default="random")
ap.add_argument("--enc", default=None, help="load encoder state from this file")
ap.add_argument("--save-enc", default=None)
ap.add_argument("--patch", type=int, default=16)
ap.add_argument("--width", type=int, default=32)
ap.add_argument("--depth", type=int, default=2)
ap.add_argument("--heads", type=int, default=2)
ap.add_argument("--mlp", type=int, default=128)
ap.add_argument("--pt-steps", type=int, default=500)
ap.add_argument("--pt-lr", type=float, default=1e-3)
ap.add_argument("--pt-batch", type=int, default=64)
ap.add_argument("--grid", type=int, default=4)
ap.add_argument("--llm-h", type=int, default=64)
ap.add_argument("--llm-i", type=int, default=172)
ap.add_argument("--llm-l", type=int, default=2)
ap.add_argument("--s1", type=int, default=400)
ap.add_argument("--s1-lr", type=float, default=1e-3)
ap.add_argument("--s1-epochs", type=int, default=1)
ap.add_argument("--s2", type=int, default=400)
ap.add_argument("--s2-lr", type=float, default=3e-3)
ap.add_argument("--s2-epochs", type=int, default=3)
ap.add_argument("--s2-batch", type=int, default=16)
ap.add_argument("--open", type=int, default=0, help="open-task training conversations appended")
ap.add_argument("--tasks", default="Count,Relation,Depth,Distance", help="stage-2 scenes of these tasks only")
ap.add_argument("--second-turn", type=int, default=1)
ap.add_argument("--ntest", type=int, default=800)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--tag", default="")
ap.add_argument("--pt-only", action="store_true")
ap.add_argument("--llm-load", default=None)
ap.add_argument("--s1-llm", type=int, default=0, help="stage 1 trains the LLM too (train_llm = true)")
ap.add_argument("--llm-pre", type=int, default=0, help="text-only LM pretraining steps (then saved to --llm-save)")
ap.add_argument("--llm-pre-lr", type=float, default=3e-3)
ap.add_argument("--llm-pre-text", default="captions", help="captions | captions+qa")
ap.add_argument("--llm-save", default=None)
a = ap.parse_args()

torch.set_num_threads(1)
torch.manual_seed(a.seed)
random.seed(a.seed)
np.random.seed(a.seed)
t_start = time.process_time()
D = np.load(a.data + ".npz")
meta = json.load(open(a.data + ".json"))
X = torch.from_numpy(D["train"])
TX = torch.from_numpy(D["test"])
caps = meta["captions"]
instruct = json.load(open(a.synth + "/train/instruct.json"))
test = meta["test"]
cnt = {}
sel = []
for i, t in enumerate(test):
    if cnt.get(t["task"], 0) < a.ntest // 4:
        cnt[t["task"]] = cnt.get(t["task"], 0) + 1
        sel.append(i)
# evenly over tasks: test is 2D (count, relation interleaved) then 3D; take a balanced subset
test = [test[i] for i in sel]
TX = TX[sel]

corpus = [VICUNA_SYSTEM, "USER: ASSISTANT: Answer with the option's letter from the given choices directly."] + caps
for c in instruct:
    corpus += [t["value"] for t in c["conversations"]]
for t in meta["test"]:
    corpus += [t["prompt"]]
tok = Tok(corpus)

enc = ViT(64, a.patch, a.width, a.depth, a.heads, a.mlp)
pt_cpu = 0.0
if a.enc:
    enc.load_state_dict(torch.load(a.enc))
elif a.obj != "random":
    data = {"x": X, "seg": torch.from_numpy(D["seg"]), "depth": torch.from_numpy(D["depth"]),
            "looks": torch.from_numpy(D["looks"]), "caps": [torch.tensor(tok.enc(c)) for c in caps]}
    losses, pt_cpu = pre.pretrain(a.obj, enc, data, a.pt_steps, a.pt_lr, a.pt_batch, a.seed, vocab=len(tok.vocab),
                                  log_every=max(1, a.pt_steps // 5))
    print(f"pretrain {a.obj}: loss {np.mean(losses[:10]):.4f} -> {np.mean(losses[-20:]):.4f}, {pt_cpu:.1f} CPU-s", flush=True)
if a.save_enc:
    torch.save(enc.state_dict(), a.save_enc)
if a.pt_only:
    sys.exit(0)
enc.eval()
for p in enc.parameters():
    p.requires_grad_(False)
t0 = time.process_time()
obj_feat = a.obj if not a.enc else ("denoise" if "denoise" in a.enc else "x")
feats = pre.features(obj_feat, enc, X[: max(a.s1, a.s2)])
tfeats = pre.features(obj_feat, enc, TX)
feat_cpu = time.process_time() - t0

torch.manual_seed(a.seed + 100)
llm = Llama(len(tok.vocab), a.llm_h, a.llm_i, a.llm_l)
conn = Connector(a.width, a.llm_h, a.grid)
llm_cpu = 0.0
if a.llm_load:
    llm.load_state_dict(torch.load(a.llm_load))
elif a.llm_pre:
    # text-only LM pretraining on the synthetic language (loss on every token), encoder-agnostic
    tl = time.process_time()
    texts = [caps[i] for i in range(len(caps))]
    if a.llm_pre_text == "captions+qa":
        for c in instruct[:4000]:
            conv = c["conversations"]
            texts.append(conv[0]["value"].replace("<image>\n", "") + " " + conv[1]["value"])
    seqs = [[1] + tok.enc(t) + [2] for t in texts]
    prng = random.Random(1000 + a.seed)
    opt = torch.optim.AdamW(llm.parameters(), lr=a.llm_pre_lr, weight_decay=0.0)
    from mock import warmup_cosine
    sch = warmup_cosine(a.llm_pre_lr, a.llm_pre)
    for st in range(a.llm_pre):
        for g in opt.param_groups:
            g["lr"] = sch(st)
        b = [seqs[prng.randrange(len(seqs))] for _ in range(32)]
        N = max(map(len, b))
        ids = torch.tensor([x + [0] * (N - len(x)) for x in b])
        pad = torch.tensor([[1] * len(x) + [0] * (N - len(x)) for x in b], dtype=torch.bool)
        logits = llm(llm.emb(ids), pad)[:, :-1]
        m = pad[:, 1:].float()
        loss = (torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none").view(m.shape) * m).sum() / m.sum()
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(llm.parameters(), 1.0); opt.step()
        if (st + 1) % max(1, a.llm_pre // 5) == 0:
            print(f"  [llm-pre] step {st+1} loss {loss.item():.3f}", flush=True)
    llm_cpu = time.process_time() - tl
    print(f"llm pretrain {a.llm_pre} steps: {llm_cpu:.1f} CPU-s", flush=True)
    if a.llm_save:
        torch.save(llm.state_dict(), a.llm_save)
ntok = a.grid * a.grid
rng = random.Random(a.seed)

s1 = []
for i in range(a.s1):
    ids, tgt = build_seq(tok, [("<image>", caps[i])], "plain")
    s1.append(((ids, tgt), i))
tasks = set(a.tasks.split(","))
s2 = []
for i in range(a.s2):
    conv = instruct[i]["conversations"]
    task = ["Count", "Relation", "Depth", "Distance"][i % 4]
    if task not in tasks:
        continue
    turns = [(conv[0]["value"], conv[1]["value"])]
    if a.second_turn:
        turns.append((conv[2]["value"], conv[3]["value"]))
    s2.append((build_seq(tok, turns, "vicuna"), i))
t0 = time.process_time()
p1 = list(conn.parameters()) + (list(llm.parameters()) if a.s1_llm else [])
l1 = train_stage(p1, llm, conn, feats, s1, 16, a.s1_lr, a.s1_epochs, ntok, rng) if a.s1 else [0]
t1 = time.process_time()
l2 = train_stage(list(conn.parameters()) + list(llm.parameters()), llm, conn, feats, s2, a.s2_batch, a.s2_lr, a.s2_epochs, ntok, rng)
t2 = time.process_time()
llm.eval()
img = score(llm, conn, tfeats, tok, test, ntok, True)
t3 = time.process_time()
blind = score(llm, conn, tfeats, tok, test, ntok, False)
t4 = time.process_time()
res = {"tag": a.tag, "args": vars(a), "image": img, "no_image": blind, "margin": img["avg"] - blind["avg"],
       "loss1": [float(np.mean(l1[:5])), float(np.mean(l1[-5:]))], "loss2": [float(np.mean(l2[:5])), float(np.mean(l2[-10:]))],
       "cpu": {"pretrain": pt_cpu, "llm_pre": llm_cpu, "features": feat_cpu, "stage1": t1 - t0, "stage2": t2 - t1, "eval_image": t3 - t2,
               "eval_blind": t4 - t3, "total": time.process_time() - t_start}}
print(json.dumps({k: (v if k != "args" else None) for k, v in res.items()}, default=lambda o: round(o, 1) if isinstance(o, float) else o))
with open("results.jsonl", "a") as f:
    f.write(json.dumps(res) + "\n")
