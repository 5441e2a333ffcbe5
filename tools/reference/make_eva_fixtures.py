"""Parity fixtures for the timm `Eva` family (tests/eva_parity.rs): EVA-02 CLIP, Perception
Encoder core and DINOv3, as timm's eva.py builds them.

Each case is the real timm model (`timm.create_model(<real name>, ...)`) shrunk to a tiny
width and depth, with random weights, saved in the format its hub checkpoint uses:

- eva02-clip: open_clip's `open_clip_model.safetensors` in float16, the timm trunk under
  `visual.trunk.` beside a few text-tower tensors (hf-hub:timm/eva02_large_patch14_clip_336.*).
- pe-core: timm's `model.safetensors` (timm/vit_pe_core_large_patch14_336.fb).
- dinov3: timm's `model.safetensors` (timm/vit_large_patch16_dinov3.lvd1689m), fed a larger
  image than it was built for, as its dynamic image size allows.
- dinov3-qkvb-swiglu: the `_qkvb` layout (q and v biases) with a SwiGLU feed-forward
  (timm/vit_huge_plus_patch16_dinov3_qkvb.lvd1689m).

`reference.safetensors` holds the reference preprocessing of the test images (`pixels`) and
`forward_features` without the class and register tokens (`features`), as Cambrian-1's
EvaClipVisionTower takes them. Run from the repository root:

    python3 tools/reference/make_eva_fixtures.py

CI never runs this; its outputs are committed.
"""

import json
import sys
from pathlib import Path

import numpy as np
import timm
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import (  # noqa: E402  (shared helpers of the ViT fixtures)
    CASES,
    CLIP_MEAN,
    CLIP_STD,
    fresh,
    resize_of,
    save_reference,
    transform_pixels,
)

TINY = dict(patch_size=6, embed_dim=24, num_heads=2)


def randomize_parameters(model, seed):
    """Overwrite every parameter (buffers such as the rope tables and EVA's zero k bias stay
    as timm computes them) so that a wrong wiring shows in the output."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        rand = torch.randn(p.shape, generator=g)
        if "gamma" in name:
            value = 0.5 + 0.2 * rand
        elif "norm" in name:
            value = (1 + 0.1 * rand) if name.endswith("weight") else 0.1 * rand
        elif any(k in name for k in ("pos_embed", "cls_token", "reg_token")):
            value = 0.5 * rand
        elif p.dim() >= 2:
            value = rand * min(0.2, 1.5 / np.sqrt(int(np.prod(p.shape[1:]))))
        else:
            value = 0.1 * rand
        p.copy_(value)
    return model.eval()


def write_spec(case, name, family, weights_file, arch, pre):
    lines = [
        f'name = "{name}"',
        f'title = "tiny {name} (parity fixture)"',
        f'family = "{family}"',
        f'weights_file = "{weights_file}"',
        "",
        "[architecture]",
        'kind = "eva"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in arch.items()]
    lines += ["", "[preprocess]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in pre.items()]
    (case / "spec.toml").write_text("\n".join(lines) + "\n")


def timm_pixels(model, size, pad):
    """timm's eval transform from the model's pretrained_cfg, at `size`, after Cambrian's pad."""
    cfg = timm.data.resolve_data_config({"input_size": (3, size, size)}, model=model)
    assert cfg["crop_pct"] == 1.0 and cfg["interpolation"] == "bicubic"
    transform = timm.data.create_transform(**cfg)
    assert resize_of(transform) == size
    # Cambrian's pad and resize to `size`, then the transform (whose resize is then a no-op).
    square = (tuple(int(x * 255) for x in cfg["mean"]), size) if pad else None
    return transform_pixels(transform, square=square), cfg


def preprocess_table(cfg, size, pad):
    return dict(
        pad_to_square=pad, resize="shortest-edge", resize_size=size, crop_size=size,
        interpolation="bicubic", crop_rounding="round", mean=list(cfg["mean"]), std=list(cfg["std"]),
    )


def tokens(model, pixels):
    return model.forward_features(pixels)[:, model.num_prefix_tokens :]


