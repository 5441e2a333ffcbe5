"""Parity fixtures for the encoders of the 2025 comparisons (tests/encoders_2025_parity.rs):
AIMv2, Web-SSL (Web-DINO and Web-MAE) and Perception Encoder's aligned variants, each built
as its library defines the real checkpoint's model, shrunk to a tiny size, with random
weights, saved in the format its hub checkpoint uses:

- aimv2: transformers `Aimv2VisionModel` (apple/aimv2-large-patch14-224), a transformers
  folder with its attention-pooling head (not part of the tokens).
- webssl-dino: transformers `Dinov2Model` with the SwiGLU feed-forward and LayerScale, as
  facebook/webssl-dino*-full2b-224 load (mlp_ratio 4: the SwiGLU width is rounded to 8).
- webssl-mae: transformers `ViTModel` with its pooler (facebook/webssl-mae*-full2b-224) and
  timm MAE's LayerNorm eps 1e-6.
- pe-lang, pe-spatial, pe-spatial-g: timm's `vit_pe_lang_large_patch14_448`,
  `vit_pe_spatial_large_patch14_448` and `vit_pe_spatial_gigantic_patch14_448` as
  `model.safetensors` (timm/vit_pe_*.fb): no final norm; LayerScale (Lang, Spatial-G);
  no class token and no rope offset (G).
- internvit: OpenGVLab's `InternVisionModel` as InternViT-300M-448px configures it
  (LayerNorm, no QK-norm, LayerScale, qkv bias), imported from `modeling_intern_vit.py` of
  a checkout of OpenGVLab/InternVL (remote code, not on PyPI: pass its folder,
  `internvl_chat/internvl/model/internvl_chat`, as `--internvl`), saved as its
  `model.safetensors`; run at a larger grid than built, so the position table is resized.

`reference.safetensors` holds the reference preprocessing of the test images (`pixels`) and
the tokens the preset hands on (`features`: last_hidden_state without the class token, or
timm's `forward_features` without the prefix tokens). Run from the repository root:

    python3 tools/reference/make_2025_fixtures.py --internvl PATH/internvl_chat/internvl/model/internvl_chat

(needs `pip install einops` for that file).

CI never runs this; its outputs are committed.
"""

import argparse
import importlib
import sys
import types
from pathlib import Path

import timm
import torch
import transformers as tf
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import (  # noqa: E402  (shared helpers of the ViT fixtures)
    CASES,
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TINY,
    fresh,
    hf_case,
    randomize,
    save_reference,
    transform_pixels,
    write_spec as write_vit_spec,
)
from make_eva_fixtures import TINY as EVA_TINY  # noqa: E402
from make_eva_fixtures import preprocess_table, randomize_parameters, timm_pixels, tokens, write_spec  # noqa: E402


def aimv2_case():
    """RMSNorm after the patch embedding and in every block, bias-free SwiGLU and attention,
    no class token; the position table indexed by patch number."""
    config = tf.Aimv2VisionConfig(image_size=32, intermediate_size=48, use_head=True, **TINY)
    model = randomize(tf.Aimv2VisionModel(config), 31)
    assert model.encoder.layers[0].attention.q_proj.bias is None and model.encoder.layers[0].ffn.up_proj.bias is None
    proc = tf.CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_mean=CLIP_MEAN, image_std=CLIP_STD
    )

    def states(px):
        out = model(pixel_values=px, output_hidden_states=True)
        assert len(out.hidden_states) == config.num_hidden_layers + 1
        return out

    hf_case(
        "aimv2", model, proc, lambda px: states(px).last_hidden_state, (4, 4),
        extra_fn=lambda px: {"features_layer1": states(px).hidden_states[1]},
    )


