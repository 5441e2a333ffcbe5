"""Full-size check of the encoder presets (never run by CI).

For each preset: build its reference model at full size with random weights, as the reference
library builds it (open_clip `create_model`, `timm.create_model`, a transformers config class,
segment-anything's builder), save the checkpoint in that library's own layout (the file name
the preset names, MoCo v3's and I-JEPA's nested `.pth.tar` prefixes), run the reference on a
flat-colour square image (every preprocessing chain maps it to the same flat input, so the
comparison isolates the model), run the release binary

    cambrian encode --encoder PRESET --weights CHECKPOINT [--layer L] --out OUT IMAGE

and print the max abs difference divided by the output scale (max |reference|). Presets must
be within 1e-4. Run from the repository root after `cargo build --release`:

    python3 tools/reference/full_size_check.py [PRESET ...] [--work DIR]

Checkpoints of several GB are written under --work (default: a temporary folder) and deleted
after each preset.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / "target" / "release" / "cambrian"
COLOUR = (200, 120, 40)
TOLERANCE = 1e-4


def spec_of(name):
    return tomllib.loads((ROOT / "encoders" / f"{name}.toml").read_text())


def flat_pixels(spec):
    """The normalised flat input every preprocessing chain makes of the flat image."""
    pre = spec["preprocess"]
    side = pre["crop_size"]
    value = [(c / 255 - m) / s for c, m, s in zip(COLOUR, pre["mean"], pre["std"])]
    return torch.tensor(value, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, side, side).contiguous()


def resize_tokens(tokens, grid, spec):
    """Cambrian's `interp` for presets with `feature_tokens`: bilinear, align_corners=False."""
    wanted = spec.get("feature_tokens")
    if wanted is None:
        return tokens
    side = int(round(wanted ** 0.5))
    maps = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)
    return F.interpolate(maps, size=(side, side), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)


def save_state(state, path):
    state = {k: v.contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)


# --- builders: (spec, work dir) -> (weights path for --weights, reference features [1, T, C]) ---


OPEN_CLIP = {
    "siglip-so400m-14-384": "ViT-SO400M-14-SigLIP-384",
    "siglip-vit-l-16-384": "ViT-L-16-SigLIP-384",
    "eva02-clip-vit-l-14-336": "EVA02-L-14-336",
    "eva02-clip-vit-l-14-224": "EVA02-L-14",
    "dfn-clip-vit-l-14-224": "ViT-L-14-quickgelu",
    "dfn-clip-vit-h-14-378": "ViT-H-14-378-quickgelu",
}


def open_clip_tower(name, spec, work):
    """Cambrian's open_clip towers: the timm trunk's `forward_features` (SigLIP; EVA-02 without
    its class token) or open_clip's own ViT's tokens (DFN)."""
    import open_clip

    model = open_clip.create_model(OPEN_CLIP[name]).eval()
    path = work / spec["weights_file"]
    save_state(model.state_dict(), path)
    visual, pixels = model.visual, flat_pixels(spec)
    if hasattr(visual, "trunk"):
        tokens = visual.trunk.forward_features(pixels)
        tokens = tokens[:, visual.trunk.num_prefix_tokens :]
    else:
        visual.output_tokens = True
        _, tokens = visual(pixels)
    return path, tokens


TIMM = {
    "mae-vit-l-16": "vit_large_patch16_224.mae",
    "mae-vit-h-14": "vit_huge_patch14_224.mae",
    "supvit-l-16-in21k": "vit_large_patch16_224.orig_in21k",
    "supvit-h-14-in21k": "vit_huge_patch14_224.orig_in21k",
    "pe-core-vit-l-14-336": "vit_pe_core_large_patch14_336.fb",
    "dinov3-vit-l-16": "vit_large_patch16_dinov3.lvd1689m",
}


def timm_model(name, spec, work):
    import timm

    model = timm.create_model(TIMM[name], pretrained=False).eval()
    path = work / spec["weights_file"]
    save_state(model.state_dict(), path)
    tokens = model.forward_features(flat_pixels(spec))
    return path, tokens[:, model.num_prefix_tokens :]


def nested_timm(name, spec, work):
    """MoCo v3 and I-JEPA: a timm ViT (the repositories' ViTs share its names and forward) in
    the official `.pth.tar` nesting: `state_dict` + `module.base_encoder.`, `encoder` + `module.`."""
    import timm

    arch = spec["architecture"]
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=arch["image_size"], patch_size=arch["patch_size"], embed_dim=arch["hidden_size"],
        depth=arch["depth"], num_heads=arch["heads"], mlp_ratio=arch["mlp_size"] / arch["hidden_size"],
        class_token=arch.get("class_token", True), global_pool="token" if arch.get("class_token", True) else "",
        num_classes=0,
    ).eval()
    state = {spec["weights_prefix"] + k: v for k, v in model.state_dict().items()}
    path = work / "checkpoint.pth.tar"
    torch.save({spec["weights_key"]: state}, path)
    return path, model.forward_features(flat_pixels(spec))[:, model.num_prefix_tokens :]


