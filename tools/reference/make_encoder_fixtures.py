"""Parity fixtures for the ViT-family encoders (tests/encoder_parity.rs).

For each case: a tiny random-weight model in its real checkpoint format (a transformers
folder, timm safetensors, an open_clip pickle), and `reference.safetensors` holding the
reference preprocessing of the test images (`pixels` [N,3,H,W]) and the reference features
(`features` [N,T,C], the patch tokens at the encoder's default feature layer). Run from the
repository root:

    python3 tools/reference/make_encoder_fixtures.py

CI never runs this; its outputs are committed.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import open_clip
import timm
import torch
import transformers as tf
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms as T

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
IMAGES = FIXTURES / "images"
CASES = FIXTURES / "encoders"
PARITY_IMAGES = ["scene-61x47.png", "tall-38x70.png"]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
TINY = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, patch_size=8)
# The same sizes as timm's arguments, for a registered definition created by name.
TIMM_TINY = dict(patch_size=8, embed_dim=32, depth=3, num_heads=4, mlp_ratio=2)


def make_images():
    """Smooth gradients, a few filled shapes and mild noise: structure at every scale."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (w, h) in [("scene-61x47.png", (61, 47)), ("tall-38x70.png", (38, 70)), ("demo-96x72.jpg", (96, 72))]:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        img = np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin((x + y) / 5)], -1)
        for _ in range(4):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 12)
            img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        img[y0 : y0 + h // 4, x0 : x0 + w // 3] = rng.uniform(0, 255, 3)
        img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        if name.endswith(".jpg"):
            Image.fromarray(img).save(IMAGES / name, quality=90)
        else:
            Image.fromarray(img).save(IMAGES / name)


def open_images():
    return [Image.open(IMAGES / n).convert("RGB") for n in PARITY_IMAGES]


def randomize(model, seed):
    """Overwrite every parameter and buffer so that a wrong wiring shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if not p.is_floating_point():
                continue
            shape = p.shape
            rand = lambda: torch.randn(shape, generator=g)
            if any(k in name for k in ("lambda1", "ls1", "ls2", "ls_1", "ls_2", "layer_scale")):
                p.copy_(0.5 + 0.2 * rand())
            elif "norm" in name or "ln_" in name or "layrnorm" in name:
                p.copy_((1 + 0.1 * rand()) if name.endswith("weight") else 0.1 * rand())
            elif any(k in name for k in ("position", "pos_embed", "positional", "cls_token", "class_embedding", "register", "reg_token")):
                p.copy_(0.5 * rand())
            elif p.dim() >= 2:
                fan_in = int(np.prod(shape[1:]))
                p.copy_(rand() * min(0.2, 1.5 / np.sqrt(fan_in)))
            else:
                p.copy_(0.1 * rand())
    return model.eval()


def save_reference(case, pixels, features, grid, layer, extra=None):
    tensors = {"pixels": pixels.float().contiguous(), "features": features.float().contiguous()}
    tensors.update({k: v.float().contiguous() for k, v in (extra or {}).items()})
    metadata = {"images": ",".join(PARITY_IMAGES), "grid": f"{grid[0]},{grid[1]}", "layer": layer}
    save_file(tensors, str(case / "reference.safetensors"), metadata=metadata)


def fresh(name):
    case = CASES / name
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    return case


def hf_pixels(processor):
    assert type(processor).__name__.endswith("Pil"), "use the PIL-based processor"
    return processor(images=open_images(), return_tensors="pt")["pixel_values"]


def hf_case(name, model, processor, features_fn, grid, layer="final", extra_fn=None, **save_kw):
    case = fresh(name)
    model.save_pretrained(case, **save_kw)
    processor.save_pretrained(case)
    pixels = hf_pixels(processor)
    with torch.no_grad():
        features = features_fn(pixels)
        extra = extra_fn(pixels) if extra_fn else None
    save_reference(case, pixels, features, grid, layer, extra)
    return case


def clip_cases():
    config = tf.CLIPVisionConfig(image_size=32, intermediate_size=64, hidden_act="quick_gelu", **TINY)
    model = randomize(tf.CLIPVisionModel(config), 1)
    proc = tf.CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    states = lambda px: model(pixel_values=px, output_hidden_states=True)
    hf_case(
        "hf-clip-vision", model, proc, lambda px: states(px).hidden_states[-2][:, 1:], (4, 4), "-2",
        extra_fn=lambda px: {
            "features_last": states(px).last_hidden_state[:, 1:],
            "features_layer1": states(px).hidden_states[1][:, 1:],
        },
    )

    text = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    vision = dict(image_size=40, intermediate_size=64, hidden_act="quick_gelu", **TINY)
    full = randomize(tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)), 2)
    proc = tf.CLIPImageProcessorPil(size={"shortest_edge": 44}, crop_size={"height": 40, "width": 40})
    hf_case(
        "hf-clip-full", full, proc,
        lambda px: full.vision_model(pixel_values=px, output_hidden_states=True).hidden_states[-2][:, 1:],
        (5, 5), "-2",
    )


def siglip_cases():
    config = tf.SiglipVisionConfig(image_size=32, intermediate_size=64, hidden_act="gelu_pytorch_tanh", **TINY)
    model = randomize(tf.SiglipVisionModel(config), 3)
    proc = tf.SiglipImageProcessorPil(size={"height": 32, "width": 32})
    hf_case("hf-siglip", model, proc, lambda px: model(pixel_values=px).last_hidden_state, (4, 4))

    # The same weights rounded to bf16 on disk; the reference runs them in f32.
    half = fresh("hf-siglip-bf16")
    model.to(torch.bfloat16).save_pretrained(half)
    proc.save_pretrained(half)
    model = model.float()
    pixels = hf_pixels(proc)
    with torch.no_grad():
        features = model(pixel_values=pixels).last_hidden_state
    save_reference(half, pixels, features, (4, 4), "final")

    # A side that leaves a remainder after the last patch (as SO400M/14 at 384 px): 36 / 8.
    config = tf.SiglipVisionConfig(image_size=36, intermediate_size=64, hidden_act="gelu_pytorch_tanh", **TINY)
    model = randomize(tf.SiglipVisionModel(config), 16)
    proc = tf.SiglipImageProcessorPil(size={"height": 36, "width": 36})
    hf_case("hf-siglip-remainder", model, proc, lambda px: model(pixel_values=px).last_hidden_state, (4, 4))


def dinov2_cases():
    config = tf.Dinov2Config(image_size=56, mlp_ratio=2, layerscale_value=0.5, **TINY)
    model = randomize(tf.Dinov2Model(config), 4)
    proc = tf.BitImageProcessorPil(
        size={"shortest_edge": 48}, crop_size={"height": 40, "width": 40},
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, resample=3, do_convert_rgb=True,
    )
    # Grid 5x5 against the trained 7x7: the position table is resized. Saved in shards.
    case = hf_case(
        "hf-dinov2", model, proc, lambda px: model(pixel_values=px).last_hidden_state[:, 1:], (5, 5),
        max_shard_size="60KB",
    )
    assert (case / "model.safetensors.index.json").exists(), "expected a sharded checkpoint"

    # `intermediate_size` is saved (an extra keyword of the config) but Dinov2MLP sizes itself
    # from `mlp_ratio` alone: 32 × 2 = 64, not 40.
    config = tf.Dinov2Config(image_size=32, mlp_ratio=2, intermediate_size=40, **TINY)
    model = randomize(tf.Dinov2Model(config), 17)
    assert model.encoder.layer[0].mlp.fc1.out_features == 64
    proc = tf.BitImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, resample=3, do_convert_rgb=True,
    )
    case = hf_case(
        "hf-dinov2-intermediate-size", model, proc, lambda px: model(pixel_values=px).last_hidden_state[:, 1:], (4, 4)
    )
    assert json.loads((case / "config.json").read_text())["intermediate_size"] == 40

    config = tf.Dinov2WithRegistersConfig(
        image_size=56, mlp_ratio=2, num_register_tokens=2, use_swiglu_ffn=True, **TINY
    )
    model = randomize(tf.Dinov2WithRegistersModel(config), 5)
    proc = tf.BitImageProcessorPil(
        size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48},
        image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, resample=3, do_convert_rgb=True,
    )
    hf_case(
        "hf-dinov2-reg-swiglu", model, proc,
        lambda px: model(pixel_values=px).last_hidden_state[:, 1 + 2 :], (6, 6),
    )


def vit_cases():
    config = tf.ViTConfig(image_size=32, intermediate_size=64, **TINY)
    model = randomize(tf.ViTModel(config, add_pooling_layer=False), 6)
    proc = tf.ViTImageProcessorPil(size={"height": 32, "width": 32})
    hf_case("hf-vit", model, proc, lambda px: model(pixel_values=px).last_hidden_state[:, 1:], (4, 4))

    config = tf.ViTMAEConfig(image_size=32, intermediate_size=64, mask_ratio=0.0, **TINY)
    model = randomize(tf.ViTMAEModel(config), 7)

    def mae_features(px):
        # MAE shuffles tokens by `noise`; increasing noise keeps them in order.
        noise = torch.arange(16).float().expand(px.shape[0], -1)
        out = model(pixel_values=px, noise=noise)
        assert torch.equal(out.ids_restore, torch.arange(16).expand(px.shape[0], -1))
        return out.last_hidden_state[:, 1:]

    hf_case("hf-vit-mae", model, tf.ViTImageProcessorPil(size={"height": 32, "width": 32}), mae_features, (4, 4))


def expand2square(image, background):
    """Cambrian-1's pad to square (cambrian/mm_utils.py), centred on the short axis."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    result = Image.new(image.mode, (side, side), background)
    result.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return result


def write_spec(case, name, family, weights_file, arch, pre, top=None):
    lines = [
        f'name = "{name}"',
        f'title = "tiny {name} (parity fixture)"',
        f'family = "{family}"',
        f'weights_file = "{weights_file}"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in (top or {}).items()]
    lines += [
        "",
        "[architecture]",
        'kind = "vit"',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in arch.items()]
    lines += ["", "[preprocess]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in pre.items()]
    (case / "spec.toml").write_text("\n".join(lines) + "\n")


# The pad colour of Cambrian's torchvision / open_clip / timm towers: their ProcessorWrapper
# reports CLIP's mean as `image_mean` whatever the transform normalises with.
WRAPPER_PAD = tuple(int(x * 255) for x in CLIP_MEAN)


def cambrian_square(image, colour, crop):
    """Cambrian-1's process_images (cambrian/mm_utils.py): pad to a square, then resize it to
    the tower's crop size with PIL's default filter (bicubic), before the tower's transform."""
    return expand2square(image, colour).resize((crop, crop))


def transform_pixels(transform, square=None):
    """`square` = (pad colour, crop size) applies Cambrian's process_images first."""
    images = open_images()
    if square is not None:
        images = [cambrian_square(im, *square) for im in images]
    return torch.stack([transform(im) for im in images])


def resize_of(transform):
    """The (size, interpolation) of the torchvision Resize in a transform, asserting PIL."""
    from torchvision.transforms import InterpolationMode, Resize

    resize = next(t for t in transform.transforms if isinstance(t, Resize))
    assert resize.interpolation == InterpolationMode.BICUBIC
    return resize.size


def timm_case():
    case = fresh("timm-vit-cls")
    # The MAE preset's registered definition (`timm/vit_large_patch16_224.mae`), sizes shrunk.
    model = timm.create_model("vit_large_patch16_224.mae", pretrained=False, img_size=32, **TIMM_TINY)
    model.pretrained_cfg = dict(
        input_size=(3, 32, 32), crop_pct=0.9, interpolation="bicubic",
        mean=tuple(IMAGENET_MEAN), std=tuple(IMAGENET_STD), crop_mode="center",
    )
    model = randomize(model, 8)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(case / "model.safetensors"))
    cfg = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**cfg)
    assert resize_of(transform) == 35 and cfg["crop_pct"] == 0.9
    pixels = transform_pixels(transform, square=(WRAPPER_PAD, 32))
    with torch.no_grad():
        features = model.forward_features(pixels)[:, 1:]
    assert model.norm.eps == 1e-6
    write_spec(
        case, "timm-vit-cls", "self-supervised", "model.safetensors",
        dict(layout="timm", image_size=32, patch_size=8, hidden_size=32, depth=3, heads=4, mlp_size=64,
             act="gelu", class_token=True, registers=0, layer_scale=False, qkv_bias=True, pre_norm=False,
             norm_eps=1e-6),
        dict(pad_to_square=True, pad_colour=list(WRAPPER_PAD), resize="shortest-edge", resize_size=35,
             crop_size=32, interpolation="bicubic", crop_rounding="round", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    )
    save_reference(case, pixels, features, (4, 4), "final")


def open_clip_siglip_case():
    case = fresh("open-clip-siglip-trunk")
    # As open_clip's TimmModel builds `ViT-SO400M-14-SigLIP-384` (timm_pool "map", timm_proj
    # "none": the trunk's own head of width embed_dim), sizes shrunk: erf GELU, as the
    # registered definition has no `act_layer`.
    trunk = timm.create_model("vit_so400m_patch14_siglip_384", pretrained=False, img_size=32, num_classes=16, **TIMM_TINY)
    assert isinstance(trunk.blocks[0].mlp.act, torch.nn.GELU) and trunk.blocks[0].mlp.act.approximate == "none"
    trunk = randomize(trunk, 9)
    state = {f"visual.trunk.{k}": v for k, v in trunk.state_dict().items()}
    g = torch.Generator().manual_seed(90)
    state["text.token_embedding.weight"] = torch.randn(99, 32, generator=g)
    state["text.positional_embedding"] = torch.randn(16, 32, generator=g)
    state["logit_scale"] = torch.tensor(2.3)
    torch.save(state, case / "open_clip_pytorch_model.bin")
    transform = open_clip.image_transform(
        32, is_train=False, mean=(0.5,) * 3, std=(0.5,) * 3, resize_mode="squash", interpolation="bicubic"
    )
    assert list(resize_of(transform)) == [32, 32]
    pixels = transform_pixels(transform, square=(WRAPPER_PAD, 32))
    with torch.no_grad():
        features = trunk.forward_features(pixels)
    write_spec(
        case, "open-clip-siglip-trunk", "language-supervised", "open_clip_pytorch_model.bin",
        dict(layout="timm", image_size=32, patch_size=8, hidden_size=32, depth=3, heads=4, mlp_size=64,
             act="gelu", class_token=False, registers=0, layer_scale=False, qkv_bias=True, pre_norm=False,
             norm_eps=trunk.norm.eps),
        dict(pad_to_square=True, pad_colour=list(WRAPPER_PAD), resize="squash", resize_size=32, crop_size=32,
             interpolation="bicubic", crop_rounding="round", mean=[0.5] * 3, std=[0.5] * 3),
    )
    save_reference(case, pixels, features, (4, 4), "final")


def open_clip_native_case():
    case = fresh("open-clip-native")
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    # As open_clip builds DFN's `ViT-H-14-378-quickgelu` tower, sizes shrunk.
    tiny = CLIPVisionCfg(image_size=32, layers=3, width=32, head_width=8, patch_size=8, mlp_ratio=2, output_tokens=True)
    visual = _build_vision_tower(16, tiny, quick_gelu=True)
    visual = randomize(visual, 10)
    torch.save({f"visual.{k}": v for k, v in visual.state_dict().items()}, case / "open_clip_pytorch_model.bin")
    transform = open_clip.image_transform(32, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)
    assert resize_of(transform) == 32
    pixels = transform_pixels(transform)
    with torch.no_grad():
        _, tokens = visual(pixels)
    write_spec(
        case, "open-clip-native", "language-supervised", "open_clip_pytorch_model.bin",
        dict(layout="open-clip", image_size=32, patch_size=8, hidden_size=32, depth=3, heads=4, mlp_size=64,
             act="quick-gelu", class_token=True, registers=0, layer_scale=False, qkv_bias=True, pre_norm=True,
             norm_eps=visual.ln_post.eps),
        dict(pad_to_square=False, resize="shortest-edge", resize_size=32, crop_size=32, interpolation="bicubic",
             crop_rounding="round", mean=CLIP_MEAN, std=CLIP_STD),
    )
    save_reference(case, pixels, tokens, (4, 4), "final")


def imagenet_wrapper_transform(crop, resize):
    """The torchvision transform of Cambrian's MoCo v3 and I-JEPA towers: Resize(256),
    CenterCrop(224), ImageNet normalisation (here scaled down to `resize` → `crop`)."""
    return T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def tiny_timm_vit(seed, class_token):
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=4, mlp_ratio=2,
        class_token=class_token, global_pool="token" if class_token else "", num_classes=0,
    )
    return randomize(model, seed)


def moco_case():
    """MoCo v3's VisionTransformerMoCo is a timm VisionTransformer with a fixed sin-cos table
    (a parameter, so it is in the checkpoint); the official .pth.tar nests the state dict under
    `state_dict` with `module.base_encoder.`, beside the momentum encoder and the predictor."""
    case = fresh("moco-v3-pth-tar")
    base, momentum = tiny_timm_vit(11, True), tiny_timm_vit(12, True)
    state = {f"module.base_encoder.{k}": v for k, v in base.state_dict().items()}
    state |= {f"module.momentum_encoder.{k}": v for k, v in momentum.state_dict().items()}
    g = torch.Generator().manual_seed(13)
    for prefix in ("module.base_encoder.head", "module.momentum_encoder.head", "module.predictor"):
        state[f"{prefix}.0.weight"] = torch.randn(16, 32, generator=g)
    torch.save({"epoch": 300, "arch": "vit_base", "state_dict": state, "optimizer": {"state": {}}}, case / "vit-tiny.pth.tar")
    transform = imagenet_wrapper_transform(32, 37)
    pixels = transform_pixels(transform, square=(WRAPPER_PAD, 32))
    with torch.no_grad():
        features = base.forward_features(pixels)[:, 1:]
    write_spec(
        case, "moco-v3-pth-tar", "self-supervised", "vit-tiny.pth.tar",
        dict(layout="timm", image_size=32, patch_size=8, hidden_size=32, depth=3, heads=4, mlp_size=64,
             act="gelu", class_token=True, norm_eps=base.norm.eps),
        dict(pad_to_square=True, pad_colour=list(WRAPPER_PAD), resize="shortest-edge", resize_size=37,
             crop_size=32, interpolation="bilinear", crop_rounding="round", mean=IMAGENET_MEAN, std=IMAGENET_STD),
        top=dict(weights_key="state_dict", weights_prefix="module.base_encoder."),
    )
    save_reference(case, pixels, features, (4, 4), "final")


def ijepa_case():
    """I-JEPA's VisionTransformer (ijepa/src/models/vision_transformer.py, copied into
    Cambrian) has timm's parameter names and forward without a class token: patch embedding,
    a fixed sin-cos table over the patches, pre-norm blocks, final norm. The .pth.tar holds
    it under `encoder` with DistributedDataParallel's `module.` prefix."""
    case = fresh("ijepa-pth-tar")
    encoder = tiny_timm_vit(14, False)
    assert [k for k in encoder.state_dict() if "cls" in k or "head" in k] == []
    state = {f"module.{k}": v for k, v in encoder.state_dict().items()}
    g = torch.Generator().manual_seed(15)
    torch.save(
        {"encoder": state, "predictor": {"module.predictor_embed.weight": torch.randn(16, 32, generator=g)}, "epoch": 900},
        case / "vit-tiny.pth.tar",
    )
    transform = imagenet_wrapper_transform(32, 37)
    pixels = transform_pixels(transform, square=(WRAPPER_PAD, 32))
    with torch.no_grad():
        features = encoder.forward_features(pixels)
    write_spec(
        case, "ijepa-pth-tar", "self-supervised", "vit-tiny.pth.tar",
        dict(layout="timm", image_size=32, patch_size=8, hidden_size=32, depth=3, heads=4, mlp_size=64,
             act="gelu", class_token=False, norm_eps=encoder.norm.eps),
        dict(pad_to_square=True, pad_colour=list(WRAPPER_PAD), resize="shortest-edge", resize_size=37,
             crop_size=32, interpolation="bilinear", crop_rounding="round", mean=IMAGENET_MEAN, std=IMAGENET_STD),
        top=dict(weights_key="encoder", weights_prefix="module."),
    )
    save_reference(case, pixels, features, (4, 4), "final")


CASE_GROUPS = {
    "clip": clip_cases, "siglip": siglip_cases, "dinov2": dinov2_cases, "vit": vit_cases, "timm": timm_case,
    "open-clip-siglip": open_clip_siglip_case, "open-clip-native": open_clip_native_case, "moco": moco_case,
    "ijepa": ijepa_case,
}


def main():
    """All cases, or only those named on the command line (`timm open-clip-siglip`)."""
    import sys

    torch.set_grad_enabled(False)
    make_images()
    for name, make in CASE_GROUPS.items():
        if len(sys.argv) == 1 or name in sys.argv[1:]:
            make()
    print(f"{'case':<24} {'pixels':<18} {'features':<14} KiB")
    for case in sorted(CASES.iterdir()):
        with torch.no_grad():
            from safetensors import safe_open

            with safe_open(case / "reference.safetensors", "pt") as f:
                px, ft = f.get_slice("pixels").get_shape(), f.get_slice("features").get_shape()
        size = sum(p.stat().st_size for p in case.iterdir()) // 1024
        print(f"{case.name:<24} {str(px):<18} {str(ft):<14} {size}")


if __name__ == "__main__":
    main()
