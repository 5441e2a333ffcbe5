"""The PyTorch side of `cambrian bench encoders`: builds the reference implementation of one
encoder spec (encoders/<name>.toml) with random weights, times its forward pass at the
spec's resolution, and prints one JSON line: images_per_sec, peak_rss_mib, model, device and,
on a GPU, peak_device_mib (torch.cuda.max_memory_reserved) and peak_allocated_mib
(torch.cuda.max_memory_allocated).

    python3 tools/bench/encoders.py --spec encoders/clip-vit-l-14-336.toml --iters 3
    python3 tools/bench/encoders.py --spec encoders/clip-vit-l-14-336.toml --device cuda

Eager mode, f32 (on CUDA with TF32 off, as our f32 is), transformers' SDPA attention; timm's
ViT calls SDPA itself. Each pass draws its input on the device and copies the output back to
the host, as `cambrian bench encoder-once` does.

Needs torch, transformers and timm; the SAM presets also segment-anything, Stable Diffusion
diffusers, the `open-clip` ViT layout open_clip (`pip install torch transformers timm
segment-anything diffusers open_clip_torch`). cambrian runs it when present; it is never
needed otherwise.
"""

import argparse
import json
import math
import resource
import sys
import time
import tomllib

import torch

# transformers' fused attention (scaled_dot_product_attention), where the model has it.
SDPA = {"attn_implementation": "sdpa"}


