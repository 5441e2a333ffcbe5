"""Parity fixtures for cambrian's connectors (tests/connector_parity.rs).

LLaVA's mm_projector (llava/model/multimodal_projector/builder.py): `linear` = nn.Linear,
`mlp2x_gelu` = nn.Sequential(Linear, GELU, Linear), saved as LLaVA's stage-1 output
`mm_projector.bin` (keys `model.mm_projector.*`). Two encoders' maps (4×4×12 and 6×6×8) are
brought to 4×4 with F.interpolate(bilinear, align_corners=False), concatenated on channels
and projected to 16.

The token-reducing connectors, each built by its own repository's code (imported from the
clone given as an argument) at tiny sizes, with its weights perturbed off their initial
values (norms included), saved as that project's checkpoints are, with an input map and
the module's output (`reference.safetensors` in each folder):

- `c-abstractor/`: Honeybee's `CAbstractor` (kakaobrain/honeybee), a 6×6×12 map to 4×4 queries
  (overlapping adaptive-pooling windows), depth 2, width 16, LLM width 24; `pytorch_model.bin`
  with `abstractor.*` keys, as HoneybeeForConditionalGeneration saves it.
- `pixel-shuffle/`: InternVL's `InternVLChatModel` (OpenGVLab/InternVL, `internvl_chat`) with
  a tiny InternViT and Qwen2 (vocabulary 64), saved whole as its `model.safetensors`;
  `pixel_shuffle` + `mlp1` on a 6×6×8 map (ratio 0.5), with `ps_version` v2 and v1.
- `perceiver/`: OpenFlamingo's `PerceiverResampler` (mlfoundations/open_flamingo), width 12,
  depth 2, 3 heads of 4, 5 latents, ×2 feed-forward; `checkpoint.pt` with `perceiver.*` keys.
- `ldp/`, `ldp-v2/`: MobileVLM's `LDPNetProjector` and `LDPNetV2Projector`
  (Meituan-AutoML/MobileVLM), 12 channels in, LLM width 16, on a 5×5 map (odd, for the
  stride-2 block) and a 6×6 one; `mm_projector.bin` with `model.mm_projector.*` keys.

InternVL's and Honeybee's code need transformers 4.x (InternVL pins 4.37.2); the rest runs
with it too. With the reference environment of tools/reference/README.md:

    pip install --target DEPS "transformers==4.37.2" "tokenizers==0.15.2" \
        "huggingface_hub==0.25.2" "peft==0.10.0" --no-deps
    pip install --target DEPS einops einops-exts pandas accelerate --no-deps
    PYTHONPATH=DEPS python3 tools/reference/make_connector_fixtures.py \
        --honeybee honeybee --internvl InternVL --open-flamingo open_flamingo --mobilevlm MobileVLM
"""

import argparse
import importlib
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "connectors"


def to_grid(tokens, rows, cols, new_rows, new_cols):
    b, _, c = tokens.shape
    maps = tokens.view(b, rows, cols, c).permute(0, 3, 1, 2)
    maps = F.interpolate(maps, size=(new_rows, new_cols), mode="bilinear", align_corners=False)
    return maps.permute(0, 2, 3, 1).flatten(1, 2)


def save_state(module, name, prefix, file):
    """`module`'s state dict under `prefix`, as its project's checkpoint `file` holds it, in
    OUT / name (returned)."""
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({f"{prefix}{k}": v for k, v in module.state_dict().items()}, folder / file)
    return folder


def save_projector(module, name):
    return save_state(module, name, "model.mm_projector.", "mm_projector.bin")


def llava_projectors():
    torch.manual_seed(0)
    a, b = torch.randn(2, 16, 12), torch.randn(2, 36, 8)
    concat = torch.cat([a, to_grid(b, 6, 6, 4, 4)], dim=2)
    mlp = nn.Sequential(nn.Linear(20, 16), nn.GELU(), nn.Linear(16, 16))
    linear = nn.Linear(20, 16)
    save_projector(mlp, "mlp2x_gelu")
    save_projector(linear, "linear")
    with torch.no_grad():
        tensors = {"a": a, "b": b, "mlp2x_gelu": mlp(concat), "linear": linear(concat)}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "reference.safetensors"))


