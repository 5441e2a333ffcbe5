"""Parity fixture of SigLIP 2 NaFlex (tests/naflex_parity.rs): transformers'
`Siglip2VisionModel` as google/siglip2-*-patch16-naflex define it, shrunk to a tiny size,
with random weights, saved as a transformers folder with its `Siglip2ImageProcessor`
config (`max_num_patches`).

The three test images have three aspect ratios. They go through the PIL processor and the
model as one padded batch with its patch attention mask, as the model is used; the
reference keeps, per image i, the pixels the processor made as an image (`pixels_i`
[3, height, width], un-patchified), its grid (`grid_i`) and the valid rows of
`last_hidden_state` (`features_i` [rows × cols, hidden]). Two token budgets: the config's
(`max_num_patches` 20: grids larger than the 4 × 4 position table, which is upsampled) and
7 (`small_` tensors: grids smaller than the table, which is antialiased down).

Run from the repository root:

    python3 tools/reference/make_naflex_fixtures.py

CI never runs this; its outputs are committed.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import transformers as tf
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import IMAGES, TINY, fresh, randomize  # noqa: E402

NAME = "siglip2-naflex"
# PNGs: JPEG decoders differ by a level here and there. The wide one is this fixture's own.
FILES = ["wide-90x30.png", "scene-61x47.png", "tall-38x70.png"]


def make_wide_image():
    """make_encoder_fixtures' recipe at a 3:1 aspect ratio: gradients, a disc, noise."""
    rng = np.random.default_rng(1)
    w, h = 90, 30
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin((x + y) / 5)], -1)
    img[(x - 60) ** 2 + (y - 12) ** 2 < 64] = rng.uniform(0, 255, 3)
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(IMAGES / FILES[0])
BUDGETS = {"": 20, "small_": 7}


def unpatchify(patches, rows, cols, patch):
    """[rows × cols, patch · patch · 3] in the processor's (row, col, channel) order →
    [3, rows · patch, cols · patch]."""
    x = patches[: rows * cols].reshape(rows, cols, patch, patch, 3)
    return x.permute(4, 0, 2, 1, 3).reshape(3, rows * patch, cols * patch)


def main():
    config = tf.Siglip2VisionConfig(intermediate_size=48, num_patches=16, vision_use_head=True, **TINY)
    model = randomize(tf.Siglip2VisionModel(config), 41)
    processor = tf.Siglip2ImageProcessorPil(patch_size=TINY["patch_size"], max_num_patches=BUDGETS[""])
    case = fresh(NAME)
    model.save_pretrained(case)
    processor.save_pretrained(case)

    make_wide_image()
    images = [Image.open(IMAGES / name).convert("RGB") for name in FILES]
    tensors = {}
    for prefix, budget in BUDGETS.items():
        inputs = processor(images=images, max_num_patches=budget, return_tensors="pt")
        assert inputs["pixel_attention_mask"].sum() < budget * len(images), "some image must be padded"
        with torch.no_grad():
            hidden = model(**inputs).last_hidden_state
        for i, (rows, cols) in enumerate(inputs["spatial_shapes"].tolist()):
            tensors[f"{prefix}pixels_{i}"] = unpatchify(inputs["pixel_values"][i], rows, cols, TINY["patch_size"])
            tensors[f"{prefix}grid_{i}"] = torch.tensor([rows, cols], dtype=torch.float32)
            tensors[f"{prefix}features_{i}"] = hidden[i, : rows * cols]
            print(f"{prefix or 'main '}{FILES[i]}: grid {rows}x{cols}")
    tensors = {k: v.float().contiguous() for k, v in tensors.items()}
    save_file(tensors, str(case / "reference.safetensors"), metadata={"images": ",".join(FILES), "budgets": "20,7"})


if __name__ == "__main__":
    main()
