"""Parity fixtures for the OpenCLIP ConvNeXt encoders (tests/convnext_parity.rs).

Each case is a tiny random-weight open_clip CLIP model whose image tower is a timm ConvNeXt
trunk (`visual.trunk.*`, as in laion/CLIP-convnext_large_d_320 and convnext_xxlarge), saved
whole (text tower and heads included) in open_clip's on-disk formats, and
`reference.safetensors` with the pixels Cambrian-1's ConvNeXt tower feeds it and the features
it returns (cambrian/model/multimodal_encoder/clip_convnext_encoder.py: stem, the four stages,
the last or every stage resized bilinearly to the `interp` grid, concatenated on channels,
tokens row-major). Run from the repository root:

    python3 tools/reference/make_convnext_fixtures.py

CI never runs this; its outputs are committed.
"""

import json
import shutil
import tomllib
from pathlib import Path

import open_clip
import timm
import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from PIL import Image
from safetensors.torch import save_file
from timm.models import register_model
from timm.models.convnext import ConvNeXt

from make_encoder_fixtures import CLIP_MEAN, CLIP_STD, expand2square, open_images, randomize, resize_of

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
CASES = FIXTURES / "encoders"
PARITY_IMAGES = ["scene-61x47.png", "tall-38x70.png"]
DEPTHS, DIMS = (1, 1, 2, 1), (8, 12, 16, 20)


def tiny_convnext(**kwargs):
    """A timm ConvNeXt as `timm.create_model` would return it, from the factory's kwargs."""
    factory_only = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")
    model = ConvNeXt(depths=DEPTHS, dims=DIMS, **{k: v for k, v in kwargs.items() if k not in factory_only})
    model.pretrained_cfg = model.default_cfg = {}
    return model


@register_model
def convnext_cambrian_tiny(pretrained=False, **kwargs):
    """convnext_large's structure (timm defaults: LayerNorm eps 1e-6) at a tiny size."""
    return tiny_convnext(**kwargs)


@register_model
def convnext_cambrian_tiny_eps5(pretrained=False, **kwargs):
    """convnext_xxlarge's structure (every norm at eps 1e-5) at a tiny size."""
    return tiny_convnext(norm_eps=1e-5, **kwargs)


def tiny_clip(timm_name, proj, image_size, seed):
    vision = dict(timm_model_name=timm_name, timm_model_pretrained=False, timm_pool="", timm_proj=proj,
                  timm_drop=0.0, image_size=image_size)
    text = dict(context_length=4, vocab_size=32, width=8, heads=2, layers=1)
    model = randomize(CLIP(embed_dim=16, vision_cfg=vision, text_cfg=text), seed)
    # `randomize` knows norms and layer scales by name; the trunk's LayerNorm2d (`stem.1`,
    # `downsample.0`) and `gamma` are named otherwise: give them the same kind of values.
    g = torch.Generator().manual_seed(seed + 100)
    for name, p in model.visual.trunk.named_parameters():
        rand = torch.randn(p.shape, generator=g)
        if name.endswith("gamma"):
            p.copy_(0.5 + 0.2 * rand)
        elif name.startswith("stem.1") or ".downsample.0." in name:
            p.copy_((1 + 0.1 * rand) if name.endswith("weight") else 0.1 * rand)
    return model


def cambrian_pixels(resolution, trained_size):
    """open_clip's eval transform with Cambrian's overrides (Resize and CenterCrop set to the
    tower's resolution), after Cambrian's pad to square with the CLIP mean colour."""
    transform = open_clip.image_transform(trained_size, is_train=False, mean=CLIP_MEAN, std=CLIP_STD,
                                          resize_mode="shortest", interpolation="bicubic")
    transform.transforms[0].size = resolution
    transform.transforms[1].size = (resolution, resolution)
    assert resize_of(transform) == resolution
    pad = tuple(int(x * 255) for x in CLIP_MEAN)
    return torch.stack([transform(expand2square(im, pad)) for im in open_images()])


def cambrian_features(trunk, pixels, multi_stage, grid):
    """What CLIPConvNextTower._forward returns (with `interp` = grid², or None)."""
    x = trunk.stem(pixels)
    stages = []
    for stage in trunk.stages:
        x = stage(x)
        stages.append(x)
    if not multi_stage:
        stages = stages[-1:]
    out = []
    for s in stages:
        if grid is not None:
            s = F.interpolate(s.float(), size=(grid, grid), mode="bilinear", align_corners=False)
        out.append(s.flatten(2, 3).permute(0, 2, 1))
    return torch.cat(out, -1)


