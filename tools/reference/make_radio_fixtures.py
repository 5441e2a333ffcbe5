"""Parity fixtures for RADIO (tests/radio_parity.rs): tiny random RADIO models built WITH
NVIDIA's own code (NVlabs/RADIO: `create_model_from_args`, `RADIOModel`, the hub's
`hf_model.RADIOModel` and `hubconf.radio_model`), saved in both release formats:

- radio-hf: the Hugging Face release (nvidia/C-RADIOv3-*): `hf_model.RADIOModel.save_pretrained`,
  i.e. `config.json` (RADIOConfig with its `args` dict) and `model.safetensors` (keys under
  `radio_model.`), with a FeatureNormalizer (`feature_normalizer_config`) and no final norm
  (`model_norm` false, as create_model_from_args replaces it by Identity).
- radio-pth: the torch.hub release (`*.pth.tar`): a pickle with `args` (an
  argparse.Namespace), `state_dict_ema` (keys under `base_model.`, `input_conditioner.`,
  `_feature_normalizer.` absent here) and a non-EMA `state_dict` of the same model under
  spectral reparametrization (`...parametrizations.weight.original`), as training checkpoints
  keep it; `model_norm` true, so the final norm is kept. The reference is
  `hubconf.radio_model(version=path)`, which prefers `state_dict_ema`.

Both: timm `vit_tiny_patch16_224` shrunk through `model_kwargs` (patch 8, depth 2, width 32,
2 heads), `cpe_max_size` 64 (an 8 × 8 position table, larger than every input, so CPE's resize is
exercised), two teachers with `cls_token_per_teacher` (2 class tokens) and
`register_multiple` 4 (2 registers). References (`reference.safetensors`): the test images
resized to 32 px (bicubic; radio-pth's padded to a square with CLIP's mean colour first, as
Cambrian-1's process_images and the presets do; radio-hf's squashed, as a folder without a
spec is read), in [0, 1], through the whole RADIOModel (its input conditioner included):
`pixels` (the conditioned input) and `features` (RadioOutput.features: the patch tokens
after the feature normalizer); and one image at a non-square 24 × 40 (`pixels_wide`,
`features_wide`: a 3 × 5 grid).

The reference code is imported, never copied: put a checkout of NVlabs/RADIO on PYTHONPATH.
Run from the repository root:

    PYTHONPATH=/path/to/RADIO python3 tools/reference/make_radio_fixtures.py

(needs torch, timm, transformers, einops). CI never runs this; its outputs are committed.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision.transforms.functional import to_tensor

import hubconf  # NVlabs/RADIO
from radio import hf_model
from radio.enable_spectral_reparam import configure_spectral_reparam_from_args
from radio.input_conditioner import get_default_conditioner
from radio.radio_model import create_model_from_args

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import CASES, CLIP_MEAN, PARITY_IMAGES, cambrian_square, fresh, open_images, randomize  # noqa: E402

SIDE = 32
WIDE = (24, 40)  # height, width
PAD = tuple(int(x * 255) for x in CLIP_MEAN)


def radio_args(model_norm):
    """The training arguments create_model_from_args reads (a real checkpoint has many more)."""
    return dict(
        model="vit_tiny_patch16_224", model_kwargs=dict(patch_size=8, depth=2, embed_dim=32, num_heads=2),
        in_chans=None, input_size=None, pretrained=False, num_classes=0, drop=0.0, drop_path=None,
        drop_block=None, gp=None, bn_momentum=None, bn_eps=None, torchscript=False, initial_checkpoint="",
        cpe_max_size=64, register_multiple=4, cpe_num_registers=None, cls_token_per_teacher=True,
        teachers=[{"name": "clip", "type": "open_clip"}, {"name": "dino_v2", "type": "dino_v2"}],
        model_norm=model_norm, spectral_reparam=False,
    )


def randomize_radio(module, seed):
    """`randomize`'s values for every weight; the input conditioner keeps CLIP's mean and std,
    as RADIO's get_default_conditioner sets them."""
    conditioner = {k: v.clone() for k, v in module.state_dict().items() if "input_conditioner" in k}
    randomize(module, seed)
    with torch.no_grad():
        for name, value in module.state_dict().items():
            if name in conditioner:
                value.copy_(conditioner[name])
    return module.eval()


def inputs(pad):
    """[0, 1] images: the test images at SIDE × SIDE (padded to a square first when `pad`, as
    Cambrian-1's process_images; squashed otherwise), and the first squashed to WIDE."""
    squared = [cambrian_square(im, PAD, SIDE) if pad else im.resize((SIDE, SIDE), Image.BICUBIC) for im in open_images()]
    square = torch.stack([to_tensor(im) for im in squared])
    wide = to_tensor(open_images()[0].resize(WIDE[::-1], Image.BICUBIC))[None]
    return square, wide