def vit_reference(arch, feature_layer):
    """The reference class of each ViT layout, sized as the spec says; returns (model, forward)."""
    layout, hidden, depth, heads, mlp = (arch[k] for k in ("layout", "hidden_size", "depth", "heads", "mlp_size"))
    size, patch = arch["image_size"], arch["patch_size"]
    act = arch.get("act")
    if layout.startswith("hf-"):
        import transformers as tf

        common = dict(hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=heads, image_size=size, patch_size=patch)
        if layout == "hf-clip":
            model = tf.CLIPVisionModel(tf.CLIPVisionConfig(intermediate_size=mlp, hidden_act="quick_gelu", **common, **SDPA))
        elif layout == "hf-siglip":
            model = tf.SiglipVisionModel(tf.SiglipVisionConfig(intermediate_size=mlp, **common, **SDPA))
        elif layout == "hf-dinov2":
            swiglu = act == "swiglu"
            # Dinov2's SwiGLU width is (int(hidden * ratio * 2 / 3) + 7) // 8 * 8 per half: the
            # integer ratio that gives the spec's width (Web-DINO 5B and 7B round it up).
            width = (lambda r: (int(hidden * r * 2 / 3) + 7) // 8 * 8) if swiglu else (lambda r: hidden * r)
            ratio = next((r for r in range(1, 17) if width(r) == mlp), None)
            if ratio is None:
                raise SystemExit(f"no integer mlp_ratio gives an MLP width of {mlp} at hidden size {hidden}")
            model = tf.Dinov2Model(tf.Dinov2Config(mlp_ratio=ratio, use_swiglu_ffn=swiglu, **common, **SDPA))
        elif layout in ("hf-vit", "hf-vit-mae"):
            model = tf.ViTModel(tf.ViTConfig(intermediate_size=mlp, **common, **SDPA), add_pooling_layer=False)
        elif layout == "hf-dpt":
            model = tf.DPTModel(tf.DPTConfig(intermediate_size=mlp, **common, **SDPA), add_pooling_layer=False)
        else:
            raise SystemExit(f"no reference for layout {layout}")
        if feature_layer is None:
            return model, lambda px: model(pixel_values=px).last_hidden_state
        return model, lambda px: model(pixel_values=px, output_hidden_states=True).hidden_states[feature_layer]
    if layout == "timm":
        import timm

        class_token = arch.get("class_token", True)
        model = timm.models.vision_transformer.VisionTransformer(
            img_size=size, patch_size=patch, embed_dim=hidden, depth=depth, num_heads=heads,
            mlp_ratio=(mlp + 0.5) / hidden, class_token=class_token, global_pool="token" if class_token else "",
            num_classes=0, reg_tokens=arch.get("registers", 0),
            act_layer="gelu_tanh" if act == "gelu-tanh" else "gelu",
        )
        return model, model.forward_features
    if layout == "internvit":
        import timm

        # InternViT's InternVisionModel is remote code (not on PyPI): timm's VisionTransformer
        # with its switches (class token, qkv bias, LayerScale, no final norm) does the same work.
        model = timm.models.vision_transformer.VisionTransformer(
            img_size=size, patch_size=patch, embed_dim=hidden, depth=depth, num_heads=heads, mlp_ratio=mlp / hidden,
            init_values=0.1, final_norm=False, num_classes=0, global_pool="token",
        )
        return model, model.forward_features
    if layout == "open-clip":
        from open_clip.transformer import VisionTransformer

        model = VisionTransformer(
            image_size=size, patch_size=patch, width=hidden, layers=depth, heads=heads, mlp_ratio=mlp / hidden,
            output_dim=hidden, output_tokens=True,
        )
        return model, lambda px: model(px)[1]
    raise SystemExit(f"no reference for layout {layout}")


def timm_hub_reference(spec):
    """Presets hosted by timm name their timm model in the hub id (`timm/<model>.<tag>`): EVA-02
    CLIP, Perception Encoder (`vit_pe_core_*`, `vit_pe_lang_*`, `vit_pe_spatial_*`), DINOv3
    (`vit_*_dinov3*`). Built at the spec's resolution; refused unless its sizes are the spec's."""
    import timm

    name, hub, arch = spec["name"], spec.get("hub") or "", spec["architecture"]
    if not hub.startswith("timm/"):
        raise SystemExit(f"{name}: no timm model for hub id `{hub}` (only `timm/<model>` hub ids name one)")
    timm_name = hub.split("/")[1].split(".")[0]
    model = timm.create_model(timm_name, pretrained=False, img_size=arch["image_size"], num_classes=0)
    block = model.blocks[0]
    built = {
        "hidden_size": model.embed_dim, "depth": len(model.blocks), "heads": block.attn.num_heads,
        "mlp_size": block.mlp.fc2.in_features, "patch_size": model.patch_embed.patch_size[0],
    }
    wrong = [f"{k} {v} (spec {arch[k]})" for k, v in built.items() if v != arch[k]]
    if wrong:
        raise SystemExit(f"{name}: timm's {timm_name} is not the spec's model: " + ", ".join(wrong))
    return model, model.forward_features


def beit_reference(spec):
    """transformers' BEiT as MiDaS 3.1's DPT backbone uses it: relative position bias per
    layer, layer scale, no absolute positions; hidden_states[-1] (no final norm)."""
    import transformers as tf

    a = spec["architecture"]
    config = tf.BeitConfig(
        hidden_size=a["hidden_size"], num_hidden_layers=a["depth"], num_attention_heads=a["heads"],
        intermediate_size=a["mlp_size"], image_size=a["image_size"], patch_size=a["patch_size"],
        use_relative_position_bias=True, use_absolute_position_embeddings=False, layer_scale_init_value=0.1,
    )
    model = tf.BeitModel(config, add_pooling_layer=False)
    return model, lambda px: model(pixel_values=px, output_hidden_states=True).hidden_states[-1]


def convnext_reference(spec):
    """timm's ConvNeXt trunk (open_clip's image tower) run as Cambrian's ConvNeXt tower:
    stem, the four stages, the kept stages resized bilinearly and concatenated."""
    import timm
    import torch.nn.functional as F

    a = spec["architecture"]
    model = timm.models.convnext.ConvNeXt(depths=a["depths"], dims=a["dims"], num_classes=0, norm_eps=a.get("norm_eps", 1e-6))
    keep_all, side = a.get("stages", "last") == "all", a.get("output_grid")

    def forward(px):
        x, kept = model.stem(px), []
        for i, stage in enumerate(model.stages):
            x = stage(x)
            if keep_all or i == len(model.stages) - 1:
                kept.append(x)
        if side:
            kept = [F.interpolate(k, size=(side, side), mode="bilinear", align_corners=False) for k in kept]
        return torch.cat(kept, 1).flatten(2).transpose(1, 2)

    return model, forward


def stable_diffusion_reference(spec):
    """diffusers' SD 2.x parts as Cambrian's diffusion tower runs them: VAE latent mean ×
    scaling factor, DDIM noise at the timestep, the empty prompt through the CLIP text
    encoder, one UNet pass, up-block outputs resized to res/16 and concatenated."""
    import diffusers
    import torch.nn.functional as F
    import transformers as tf

    a = spec["architecture"]
    vae_cfg, unet_cfg, text_cfg, sched_cfg = (a[k] for k in ("vae", "unet", "text_encoder", "scheduler"))
    blocks = len(vae_cfg["block_out_channels"])
    vae = diffusers.AutoencoderKL(
        block_out_channels=vae_cfg["block_out_channels"], layers_per_block=vae_cfg["layers_per_block"],
        latent_channels=vae_cfg["latent_channels"], norm_num_groups=vae_cfg["norm_num_groups"],
        down_block_types=["DownEncoderBlock2D"] * blocks, up_block_types=["UpDecoderBlock2D"] * blocks,
    )
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=unet_cfg["block_out_channels"], layers_per_block=unet_cfg["layers_per_block"],
        attention_head_dim=unet_cfg["attention_head_dim"], cross_attention_dim=unet_cfg["cross_attention_dim"],
        norm_num_groups=unet_cfg["norm_num_groups"], norm_eps=unet_cfg["norm_eps"], use_linear_projection=True,
    )
    text = tf.CLIPTextModel(tf.CLIPTextConfig(**text_cfg))
    scheduler = diffusers.DDIMScheduler(**sched_cfg)
    ids = torch.tensor([[text_cfg["vocab_size"] - 2, text_cfg["vocab_size"] - 1] + [0] * (text_cfg["max_position_embeddings"] - 2)])
    t = torch.tensor([a["timestep"]])
    side = spec["preprocess"]["crop_size"] // a["patch_size"]
    ups = []
    for block in unet.up_blocks:
        block.register_forward_hook(lambda _m, _i, out: ups.append(out))

    def forward(px):
        ups.clear()
        latents = vae.encode(px).latent_dist.mode() * vae_cfg["scaling_factor"]
        noisy = scheduler.add_noise(latents, torch.randn_like(latents), t)
        context = text(ids).last_hidden_state.expand(px.shape[0], -1, -1)
        unet(noisy, t, encoder_hidden_states=context)
        maps = [F.interpolate(u, size=(side, side), mode="bilinear", align_corners=False) for u in ups]
        return torch.cat(maps, 1).flatten(2).transpose(1, 2)

    return torch.nn.ModuleList([vae, unet, text]), forward


