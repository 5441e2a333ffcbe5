"""The PyTorch side of `cambrian bench encoders`: builds the reference implementation of one
encoder spec (encoders/<name>.toml) with random weights, times its forward pass at the
spec's resolution, and prints one JSON line: images_per_sec, peak_rss_mib, model.

    python3 tools/bench/encoders.py --spec encoders/clip-vit-l-14-336.toml --iters 3

Needs torch, transformers, timm and open_clip (`pip install torch transformers timm
open_clip_torch`). cambrian runs it when present; it is never needed otherwise.
"""

import argparse
import json
import resource
import sys
import time
import tomllib

import torch


def vit_reference(arch, feature_layer):
    """The reference class of each ViT layout, sized as the spec says; returns (model, forward)."""
    layout, hidden, depth, heads, mlp = (arch[k] for k in ("layout", "hidden_size", "depth", "heads", "mlp_size"))
    size, patch = arch["image_size"], arch["patch_size"]
    act = arch.get("act")
    if layout.startswith("hf-"):
        import transformers as tf

        common = dict(hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=heads, image_size=size, patch_size=patch)
        if layout == "hf-clip":
            model = tf.CLIPVisionModel(tf.CLIPVisionConfig(intermediate_size=mlp, hidden_act="quick_gelu", **common))
        elif layout == "hf-siglip":
            model = tf.SiglipVisionModel(tf.SiglipVisionConfig(intermediate_size=mlp, **common))
        elif layout == "hf-dinov2":
            swiglu = act == "swiglu"
            # Dinov2's SwiGLU width is (int(hidden * ratio * 2 / 3) + 7) // 8 * 8 per half.
            ratio = mlp * 1.5 / hidden if swiglu else mlp / hidden
            model = tf.Dinov2Model(tf.Dinov2Config(mlp_ratio=ratio, use_swiglu_ffn=swiglu, **common))
        elif layout in ("hf-vit", "hf-vit-mae"):
            model = tf.ViTModel(tf.ViTConfig(intermediate_size=mlp, **common), add_pooling_layer=False)
        elif layout == "hf-dpt":
            model = tf.DPTModel(tf.DPTConfig(intermediate_size=mlp, **common), add_pooling_layer=False)
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
    if layout == "open-clip":
        from open_clip.transformer import VisionTransformer

        model = VisionTransformer(
            image_size=size, patch_size=patch, width=hidden, layers=depth, heads=heads, mlp_ratio=mlp / hidden,
            output_dim=hidden, output_tokens=True,
        )
        return model, lambda px: model(px)[1]
    raise SystemExit(f"no reference for layout {layout}")


def timm_hub_reference(spec):
    """Presets hosted by timm name their timm model in the hub id (`timm/<model>.<tag>`)."""
    import timm

    hub = spec.get("hub") or ""
    if not hub.startswith("timm/"):
        raise SystemExit(f"no timm model name in hub id `{hub}`")
    arch = spec["architecture"]
    model = timm.create_model(hub.split("/")[1].split(".")[0], pretrained=False, img_size=arch["image_size"], num_classes=0)
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


REFERENCES = {
    "vit": lambda spec: vit_reference(spec["architecture"], spec.get("feature_layer")),
    "eva": timm_hub_reference,
    "beit": beit_reference,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    with open(args.spec, "rb") as f:
        spec = tomllib.load(f)
    arch = spec["architecture"]
    build = REFERENCES.get(arch["kind"])
    if build is None:
        raise SystemExit(f"no PyTorch reference for kind {arch['kind']} yet")
    torch.manual_seed(0)
    model, forward = build(spec)
    model.eval()
    side = spec["preprocess"]["crop_size"]
    with torch.inference_mode():
        for _ in range(args.warmup):
            forward(torch.randn(args.batch_size, 3, side, side))
        start = time.perf_counter()
        for _ in range(args.iters):
            forward(torch.randn(args.batch_size, 3, side, side))
        secs = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    model_name = f"{type(model).__module__}.{type(model).__name__} (torch {torch.__version__}, {torch.get_num_threads()} threads)"
    print(json.dumps({"images_per_sec": args.batch_size * args.iters / secs, "peak_rss_mib": peak_mib, "model": model_name}))


if __name__ == "__main__":
    sys.exit(main())