def write_spec(case, name, weights_file, arch, resolution):
    lines = [
        f'name = "{name}"',
        f'title = "tiny {name} (parity fixture)"',
        'family = "language-supervised"',
        f'weights_file = "{weights_file}"',
        "",
        "[architecture]",
        'kind = "convnext"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in arch.items()]
    pre = dict(pad_to_square=True, resize="shortest-edge", resize_size=resolution, crop_size=resolution,
               interpolation="bicubic", crop_rounding="round", mean=CLIP_MEAN, std=CLIP_STD)
    lines += ["", "[preprocess]"] + [f"{k} = {json.dumps(v)}" for k, v in pre.items()]
    (case / "spec.toml").write_text("\n".join(lines) + "\n")


def save_reference(case, pixels, features, grid, extra=None):
    tensors = {"pixels": pixels, "features": features, **(extra or {})}
    tensors = {k: v.float().contiguous() for k, v in tensors.items()}
    metadata = {"images": ",".join(PARITY_IMAGES), "grid": f"{grid},{grid}", "layer": "final"}
    save_file(tensors, str(case / "reference.safetensors"), metadata=metadata)


def fresh(name):
    case = CASES / name
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    return case


def last_stage_case():
    """convnext_large_d_320-like (MLP projection head), pickle, the last stage at its own grid:
    64 px → stages 16, 8, 4, 2."""
    case = fresh("open-clip-convnext-last")
    model = tiny_clip("convnext_cambrian_tiny", "mlp", 80, 20)
    trunk = model.visual.trunk
    assert trunk.stem[1].eps == 1e-6 and trunk.stages[0].blocks[0].norm.eps == 1e-6
    torch.save(model.state_dict(), case / "open_clip_pytorch_model.bin")
    pixels = cambrian_pixels(64, 80)
    features = cambrian_features(trunk, pixels, multi_stage=False, grid=None)
    assert features.shape == (2, 4, DIMS[-1])
    arch = dict(depths=list(DEPTHS), dims=list(DIMS), norm_eps=1e-6, stages="last")
    write_spec(case, "open-clip-convnext-last", "open_clip_pytorch_model.bin", arch, 64)
    save_reference(case, pixels, features, 2)


def multi_stage_case():
    """convnext_xxlarge-like (eps 1e-5, linear projection head), safetensors, every stage
    resized to 6×6 (64 px → stages 16, 8, 4, 2: two shrink, two grow); also the last stage
    alone at 6×6 (`features_last`), the presets' setting."""
    case = fresh("open-clip-convnext-multi-stage")
    model = tiny_clip("convnext_cambrian_tiny_eps5", "linear", 64, 21)
    trunk = model.visual.trunk
    assert trunk.stem[1].eps == 1e-5 and trunk.stages[3].blocks[0].norm.eps == 1e-5
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "open_clip_model.safetensors"))
    pixels = cambrian_pixels(64, 64)
    features = cambrian_features(trunk, pixels, multi_stage=True, grid=6)
    assert features.shape == (2, 36, sum(DIMS))
    last = cambrian_features(trunk, pixels, multi_stage=False, grid=6)
    arch = dict(depths=list(DEPTHS), dims=list(DIMS), norm_eps=1e-5, stages="all", output_grid=6)
    write_spec(case, "open-clip-convnext-multi-stage", "open_clip_model.safetensors", arch, 64)
    save_reference(case, pixels, features, 6, extra={"features_last": last})


def check_presets():
    """The presets' sizes against the trunks open_clip builds for the LAION checkpoints (on the
    meta device: shapes only), and the structure the Rust model assumes."""
    for config, presets in [("convnext_large_d_320", ["convnext-l-512", "convnext-l-1024"]),
                            ("convnext_xxlarge", ["convnext-xxl-1024", "convnext-xxl-1024-multi-stage"])]:
        trunk = open_clip.create_model(config, device="meta").visual.trunk
        assert trunk.stem[0].kernel_size == (4, 4) and trunk.stem[0].stride == (4, 4)
        assert isinstance(trunk.norm_pre, torch.nn.Identity)
        blocks = [b for stage in trunk.stages for b in stage.blocks]
        assert all(not b.use_conv_mlp and b.gamma is not None and b.conv_dw.kernel_size == (7, 7) for b in blocks)
        x = torch.linspace(-4, 4, 101)
        assert all(torch.equal(b.mlp.act(x), F.gelu(x)) for b in blocks), "erf GELU"
        assert all(stage.downsample[1].kernel_size == (2, 2) for stage in trunk.stages[1:])
        eps = {m.eps for m in trunk.modules() if hasattr(m, "eps")}
        depths = [len(stage.blocks) for stage in trunk.stages]
        dims = [stage.blocks[0].conv_dw.in_channels for stage in trunk.stages]
        for name in presets:
            arch = tomllib.loads((ROOT / "encoders" / f"{name}.toml").read_text())["architecture"]
            assert (arch["depths"], arch["dims"], {arch["norm_eps"]}) == (depths, dims, eps), name


def main():
    torch.set_grad_enabled(False)
    assert timm.__version__ and open_clip.__version__
    check_presets()
    last_stage_case()
    multi_stage_case()
    for path in sorted(CASES.glob("open-clip-convnext-*")) + [FIXTURES / "nn"]:
        size = sum(p.stat().st_size for p in path.iterdir()) // 1024
        print(f"{path.name:<32} {size} KiB")


if __name__ == "__main__":
    main()
