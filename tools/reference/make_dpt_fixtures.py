"""Parity fixtures for the depth encoders (tests/dpt_parity.rs): MiDaS 3.0 (DPT with a ViT
backbone, Intel/dpt-large) and MiDaS 3.1 (DPT with a BEiT backbone, Intel/dpt-beit-large-512).

Each case is a tiny random-weight `DPTForDepthEstimation` saved with `save_pretrained` (the
checkpoint keeps its neck and head, as the real one does) with a `DPTImageProcessorPil`, and
`reference.safetensors`: the processor's pixels [N,3,H,W] and the features Cambrian-1's
`MiDaSVisionTower` takes, `hidden_states[-1][:, 1:]` of the full model's forward (the last
block's output, class token dropped, no final norm) [N,T,C]. Both cases run at 40 px on a
model trained at 32 px, so the ViT position table and the BEiT relative position tables are
resized; `pixels_native` [1,3,32,32] (random) and `features_native` check the trained size.
Also `features_last`: the ViT case's `dpt.layernorm` output, for `--layer` absent.
Run from the repository root:

    python3 tools/reference/make_dpt_fixtures.py

CI never runs this; its outputs are committed.
"""

import importlib.util
from pathlib import Path

import torch
import transformers as tf

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("encoder_fixtures", HERE / "make_encoder_fixtures.py")
ef = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ef)

TINY = dict(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=4, num_attention_heads=4, intermediate_size=32)
# A small neck and head: unused by the encoder, present in the checkpoint as in the real one.
NECK = dict(neck_hidden_sizes=[4, 4, 4, 4], fusion_hidden_size=4)
HALF = [0.5, 0.5, 0.5]


def randomize(model, seed):
    """make_encoder_fixtures' randomize, plus BEiT's layer scale and relative position tables."""
    ef.randomize(model, seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lambda_" in name:
                p.copy_(0.5 + 0.2 * torch.randn(p.shape, generator=g))
            elif "relative_position_bias_table" in name:
                p.copy_(torch.randn(p.shape, generator=g))
    return model.eval()


def features_of(model):
    def features(px):
        states = model(pixel_values=px, output_hidden_states=True).hidden_states
        assert len(states) == TINY["num_hidden_layers"] + 1, "hidden_states: embeddings + one per block"
        return states[-1][:, 1:]

    return features


def native(model):
    """Random pixels at the trained resolution and their features."""
    pixels = torch.randn(1, 3, TINY["image_size"], TINY["image_size"], generator=torch.Generator().manual_seed(5))
    return {"pixels_native": pixels, "features_native": features_of(model)(pixels)}


def dpt_vit_case():
    config = tf.DPTConfig(backbone_out_indices=[0, 1, 2, 3], **TINY, **NECK)
    model = randomize(tf.DPTForDepthEstimation(config), 21)
    # Intel/dpt-large's processor: a square resize, bilinear, mean and std 0.5.
    proc = tf.DPTImageProcessorPil(size={"height": 40, "width": 40}, resample=2, image_mean=HALF, image_std=HALF)
    ef.hf_case(
        "hf-dpt", model, proc, features_of(model), (5, 5), "-1",
        extra_fn=lambda px: {"features_last": model.dpt(pixel_values=px).last_hidden_state[:, 1:], **native(model)},
    )


def dpt_beit_case():
    beit = tf.BeitConfig(
        **TINY, use_relative_position_bias=True, layer_scale_init_value=0.1, reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    model = randomize(tf.DPTForDepthEstimation(tf.DPTConfig(backbone_config=beit, **NECK)), 22)
    # As transformers' convert_dpt_beit_to_hf.py made Intel/dpt-beit-large-512's: bicubic.
    proc = tf.DPTImageProcessorPil(
        size={"height": 40, "width": 40}, ensure_multiple_of=8, resample=3, image_mean=HALF, image_std=HALF
    )
    ef.hf_case("hf-dpt-beit", model, proc, features_of(model), (5, 5), "-1", extra_fn=lambda px: native(model))


if __name__ == "__main__":
    torch.manual_seed(0)
    dpt_vit_case()
    dpt_beit_case()