def perturb(module, scale=0.2):
    """Moves every parameter off its initial value (norms' ones and zeros included)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * scale)


def package(name, folder):
    """An importable package at `folder` whose __init__ is not run (it imports the whole
    model zoo, with dependencies the connector does not need)."""
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    sys.modules[name] = module


def save_reference(folder, tensors):
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(folder / "reference.safetensors"))


def c_abstractor(repo):
    sys.path.insert(0, str(repo))
    package("honeybee", repo / "honeybee")
    package("honeybee.projectors", repo / "honeybee" / "projectors")
    from honeybee.configuration_honeybee import HoneybeeVisualProjectorConfig
    from honeybee.projectors.projectors import CAbstractor

    torch.manual_seed(1)
    settings = {"projector_type": "c-abs", "depth": 2, "mlp_depth": 2, "hidden_size": 16,
                "num_eos_tokens": 0, "pos_emb": True, "prenorm": False, "num_query_tokens": 16}
    config = HoneybeeVisualProjectorConfig.from_exp_config(settings, vision_hidden_size=12, lm_hidden_size=24)
    abstractor = CAbstractor(config, num_input_tokens=36).eval()
    perturb(abstractor)
    folder = save_state(abstractor, "c-abstractor", "abstractor.", "pytorch_model.bin")
    x = torch.randn(2, 36, 12)
    with torch.no_grad():
        # its forward adds the position embedding in place
        out = abstractor(x.clone()).last_hidden_state
    save_reference(folder, {"input": x, "output": out})


def pixel_shuffle(repo):
    sys.path.insert(0, str(repo / "internvl_chat"))
    from internvl.model.internvl_chat import InternVLChatConfig, InternVLChatModel

    torch.manual_seed(2)
    vision = {"architectures": ["InternVisionModel"], "hidden_size": 8, "num_attention_heads": 2,
              "intermediate_size": 16, "num_hidden_layers": 1, "image_size": 24, "patch_size": 4}
    llm = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 16, "intermediate_size": 32,
           "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 64}

    def build(ps_version):
        config = InternVLChatConfig(vision_config=vision, llm_config=llm, downsample_ratio=0.5,
                                    ps_version=ps_version, template="internvl2_5")
        return InternVLChatModel(config, use_flash_attn=False).eval()

    model = build("v2")
    perturb(model.mlp1)
    folder = OUT / "pixel-shuffle"
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    v1 = build("v1")
    v1.load_state_dict(model.state_dict())
    # what extract_feature does after the ViT (and the class token's removal)
    x = torch.randn(2, 36, 8)
    outputs = {}
    with torch.no_grad():
        for name, m in [("output", model), ("output_v1", v1)]:
            y = m.pixel_shuffle(x.reshape(2, 6, 6, -1), scale_factor=m.downsample_ratio)
            outputs[name] = m.mlp1(y.reshape(y.shape[0], -1, y.shape[-1]))
    save_reference(folder, {"input": x, **outputs})


def perceiver(repo):
    sys.path.insert(0, str(repo))
    helpers = importlib.import_module("open_flamingo.src.helpers")

    torch.manual_seed(3)
    resampler = helpers.PerceiverResampler(dim=12, depth=2, dim_head=4, heads=3, num_latents=5, ff_mult=2).eval()
    perturb(resampler)
    folder = save_state(resampler, "perceiver", "perceiver.", "checkpoint.pt")
    x = torch.randn(2, 36, 12)
    with torch.no_grad():
        # vision_x as Flamingo hands it on: (b, T images, F frames, v tokens, d)
        out = resampler(x[:, None, None])[:, 0]
    save_reference(folder, {"input": x, "output": out})


def ldp(repo):
    sys.path.insert(0, str(repo))
    projectors = importlib.import_module("mobilevlm.model.vision_projector")
    config = types.SimpleNamespace(mm_hidden_size=12, hidden_size=16)
    for name, cls, side, seed in [("ldp", projectors.LDPNetProjector, 5, 4),
                                  ("ldp-v2", projectors.LDPNetV2Projector, 6, 5)]:
        torch.manual_seed(seed)
        projector = cls(config).eval()
        perturb(projector)
        folder = save_projector(projector, name)
        x = torch.randn(2, side * side, 12)
        with torch.no_grad():
            out = projector(x)
        save_reference(folder, {"input": x, "output": out})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honeybee", type=Path, required=True, help="a clone of kakaobrain/honeybee")
    parser.add_argument("--internvl", type=Path, required=True, help="a clone of OpenGVLab/InternVL")
    parser.add_argument("--open-flamingo", type=Path, required=True, help="a clone of mlfoundations/open_flamingo")
    parser.add_argument("--mobilevlm", type=Path, required=True, help="a clone of Meituan-AutoML/MobileVLM")
    args = parser.parse_args()
    llava_projectors()
    c_abstractor(args.honeybee.resolve())
    pixel_shuffle(args.internvl.resolve())
    perceiver(args.open_flamingo.resolve())
    ldp(args.mobilevlm.resolve())


if __name__ == "__main__":
    main()