def transformers_vit(name, spec, work):
    """transformers models from their config classes, saved with `save_pretrained`."""
    import transformers as tf

    a = spec["architecture"]
    sizes = dict(hidden_size=a["hidden_size"], num_hidden_layers=a["depth"], num_attention_heads=a["heads"],
                 image_size=a["image_size"], patch_size=a["patch_size"])
    layout = a["layout"]
    if layout == "hf-clip":
        model = tf.CLIPVisionModel(tf.CLIPVisionConfig(intermediate_size=a["mlp_size"], **sizes))
    elif layout == "hf-siglip":
        model = tf.SiglipVisionModel(tf.SiglipVisionConfig(intermediate_size=a["mlp_size"], **sizes))
    elif layout == "hf-dinov2":
        model = tf.Dinov2Model(tf.Dinov2Config(mlp_ratio=a["mlp_size"] // a["hidden_size"], **sizes))
    elif layout == "hf-dpt":
        model = tf.DPTForDepthEstimation(tf.DPTConfig(intermediate_size=a["mlp_size"], **sizes))
    else:
        raise ValueError(layout)
    model = model.eval()
    folder = work / "model"
    model.save_pretrained(folder, safe_serialization=spec["weights_file"].endswith(".safetensors"))
    states = model(pixel_values=flat_pixels(spec), output_hidden_states=True)
    layer = spec.get("feature_layer")
    prefix = 0 if layout == "hf-siglip" else 1
    if layer is not None:
        tokens = states.hidden_states[layer]
    else:
        tokens = states.last_hidden_state
    tokens = tokens[:, prefix:]
    side = spec["preprocess"]["crop_size"] // a["patch_size"]
    return folder, resize_tokens(tokens, (side, side), spec)


BUILDERS = {name: open_clip_tower for name in OPEN_CLIP}
BUILDERS |= {name: timm_model for name in TIMM}
BUILDERS |= {"moco-v3-vit-b-16": nested_timm, "moco-v3-vit-l-16": nested_timm, "ijepa-vit-h-14": nested_timm}
BUILDERS |= {name: transformers_vit for name in [
    "clip-vit-l-14-336", "dinov2-vit-l-14-336", "dinov2-vit-l-14-518", "dinov2-vit-g-14-378",
    "siglip2-so400m-14-384", "siglip2-vit-l-16-384", "midas-dpt-large-384",
]}
# Not built here yet (each needs its tower's own feature path written out): the ConvNeXt stage
# outputs (convnext-*), DPT's BEiT backbone (midas-beit-large-512), SAM's pre-neck map
# (sam-vit-*), Stable Diffusion's UNet up blocks (sd-2.1).


def ours(name, spec, weights, work):
    image = work / "flat.png"
    side = spec["preprocess"]["crop_size"]
    Image.new("RGB", (side, side), COLOUR).save(image)
    out = work / "features.safetensors"
    layer = ["--layer", str(spec["feature_layer"])] if "feature_layer" in spec else []
    cmd = [str(BINARY), "-q", "encode", "--encoder", name, "--weights", str(weights), *layer, "--out", str(out), str(image)]
    subprocess.run(cmd, check=True)
    with safe_open(out, "pt") as f:
        return f.get_tensor("features")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("presets", nargs="*", help="default: every preset with a builder")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    names = args.presets or sorted(BUILDERS)
    print(f"{'preset':<26} {'max |Δ| / scale':>16} {'scale':>9}")
    failed = False
    for name in names:
        if name not in BUILDERS:
            print(f"{name:<26} {'no builder':>16}")
            continue
        spec = spec_of(name)
        work = Path(tempfile.mkdtemp(dir=args.work, prefix=f"full-{name}-"))
        try:
            weights, reference = BUILDERS[name](name, spec, work)
            mine = ours(name, spec, weights, work)
            assert mine.shape == reference.shape, f"{name}: shape {tuple(mine.shape)} vs {tuple(reference.shape)}"
            scale = reference.abs().max().item()
            relative = (mine - reference).abs().max().item() / scale
            failed |= not relative <= TOLERANCE
            print(f"{name:<26} {relative:>16.2e} {scale:>9.3g}", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
