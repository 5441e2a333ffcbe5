"""How much an encoder's features differ between images (docs/BOTTLE.md): the standard deviation
across images, averaged over tokens and channels, and across tokens, averaged over images and
channels, of a `cambrian encode` output ([N, T, C] `features`).

    python3 tools/bottle/spread.py FEATURES.safetensors [...]
"""
import sys

from safetensors.numpy import load_file

for path in sys.argv[1:]:
    features = load_file(path)["features"]
    across_images = features.std(axis=0).mean()
    across_tokens = features.std(axis=1).mean()
    print(f"{path}: across images {across_images:.3f}, across tokens {across_tokens:.3f}")