def sam_reference(spec):
    """segment-anything's ImageEncoderViT up to the neck, as Cambrian's SAM tower runs it;
    the 64×64 map resized to the spec's feature_tokens."""
    from functools import partial

    import torch.nn.functional as F
    from segment_anything.modeling import ImageEncoderViT

    a = spec["architecture"]
    model = ImageEncoderViT(
        img_size=a["image_size"], patch_size=a["patch_size"], embed_dim=a["hidden_size"], depth=a["depth"],
        num_heads=a["heads"], mlp_ratio=a["mlp_size"] / a["hidden_size"], norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        qkv_bias=True, use_rel_pos=True, window_size=a["window_size"], global_attn_indexes=a["global_attn_indexes"],
        out_chans=256,
    )
    side = round(spec.get("feature_tokens", 0) ** 0.5)

    def forward(px):
        x = model.patch_embed(px) + model.pos_embed
        for block in model.blocks:
            x = block(x)
        x = x.permute(0, 3, 1, 2)
        if side:
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        return x.flatten(2).transpose(1, 2)

    return model, forward


def aimv2_reference(spec):
    """transformers' Aimv2VisionModel without its pooling head: RMSNorm, SwiGLU, bias-free
    projections; last_hidden_state (after the final RMSNorm) or a hidden state."""
    import transformers as tf

    a = spec["architecture"]
    config = tf.Aimv2VisionConfig(
        hidden_size=a["hidden_size"], intermediate_size=a["mlp_size"], num_hidden_layers=a["depth"],
        num_attention_heads=a["heads"], image_size=a["image_size"], patch_size=a["patch_size"],
        qkv_bias=a.get("qkv_bias", False), mlp_bias=a.get("mlp_bias", False), rms_norm_eps=a.get("norm_eps", 1e-5),
        is_native=a.get("is_native", False),
        use_head=False, **SDPA,
    )
    model = tf.Aimv2VisionModel(config)
    if config.is_native:
        # No padding or mask in the native model: each image [3, height, width] on its own.
        return model, lambda images: torch.cat([model(pixel_values=image[None]).last_hidden_state[0] for image in images])
    layer = spec.get("feature_layer")
    if layer is None:
        return model, lambda px: model(pixel_values=px).last_hidden_state
    return model, lambda px: model(pixel_values=px, output_hidden_states=True).hidden_states[layer]