def eva02_clip_case():
    """EVA-02 CLIP: split q/k/v (no k bias), attention sub-LN, SwiGLU with sub-LN, EVA rope
    rescaled to a reference grid, absolute positions with a class token."""
    case = fresh("eva02-clip")
    model = timm.create_model(
        "eva02_large_patch14_clip_336", pretrained=False, img_size=24, depth=2, ref_feat_shape=(3, 3), num_classes=16,
        **TINY,
    )
    model = randomize_parameters(model, 21)
    # open_clip stores the fp16 weights; the reference runs those rounded weights in f32.
    for p in model.parameters():
        p.copy_(p.half().float())
    state = {f"visual.trunk.{k}": v.half().contiguous() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(210)
    state["text.token_embedding.weight"] = torch.randn(99, 24, generator=g).half()
    state["text.positional_embedding"] = torch.randn(16, 24, generator=g).half()
    state["logit_scale"] = torch.tensor(2.3).half()
    save_file(state, str(case / "open_clip_model.safetensors"))

    import open_clip

    transform = open_clip.image_transform(24, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)
    assert resize_of(transform) == 24
    pixels = transform_pixels(transform, square=(tuple(int(x * 255) for x in CLIP_MEAN), 24))
    with torch.no_grad():
        features = tokens(model, pixels)
        # Block 1's output (our layer 1), without the final norm.
        layer1 = model.forward_intermediates(pixels, indices=[0], output_fmt="NLC", intermediates_only=True)[0]
    write_spec(
        case, "eva02-clip", "language-supervised", "open_clip_model.safetensors",
        dict(variant="eva02-clip", image_size=24, patch_size=6, hidden_size=24, depth=2, heads=2, mlp_size=64,
             rope_reference_grid=3),
        dict(pad_to_square=True, resize="shortest-edge", resize_size=24, crop_size=24, interpolation="bicubic",
             crop_rounding="round", mean=CLIP_MEAN, std=CLIP_STD),
    )
    save_reference(case, pixels, features, (4, 4), "final", {"features_layer1": layer1})


def pe_core_case():
    """PE core: fused qkv with bias, pre-norm, no patch bias, rope on a 1-offset xy grid."""
    case = fresh("pe-core")
    model = timm.create_model(
        "vit_pe_core_large_patch14_336", pretrained=False, img_size=24, depth=2, mlp_ratio=2, ref_feat_shape=(3, 3),
        num_classes=8, attn_pool_num_heads=2, attn_pool_mlp_ratio=1, **TINY,
    )
    model = randomize_parameters(model, 22)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "model.safetensors"))
    pixels, cfg = timm_pixels(model, 24, pad=True)
    with torch.no_grad():
        features = tokens(model, pixels)
    write_spec(
        case, "pe-core", "language-supervised", "model.safetensors",
        dict(variant="pe-core", image_size=24, patch_size=6, hidden_size=24, depth=2, heads=2, mlp_size=48,
             rope_reference_grid=3),
        preprocess_table(cfg, 24, pad=True),
    )
    save_reference(case, pixels, features, (4, 4), "final")


def dinov3_cases():
    """DINOv3: no absolute positions, centred-coordinate rope (half rotation), 4 registers,
    LayerScale; built at 24 px and run at 30 px."""
    case = fresh("dinov3")
    model = timm.create_model("vit_large_patch16_dinov3", pretrained=False, img_size=24, depth=2, mlp_ratio=2, **TINY)
    model = randomize_parameters(model, 23)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "model.safetensors"))
    pixels, cfg = timm_pixels(model, 30, pad=False)
    with torch.no_grad():
        features = tokens(model, pixels)
    write_spec(
        case, "dinov3", "self-supervised", "model.safetensors",
        dict(variant="dinov3", image_size=24, patch_size=6, hidden_size=24, depth=2, heads=2, mlp_size=48),
        preprocess_table(cfg, 30, pad=False),
    )
    save_reference(case, pixels, features, (5, 5), "final")

    case = fresh("dinov3-qkvb-swiglu")
    model = timm.create_model(
        "vit_huge_plus_patch16_dinov3_qkvb", pretrained=False, img_size=24, depth=1, mlp_ratio=2, **TINY
    )
    model = randomize_parameters(model, 24)
    hidden = model.blocks[0].mlp.fc2.in_features
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "model.safetensors"))
    pixels, cfg = timm_pixels(model, 24, pad=True)
    with torch.no_grad():
        features = tokens(model, pixels)
    write_spec(
        case, "dinov3-qkvb-swiglu", "self-supervised", "model.safetensors",
        dict(variant="dinov3", image_size=24, patch_size=6, hidden_size=24, depth=1, heads=2, mlp_size=hidden,
             mlp="swiglu", qkv_bias=True),
        preprocess_table(cfg, 24, pad=True),
    )
    save_reference(case, pixels, features, (4, 4), "final")


def main():
    torch.set_grad_enabled(False)
    eva02_clip_case()
    pe_core_case()
    dinov3_cases()
    for name in ("eva02-clip", "pe-core", "dinov3", "dinov3-qkvb-swiglu"):
        size = sum(p.stat().st_size for p in (CASES / name).iterdir()) // 1024
        print(f"{name:<22} {size} KiB")


if __name__ == "__main__":
    main()
