"""Parity fixtures for the SAM image encoder (tests/sam_parity.rs).

Each case is a tiny random-weight `Sam` built with segment-anything (image encoder, prompt
encoder, mask decoder), saved as a plain state dict with `torch.save`, the layout of the
official `sam_vit_*.pth` files, plus `reference.safetensors` holding Cambrian-1's SAM
preprocessing of the test images (`pixels` [N,3,H,W]) and the image encoder's output before
the neck (`features` [N,T,C], row-major), which is what Cambrian's `SAMVisionTower._forward`
hands on. Run from the repository root:

    pip install segment-anything
    python3 tools/reference/make_sam_fixtures.py

CI never runs this; its outputs are committed.
"""

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from segment_anything.utils.transforms import ResizeLongestSide

from make_encoder_fixtures import expand2square, fresh, open_images, randomize, save_reference

# SAM's normalisation, in 0-255 units (segment_anything/build_sam.py, Cambrian's SAMProcessor).
SAM_MEAN, SAM_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
TINY = dict(patch_size=16, embed_dim=12, depth=4, num_heads=2, mlp_ratio=2, out_chans=8, global_attn_indexes=(1, 3))


def tiny_sam(encoder, seed):
    """A whole Sam around `encoder`, so that the state dict has every key the official one has."""
    grid = encoder.img_size // 16
    prompt = PromptEncoder(embed_dim=8, image_embedding_size=(grid, grid), input_image_size=(encoder.img_size,) * 2,
                           mask_in_chans=4)
    decoder = MaskDecoder(transformer_dim=8, transformer=TwoWayTransformer(depth=1, embedding_dim=8, mlp_dim=16, num_heads=2),
                          num_multimask_outputs=3, iou_head_depth=1, iou_head_hidden_dim=8)
    return randomize(Sam(encoder, prompt, decoder), seed)


def cambrian_pixels(size):
    """Cambrian-1's SAM path: process_images' `expand2square` with `int(x * 255)` of SAM's 0-255
    mean (PIL clips the fill to white) and its resize of the square to the processor's crop
    size (PIL bicubic), then `SAMProcessor.preprocess`: ResizeLongestSide, normalise, pad."""
    fill = tuple(int(m * 255) for m in SAM_MEAN)
    mean, std = torch.tensor(SAM_MEAN).view(3, 1, 1), torch.tensor(SAM_STD).view(3, 1, 1)
    out = []
    for image in open_images():
        square = expand2square(image, fill)
        assert square.getpixel((0, 0)) == (255, 255, 255), "the fill is clipped to white"
        square = square.resize((size, size))
        resized = torch.as_tensor(ResizeLongestSide(size).apply_image(np.array(square))).permute(2, 0, 1)
        normalised = (resized - mean) / std
        h, w = normalised.shape[-2:]
        out.append(F.pad(normalised, (0, size - w, 0, size - h)))
    return torch.stack(out)


def pre_neck(encoder, pixels, blocks=None):
    """Patch embedding, absolute positions and the blocks: [N, rows, cols, C] → [N, rows·cols, C]."""
    x = encoder.patch_embed(pixels)
    if encoder.pos_embed is not None:
        x = x + encoder.pos_embed
    for block in encoder.blocks[:blocks]:
        x = block(x)
    # The encoder's own forward is this followed by the neck.
    if blocks is None:
        assert torch.allclose(encoder.neck(x.permute(0, 3, 1, 2)), encoder(pixels), atol=1e-6)
    return x.flatten(1, 2)


def write_spec(case, name, arch, resolution):
    arch_lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in arch.items()]
    lines = [
        f'name = "{name}"',
        f'title = "tiny {name} (parity fixture)"',
        'family = "segmentation"',
        'weights_file = "sam_tiny.pth"',
        "",
        "[architecture]",
        'kind = "sam"',
        *arch_lines,
        "",
        "[preprocess]",
        "pad_to_square = true",
        "pad_colour = [255, 255, 255]",
        'resize = "squash"',
        f"resize_size = {resolution}",
        f"crop_size = {resolution}",
        'interpolation = "bilinear"',
        f"mean = {[m / 255 for m in SAM_MEAN]}",
        f"std = {[s / 255 for s in SAM_STD]}",
    ]
    (case / "spec.toml").write_text("\n".join(lines) + "\n")


def spec_arch(encoder, window, abs_pos):
    return dict(
        image_size=encoder.img_size, patch_size=TINY["patch_size"], hidden_size=TINY["embed_dim"],
        depth=TINY["depth"], heads=TINY["num_heads"], mlp_size=TINY["embed_dim"] * TINY["mlp_ratio"],
        window_size=window, global_attn_indexes=list(TINY["global_attn_indexes"]), abs_pos=abs_pos,
    )


def encoder_case(name, seed, img_size, window, resolution, abs_pos, extra_layer=None):
    case = fresh(name)
    encoder = ImageEncoderViT(img_size=img_size, window_size=window, use_abs_pos=abs_pos, use_rel_pos=True,
                              qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), **TINY)
    sam = tiny_sam(encoder, seed)
    # Relative positions start at zero; make them large enough to matter.
    g = torch.Generator().manual_seed(seed + 100)
    for block in encoder.blocks:
        for table in (block.attn.rel_pos_h, block.attn.rel_pos_w):
            table.data.copy_(0.5 * torch.randn(table.shape, generator=g))
    state = sam.state_dict()
    assert any(k.startswith("prompt_encoder.") for k in state) and "image_encoder.neck.0.weight" in state
    torch.save(state, case / "sam_tiny.pth")

    pixels = cambrian_pixels(resolution)
    features = pre_neck(encoder, pixels)
    extra = {f"features_layer{extra_layer}": pre_neck(encoder, pixels, extra_layer)} if extra_layer else None
    grid = resolution // TINY["patch_size"]
    write_spec(case, name, spec_arch(encoder, window, abs_pos), resolution)
    save_reference(case, pixels, features, (grid, grid), "final", extra)


def main():
    torch.set_grad_enabled(False)
    # 4×4 grid, window 3: every window attention pads the grid to 6×6.
    encoder_case("sam-tiny", 20, img_size=64, window=3, resolution=64, abs_pos=True, extra_layer=2)
    # No absolute table, trained at 64 px (global tables of 7 rows) and run at 48 px (3×3 grid):
    # get_rel_pos interpolates the global tables to 5 rows; window 2 pads the grid to 4×4.
    encoder_case("sam-tiny-rel-pos-resized", 21, img_size=64, window=2, resolution=48, abs_pos=False)


if __name__ == "__main__":
    main()