# The aspect ratios (width, height) a native-resolution encoder's batch cycles through, image
# i the i-th, each with about crop_size² pixels: as src/bench/encoders.rs.
ASPECTS = [(1, 1), (4, 3), (3, 4), (16, 9), (9, 16), (2, 1)]


def native_sizes(spec, batch):
    """Each image's (height, width) as the model reads it: after Siglip2ImageProcessor's resize
    within the budget (`max-patches`), or as it is, to whole patches (`none`: the native AIMv2,
    whose patch convolution drops the rest)."""
    from transformers.models.siglip2.image_processing_pil_siglip2 import get_image_size_for_max_num_patches

    pre = spec["preprocess"]
    side, patch = pre["crop_size"], pre["patch_size"]
    # (height, width) of each image before the processor, about side² pixels
    sizes = [(round(side * math.sqrt(h / w)), round(side * math.sqrt(w / h))) for w, h in ASPECTS]
    sizes = [sizes[i % len(sizes)] for i in range(batch)]
    if pre["resize"] == "none":
        return [(h // patch * patch, w // patch * patch) for h, w in sizes]
    return [get_image_size_for_max_num_patches(h, w, patch, pre["max_patches"]) for h, w in sizes]


def naflex_reference(spec):
    """transformers' Siglip2VisionModel without its pooling head, used as it is at native
    resolution: each image [3, height, width] cut into patches in the processor's (row,
    column, channel) order and padded to `max_patches` (Siglip2ImageProcessor's
    `convert_image_to_patches` and `pad_along_first_dim`, inside the timed pass), the patch
    attention mask and each image's grid as spatial_shapes; last_hidden_state."""
    import transformers as tf

    a = spec["architecture"]
    patch, budget = a["patch_size"], spec["preprocess"]["max_patches"]
    config = tf.Siglip2VisionConfig(
        hidden_size=a["hidden_size"], intermediate_size=a["mlp_size"], num_hidden_layers=a["depth"],
        num_attention_heads=a["heads"], patch_size=patch, num_patches=a["positions"],
        layer_norm_eps=a.get("norm_eps", 1e-6), vision_use_head=False, **SDPA,
    )
    model = tf.Siglip2VisionModel(config)

    def forward(images):
        values, masks, shapes = [], [], []
        for image in images:
            channels, height, width = image.shape
            rows, cols = height // patch, width // patch
            # [3, rows · patch, cols · patch] → [rows × cols, patch · patch · 3], padded to the budget
            patches = image.reshape(channels, rows, patch, cols, patch).permute(1, 3, 2, 4, 0)
            patches = patches.reshape(rows * cols, patch * patch * channels)
            values.append(torch.nn.functional.pad(patches, (0, 0, 0, budget - rows * cols)))
            mask = torch.zeros(budget, dtype=torch.long, device=image.device)
            mask[: rows * cols] = 1
            masks.append(mask)
            shapes.append([rows, cols])
        shapes = torch.tensor(shapes, device=images[0].device)
        inputs = dict(pixel_values=torch.stack(values), pixel_attention_mask=torch.stack(masks), spatial_shapes=shapes)
        return model(**inputs).last_hidden_state

    return model, forward


def radio_reference(spec):
    """RADIO (NVlabs/RADIO) is remote code, not on PyPI: timm's VisionTransformer, as RADIO
    builds its trunk, with its class tokens and registers as prefix tokens (`reg_tokens`),
    positions on the patches only and a bias-free patch embedding does the same work; the
    CPE's bilinear resize of the position table (done once per pass on our side) is left out,
    which favours the reference. As our random build: no final norm unless the spec says so
    (a checkpoint decides it otherwise), no patch normalizer or feature normalizer."""
    import timm

    a = spec["architecture"]
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=spec["preprocess"]["crop_size"], patch_size=a["patch_size"], embed_dim=a["hidden_size"],
        depth=a["depth"], num_heads=a["heads"], mlp_ratio=a["mlp_size"] / a["hidden_size"], class_token=False,
        reg_tokens=a["cls_tokens"] + a["registers"], no_embed_class=True, final_norm=a.get("final_norm", False),
        num_classes=0, global_pool="", dynamic_img_size=False,
    )
    model.patch_embed.proj.bias = None
    return model, model.forward_features


REFERENCES = {
    "radio": radio_reference,
    "sam": sam_reference,
    "convnext": convnext_reference,
    "stable-diffusion": stable_diffusion_reference,
    "vit": lambda spec: vit_reference(spec["architecture"], spec.get("feature_layer")),
    "eva": timm_hub_reference,
    "beit": beit_reference,
    "aimv2": aimv2_reference,
    "naflex": naflex_reference,
}


def save_weights(model, path):
    """One safetensors file. transformers models go through save_pretrained, which writes the
    checkpoints' key names (transformers 5 renames some modules on load: q_proj for query)."""
    import shutil
    import tempfile

    from safetensors.torch import save_file

    if hasattr(model, "save_pretrained"):
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder, max_shard_size="1000GB")
            shutil.move(f"{folder}/model.safetensors", path)
    else:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, path)


