"""What the frozen features tell about the Depth answer without the LLM: logistic regression on
the standardised, flattened token grid of `cambrian encode` outputs (numpy, full-batch gradient
descent with L2), trained on the stage-2 Depth scenes, scored on the benchmark's Depth questions.

    python3 tools/bottle/depth_probe.py DIR NAME [...]
DIR holds NAME-train.safetensors, NAME-test.safetensors, train.txt and test.txt ("image letter").
"""
import sys

import numpy as np
from safetensors.numpy import load_file

folder = sys.argv[1]


def labels(split):
    return np.array([line.split()[1] == "A" for line in open(f"{folder}/{split}.txt")], dtype=np.float64)


def fit(x, y, l2=1e-2, steps=2000, lr=0.5):
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * (x.T @ (p - y) / len(y) + l2 * w)
        b -= lr * (p - y).mean()
    return w, b


y_train, y_test = labels("train"), labels("test")
for name in sys.argv[2:]:
    x_train, x_test = (load_file(f"{folder}/{name}-{s}.safetensors")["features"].reshape(len(y), -1).astype(np.float64)
                       for s, y in (("train", y_train), ("test", y_test)))
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    w, b = fit((x_train - mean) / std, y_train)
    accuracy = lambda x, y: 100 * (((x - mean) / std @ w + b > 0) == (y > 0.5)).mean()
    print(f"{name}: train {accuracy(x_train, y_train):.1f}, test {accuracy(x_test, y_test):.1f}")
