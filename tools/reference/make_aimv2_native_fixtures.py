"""Parity fixture of the native-resolution AIMv2 (tests/aimv2_native_parity.rs):
transformers' `Aimv2VisionModel` with `is_native` (apple/aimv2-large-patch14-native), shrunk
to a tiny size, with random weights, saved as a transformers folder with the hub's
preprocessor config (a `CLIPImageProcessor` with `do_resize` and `do_center_crop` off: each
image at its own pixel size, normalised).

The model has no position table: 2-D sin-cos positions are built for each image's grid, and
the patch convolution drops the pixels past the last whole patch. Each of the three test
images (three aspect ratios, none a multiple of the patch on both sides) goes through the
PIL processor and the model alone; the reference keeps per image i the pixels the model
read (`pixels_i` [3, rows · patch, cols · patch]: the processor's output without the
dropped remainder), its grid (`grid_i`) and `last_hidden_state` (`features_i`
[rows × cols, hidden]). Run from the repository root, after make_naflex_fixtures.py (which
makes the wide image):

    python3 tools/reference/make_aimv2_native_fixtures.py

CI never runs this; its outputs are committed.
"""

import sys
from pathlib import Path

import torch
import transformers as tf
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import CLIP_MEAN, CLIP_STD, IMAGES, TINY, fresh, randomize  # noqa: E402

NAME = "aimv2-native"
FILES = ["wide-90x30.png", "scene-61x47.png", "tall-38x70.png"]


def main():
    config = tf.Aimv2VisionConfig(image_size=32, intermediate_size=48, is_native=True, use_head=True, **TINY)
    model = randomize(tf.Aimv2VisionModel(config), 51)
    assert not hasattr(model.embeddings, "position_embedding"), "the native model has no position table"
    processor = tf.CLIPImageProcessorPil(
        do_resize=False, do_center_crop=False, size={"shortest_edge": 32}, image_mean=CLIP_MEAN, image_std=CLIP_STD
    )
    case = fresh(NAME)
    model.save_pretrained(case)
    processor.save_pretrained(case)
    patch = TINY["patch_size"]
    tensors = {}
    for i, name in enumerate(FILES):
        image = Image.open(IMAGES / name).convert("RGB")
        pixels = processor(images=image, return_tensors="pt")["pixel_values"]
        assert tuple(pixels.shape[-2:]) == (image.height, image.width), "no resize, no crop"
        with torch.no_grad():
            hidden = model(pixel_values=pixels).last_hidden_state[0]
        rows, cols = image.height // patch, image.width // patch
        assert hidden.shape[0] == rows * cols
        tensors[f"pixels_{i}"] = pixels[0, :, : rows * patch, : cols * patch]
        tensors[f"grid_{i}"] = torch.tensor([rows, cols], dtype=torch.float32)
        tensors[f"features_{i}"] = hidden
        print(f"{name}: {image.width}x{image.height} -> grid {rows}x{cols}")
    tensors = {k: v.float().contiguous() for k, v in tensors.items()}
    save_file(tensors, str(case / "reference.safetensors"), metadata={"images": ",".join(FILES)})


if __name__ == "__main__":
    main()