def open_device(name):
    """The torch device `--device` names; on CUDA, plain f32 arithmetic, as ours: no TF32 in
    matrix products or cuDNN convolutions (tools/bench/train.py uses it too)."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="f32", help="weights and activations, as ours")
    parser.add_argument(
        "--save-weights", metavar="PATH",
        help="write the random weights (the state dict, safetensors) to PATH and stop: "
        "`cambrian encode --encoder SPEC --weights PATH` then runs the same model",
    )
    args = parser.parse_args()
    with open(args.spec, "rb") as f:
        spec = tomllib.load(f)
    arch = spec["architecture"]
    build = REFERENCES.get(arch["kind"])
    if build is None:
        raise SystemExit(f"no PyTorch reference for kind {arch['kind']} yet")
    device = open_device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    with device:  # parameters are initialised on the device, not copied there
        model, forward = build(spec)
    dtype = DTYPES[args.dtype]
    model.eval().to(dtype)
    if args.save_weights:
        save_weights(model, args.save_weights)
        return
    side = spec["preprocess"]["crop_size"]
    if spec["preprocess"].get("resize") in ("max-patches", "none"):
        sizes = native_sizes(spec, args.batch_size)

        def inputs():
            return [torch.randn(3, h, w, device=device, dtype=dtype) for h, w in sizes]
    else:

        def inputs():
            return torch.randn(args.batch_size, 3, side, side, device=device, dtype=dtype)

    def one_pass():
        # Reading the result back waits for the device, as ours does.
        forward(inputs()).cpu()

    with torch.inference_mode():
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        for _ in range(args.warmup):
            one_pass()
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.iters):
            one_pass()
        if cuda:
            torch.cuda.synchronize()
        secs = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    threads = f"{torch.get_num_threads()} threads"
    result = {"images_per_sec": args.batch_size * args.iters / secs, "peak_rss_mib": peak_mib}
    if cuda:
        result["peak_device_mib"] = torch.cuda.max_memory_reserved() / 2**20
        result["peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        result["device"] = torch.cuda.get_device_name(device)
        threads = f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    else:
        result["device"] = "cpu"
    attn = getattr(getattr(model, "config", None), "_attn_implementation", None)
    result["model"] = f"{type(model).__module__}.{type(model).__name__} (torch {torch.__version__}, {threads}" + (
        f", attention {attn})" if attn else ")"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