def webssl_cases():
    config = tf.Dinov2Config(image_size=32, mlp_ratio=4, use_swiglu_ffn=True, layerscale_value=1e-5, **TINY)
    model = randomize(tf.Dinov2Model(config), 32)
    assert model.encoder.layer[0].mlp.down_proj.in_features == 88, "(int(128 * 2 / 3) + 7) // 8 * 8"
    proc = tf.BitImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, resample=3, do_convert_rgb=True,
    )
    hf_case("webssl-dino", model, proc, lambda px: model(pixel_values=px).last_hidden_state[:, 1:], (4, 4))

    config = tf.ViTConfig(image_size=32, intermediate_size=128, layer_norm_eps=1e-6, **TINY)
    model = randomize(tf.ViTModel(config), 33)
    proc = tf.ViTImageProcessorPil(size={"height": 32, "width": 32}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    hf_case("webssl-mae", model, proc, lambda px: model(pixel_values=px).last_hidden_state[:, 1:], (4, 4))


def pe_case(name, timm_name, variant, seed, **arch):
    case = fresh(name)
    model = timm.create_model(timm_name, pretrained=False, img_size=24, depth=2, ref_feat_shape=(3, 3), **EVA_TINY)
    model = randomize_parameters(model, seed)
    assert isinstance(model.norm, torch.nn.Identity), "the aligned PEs have no final norm"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "model.safetensors"))
    pixels, cfg = timm_pixels(model, 24, pad=True)
    with torch.no_grad():
        features = tokens(model, pixels)
    mlp_size = model.blocks[0].mlp.fc1.out_features
    write_spec(
        case, name, "language-supervised", "model.safetensors",
        dict(variant=variant, image_size=24, patch_size=6, hidden_size=24, depth=2, heads=2, mlp_size=mlp_size,
             rope_reference_grid=3, **arch),
        preprocess_table(cfg, 24, pad=True),
    )
    save_reference(case, pixels, features, (4, 4), "final")


def pe_cases():
    pe_case("pe-lang", "vit_pe_lang_large_patch14_448", "pe-lang", 34)
    pe_case("pe-spatial", "vit_pe_spatial_large_patch14_448", "pe-spatial", 35)
    pe_case("pe-spatial-g", "vit_pe_spatial_gigantic_patch14_448", "pe-spatial", 36, class_token=False, layer_scale=True)


def internvit_case(folder):
    """InternViT-300M-448px's switches (norm_type layer_norm, qk_normalization off, qkv_bias,
    LayerScale), built at 32 px and run at 40 px: the table is resized by plain bicubic."""
    package = types.ModuleType("internvit_reference")
    package.__path__ = [str(Path(folder).resolve())]
    sys.modules["internvit_reference"] = package
    modeling = importlib.import_module("internvit_reference.modeling_intern_vit")
    config = modeling.InternVisionConfig(
        image_size=32, patch_size=8, hidden_size=32, num_attention_heads=4, intermediate_size=64, num_hidden_layers=3,
        qkv_bias=True, qk_normalization=False, norm_type="layer_norm", use_flash_attn=False, layer_norm_eps=1e-6,
    )
    model = randomize(modeling.InternVisionModel(config), 37)
    case = fresh("internvit")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "model.safetensors"))
    from torchvision import transforms as T

    # InternVL's build_transform, after Cambrian's pad (ImageNet mean) and resize to 40 px.
    transform = T.Compose([
        T.Resize((40, 40), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ])
    pixels = transform_pixels(transform, square=(tuple(int(x * 255) for x in IMAGENET_MEAN), 40))
    with torch.no_grad():
        features = model(pixel_values=pixels).last_hidden_state[:, 1:]
    write_vit_spec(
        case, "internvit", "language-supervised", "model.safetensors",
        dict(layout="internvit", image_size=32, patch_size=8, hidden_size=32, depth=3, heads=4, mlp_size=64),
        dict(pad_to_square=True, resize="squash", resize_size=40, crop_size=40, interpolation="bicubic",
             crop_rounding="floor", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    )
    save_reference(case, pixels, features, (5, 5), "final")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--internvl", required=True, help="the folder of InternVL's modeling_intern_vit.py")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    aimv2_case()
    webssl_cases()
    pe_cases()
    internvit_case(args.internvl)
    for name in ("aimv2", "webssl-dino", "webssl-mae", "pe-lang", "pe-spatial", "pe-spatial-g", "internvit"):
        size = sum(p.stat().st_size for p in (CASES / name).iterdir()) // 1024
        print(f"{name:<14} {size} KiB")


if __name__ == "__main__":
    main()
