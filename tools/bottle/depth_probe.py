"""What the frozen features tell about the Depth answer without the LLM: logistic regression on
the standardised, flattened token grid of `cambrian encode` outputs (numpy, full-batch gradient
descent with L2), trained on the stage-2 Depth scenes, scored on the benchmark's Depth questions.

    python3 tools/bottle/depth_probe.py lists WORK DIR    # DIR/train.txt, DIR/test.txt: "image letter"
    cambrian -q encode --encoder E.toml --weights E.safetensors --out DIR/NAME-train.safetensors \\
        $(cut -d' ' -f1 DIR/train.txt)                     # and the same for test
    python3 tools/bottle/depth_probe.py score DIR NAME [...]
WORK is a `rust_probe.sh` folder (its synth/ and synth/train/depth.json); image paths are
relative to WORK.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def write_lists(work, folder):
    with open(f"{folder}/train.txt", "w") as out:
        for record in json.load(open(f"{work}/synth/train/depth.json")):
            out.write(f"synth/{record['image']} {record['conversations'][1]['value'].strip()}\n")
    with open(f"{folder}/test.txt", "w") as out:
        for line in open(f"{work}/synth/test_3d.jsonl"):
            question = json.loads(line)
            if question["task"] == "Depth":
                out.write(f"synth/{question['image']} {question['answer'].strip('()')}\n")


def labels(folder, split):
    return np.array([line.split()[1] == "A" for line in open(f"{folder}/{split}.txt")], dtype=np.float64)


def fit(x, y, l2=1e-2, steps=2000, lr=0.5):
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * (x.T @ (p - y) / len(y) + l2 * w)
        b -= lr * (p - y).mean()
    return w, b


def score(folder, names):
    y_train, y_test = labels(folder, "train"), labels(folder, "test")
    for name in names:
        x_train, x_test = (load_file(f"{folder}/{name}-{s}.safetensors")["features"].reshape(len(y), -1).astype(np.float64)
                           for s, y in (("train", y_train), ("test", y_test)))
        mean, std = x_train.mean(0), x_train.std(0) + 1e-6
        w, b = fit((x_train - mean) / std, y_train)
        accuracy = lambda x, y: 100 * (((x - mean) / std @ w + b > 0) == (y > 0.5)).mean()
        print(f"{name}: train {accuracy(x_train, y_train):.1f}, test {accuracy(x_test, y_test):.1f}")


if len(sys.argv) == 4 and sys.argv[1] == "lists":
    write_lists(sys.argv[2], sys.argv[3])
elif len(sys.argv) >= 4 and sys.argv[1] == "score":
    score(sys.argv[2], sys.argv[3:])
else:
    sys.exit(__doc__)
