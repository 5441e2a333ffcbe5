# Loads a `cambrian synth` folder into numpy arrays (images as the tiny-vit spec preprocesses
# them: shortest edge 71 bicubic, centre crop 64, mean/std 0.5), plus pseudo ground truth
# derived from the pixels: per-pixel colour class (segmentation) and an approximate depth map
# (ground pixels analytic from the row; object pixels the ground depth at their component's
# lowest row), plus multi-label look targets parsed from the captions.
import json, sys, math, re
import numpy as np
from PIL import Image

SIZE_WORDS = ["small", "large"]
COLOURS = [("yellow", (230, 200, 40)), ("purple", (140, 70, 170)), ("cyan", (40, 190, 200)), ("orange", (240, 130, 30)),
           ("brown", (130, 85, 45)), ("pink", (240, 140, 180)), ("white", (235, 235, 235))]
SHAPES = ["cube", "sphere", "cylinder"]
BOXES = [(255, 0, 0), (0, 0, 255), (0, 255, 0)]


def preprocess(img, crop):
    # timm-style: resize shortest edge to floor(crop/0.9), bicubic, centre crop
    r = int(math.floor(crop / 0.9))
    im = img.resize((r, r), Image.BICUBIC)
    off = int(round((r - crop) / 2))
    im = im.crop((off, off, off + crop, off + crop))
    a = np.asarray(im, dtype=np.float32) / 255.0
    return ((a - 0.5) / 0.5).transpose(2, 0, 1)


def seg_labels(rgb):
    # classes: 0 sky, 1 ground, 2..8 object colours, 9..11 box outlines
    p = rgb.astype(np.float32)
    H, W, _ = p.shape
    res = []
    # sky: blue-ish gradient
    sky = np.array([175, 198, 228], np.float32)
    sky2 = np.array([105, 145, 212], np.float32)
    t = np.clip(((p - sky) * (sky2 - sky)).sum(-1) / ((sky2 - sky) ** 2).sum(), 0, 1)
    res.append(np.linalg.norm(p - (sky + t[..., None] * (sky2 - sky)), axis=-1))
    g = []
    for base in [(118, 122, 112), (142, 146, 136)]:
        a = np.array(base, np.float32)
        l = np.clip((p * a).sum(-1) / (a * a).sum(), 0.5, 1.05)
        g.append(np.linalg.norm(p - l[..., None] * a, axis=-1))
    res.append(np.min(g, axis=0) - 4.0)
    for _, a in COLOURS:
        a = np.array(a, np.float32)
        l = np.clip((p * a).sum(-1) / (a * a).sum(), 0.45, 1.0)
        res.append(np.linalg.norm(p - l[..., None] * a, axis=-1))
    for b in BOXES:
        res.append(np.linalg.norm(p - np.array(b, np.float32), axis=-1))
    return np.argmin(np.stack(res), axis=0).astype(np.int64)


def ground_depth(size):
    # camera 2 m up, pitch 20 deg down, fov 50 deg; depth = distance along the ray to ground
    pitch = math.radians(20); fov = math.radians(50)
    f = size / 2 / math.tan(fov / 2)
    rows = np.arange(size) + 0.5 - size / 2
    b = rows / f
    # ray d = fwd - b*up (a=0 for the row); fwd=(0,-s,c), up=(0,c,s)
    s, c = math.sin(pitch), math.cos(pitch)
    dy = -s - b * c
    dz = c - b * s
    n = np.sqrt(dy ** 2 + dz ** 2)
    dy = dy / n
    t = np.where(dy < 0, -2.0 / np.minimum(dy, -1e-6), 30.0)
    return np.minimum(t, 30.0)


def depth_map(lab, size):
    from scipy import ndimage
    gd = ground_depth(size)
    d = np.repeat(gd[:, None], size, 1).astype(np.float32)
    obj = (lab >= 2) & (lab <= 8)
    comp, n = ndimage.label(obj)
    for k in range(1, n + 1):
        ys, xs = np.nonzero(comp == k)
        d[ys, xs] = gd[min(ys.max() + 1, size - 1)]
    sky = lab == 0
    d[sky] = 30.0
    return d


def look_targets(caption):
    y = np.zeros(42 + 7 + 3 + 10, np.float32)
    items = re.findall(r"a (small|large) (\w+) (cube|sphere|cylinder)", caption.split(":", 1)[1].split(".")[0])
    cn = [c for c, _ in COLOURS]
    for sz, col, sh in items:
        i = (SIZE_WORDS.index(sz) * 7 + cn.index(col)) * 3 + SHAPES.index(sh)
        y[i] = 1
        y[42 + cn.index(col)] = 1
        y[49 + SHAPES.index(sh)] = 1
    y[52 + min(len(items), 9)] = 1
    return y


def main(root, out, crop=64):
    pre = json.load(open(f"{root}/train/pretrain.json"))
    imgs, segs, deps, looks, caps = [], [], [], [], []
    for r in pre:
        im = Image.open(f"{root}/{r['image']}").convert("RGB")
        x = preprocess(im, crop)
        imgs.append(x)
        rgb = np.clip(np.round((x.transpose(1, 2, 0) * 0.5 + 0.5) * 255), 0, 255)
        lab = seg_labels(rgb)
        segs.append(lab)
        deps.append(depth_map(lab, crop))
        cap = r["conversations"][1]["value"]
        caps.append(cap)
        looks.append(look_targets(cap))
    test = []
    for f in ["test_2d.jsonl", "test_3d.jsonl"]:
        for line in open(f"{root}/{f}"):
            test.append(json.loads(line))
    timgs = [preprocess(Image.open(f"{root}/{t['image']}").convert("RGB"), crop) for t in test]
    np.savez_compressed(out, train=np.stack(imgs).astype(np.float16), seg=np.stack(segs).astype(np.uint8),
                        depth=np.stack(deps).astype(np.float16), looks=np.stack(looks), test=np.stack(timgs).astype(np.float16))
    json.dump({"captions": caps, "test": test, "train_ids": [r["image"] for r in pre]}, open(out + ".json", "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 64)