def reference(radio, case, pad):
    square, wide = inputs(pad)
    tensors = {}
    for suffix, x in (("", square), ("_wide", wide)):
        with torch.no_grad():
            out = radio(x)
            tensors["pixels" + suffix] = radio.input_conditioner(x).float().contiguous()
            tensors["features" + suffix] = out.features.float().contiguous()
    assert tensors["features"].shape[1] == (SIDE // 8) ** 2 and tensors["features_wide"].shape[1] == 3 * 5
    metadata = {"images": ",".join(PARITY_IMAGES), "grid": f"{SIDE // 8},{SIDE // 8}", "grid_wide": "3,5", "layer": "final"}
    save_file(tensors, str(case / "reference.safetensors"), metadata=metadata)


def hf_case():
    case = fresh("radio-hf")
    args = radio_args(model_norm=False)
    args["dtype"] = "float32"
    config = hf_model.RADIOConfig(
        args=args, version="c-radio_v3-b", patch_size=8, max_resolution=64, preferred_resolution=(SIDE, SIDE),
        feature_normalizer_config={"embed_dim": 32},
    )
    model = randomize_radio(hf_model.RADIOModel(config), 41)
    g = torch.Generator().manual_seed(42)
    with torch.no_grad():
        fn = model.radio_model.feature_normalizer
        fn.mean.copy_(0.5 * torch.randn(fn.mean.shape, generator=g))
        fn.tx.copy_(torch.eye(32) + 0.3 * torch.randn(32, 32, generator=g) / 32**0.5)
    radio = model.radio_model
    assert isinstance(radio.model.norm, torch.nn.Identity), "model_norm false: no final norm"
    assert radio.model.patch_generator.num_skip == 4 and radio.model.patch_generator.cpe_mode
    model.save_pretrained(case, safe_serialization=True)
    reference(radio, case, pad=False)
    return case


def pth_case():
    case = fresh("radio-pth")
    ns = argparse.Namespace(**radio_args(model_norm=True))
    model = randomize_radio(create_model_from_args(copy.deepcopy(ns)), 43)
    assert not isinstance(model.norm, torch.nn.Identity), "model_norm true keeps the final norm"
    conditioner = get_default_conditioner()
    ema = {f"base_model.{k}": v.clone() for k, v in model.state_dict().items()}
    ema.update({f"input_conditioner.{k}": v.clone() for k, v in conditioner.state_dict().items()})
    # The training state: the same model under spectral reparametrization, as non-EMA
    # checkpoints store it; hubconf takes the EMA one when there is one.
    spectral = copy.deepcopy(model)
    configure_spectral_reparam_from_args(spectral, argparse.Namespace(spectral_reparam=True))
    state = {f"base_model.{k}": v.clone() for k, v in spectral.state_dict().items()}
    assert any(".parametrizations." in k for k in state), "spectral keys present"
    state.update({f"input_conditioner.{k}": v.clone() for k, v in conditioner.state_dict().items()})
    path = case / "radio-tiny.pth.tar"
    torch.save({"args": ns, "state_dict": state, "state_dict_ema": ema, "epoch": 0}, path)
    radio = hubconf.radio_model(version=str(path)).eval()
    reference(radio, case, pad=True)
    (case / "spec.toml").write_text(PTH_SPEC)
    return case


# The sizes hubconf reads from `args` (the Namespace cannot be read without Python), written
# out as a spec, as the presets do.
PTH_SPEC = f"""name = "radio-pth"
title = "tiny RADIO (parity fixture, torch.hub .pth.tar)"
family = "language-supervised"
weights_file = "radio-tiny.pth.tar"

[architecture]
kind = "radio"
patch_size = 8
hidden_size = 32
depth = 2
heads = 2
mlp_size = 128
cpe_max_size = 64
cls_tokens = 2
registers = 2

[preprocess]
pad_to_square = true
resize = "squash"
resize_size = {SIDE}
crop_size = {SIDE}
interpolation = "bicubic"
mean = {json.dumps(CLIP_MEAN)}
std = {json.dumps([0.26862954, 0.26130258, 0.27577711])}
"""


def main():
    torch.set_grad_enabled(False)
    hf_case()
    pth_case()
    for name in ("radio-hf", "radio-pth"):
        size = sum(p.stat().st_size for p in (CASES / name).iterdir()) // 1024
        print(f"{name:<10} {size} KiB: {sorted(p.name for p in (CASES / name).iterdir())}")


if __name__ == "__main__":
    main()
