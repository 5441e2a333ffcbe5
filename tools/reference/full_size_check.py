"""Full-size check of the encoder presets (never run by CI).

For each preset: build its reference model at full size as the reference library builds it
(open_clip `create_model`, `timm.create_model`, transformers models from the checkpoint's
config, diffusers models from Stable Diffusion 2.1's configs, segment-anything's
`sam_model_registry`), give every stored tensor random values (make_encoder_fixtures'
`randomize`, so that biases, norms, layer scales and relative position tables are not left at
their zero or one init), save the checkpoint in that library's own layout (the file name the
preset names, MoCo v3's and I-JEPA's nested `.pth.tar` prefixes), take the feature as
Cambrian-1's tower takes it from a flat-colour square image (every preprocessing chain maps it
to the same flat input, so the comparison isolates the model), run the release binary

    cambrian encode --encoder PRESET --weights CHECKPOINT [--layer L] --out OUT IMAGE

and print the max abs difference divided by the output scale (max |reference|). Presets must
be within 1e-4. Run from the repository root after `cargo build --release`:

    python3 tools/reference/full_size_check.py [PRESET ...] [--work DIR]

Checkpoints of several GB are written under --work (default: a temporary folder) and deleted
after each preset. Each preset runs in a process of its own, so that its memory is given back
before the next; the peak resident memory of the reference and of `cambrian` is printed.
"""

import argparse
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import randomize  # noqa: E402

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


def resize_maps(maps, side):
    """Cambrian's `interp`: bilinear, align_corners=False; [N, C, h, w] → [N, side², C]."""
    if maps.shape[-2:] != (side, side):
        maps = F.interpolate(maps, size=(side, side), mode="bilinear", align_corners=False)
    return maps.flatten(2).transpose(1, 2)


def resize_tokens(tokens, grid, spec):
    """Row-major tokens [N, h·w, C] resized to the preset's `feature_tokens`, if it has any."""
    wanted = spec.get("feature_tokens")
    if wanted is None:
        return tokens
    maps = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)
    return resize_maps(maps, int(round(wanted**0.5)))


def randomized(model, name):
    """`randomize` on what a checkpoint stores: buffers that are computed rather than saved
    (timm's rotary tables) keep the values the model computed."""
    stored = model.state_dict().keys()
    computed = {k: b.clone() for k, b in model.named_buffers() if k not in stored}
    randomize(model, zlib.crc32(name.encode()))
    for key, value in computed.items():
        model.get_buffer(key).copy_(value)
    return model.eval()


def save_state(state, path):
    state = {k: v.contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)


# --- builders: (name, spec, work dir) -> (path for --weights, reference features [1, T, C]) ---


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

    model = randomized(open_clip.create_model(OPEN_CLIP[name]), name)
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


CONVNEXT = {
    "convnext-l-512": "convnext_large_d_320",
    "convnext-l-1024": "convnext_large_d_320",
    "convnext-xxl-1024": "convnext_xxlarge",
    "convnext-xxl-1024-multi-stage": "convnext_xxlarge",
}


def open_clip_convnext(name, spec, work):
    """The LAION ConvNeXt CLIP models, run at the preset's resolution; CLIPConvNextTower's
    features: the last stage or every stage, resized to the `interp` grid, on channels."""
    import open_clip
    from make_convnext_fixtures import cambrian_features

    model = randomized(open_clip.create_model(CONVNEXT[name]), name)
    path = work / spec["weights_file"]
    save_state(model.state_dict(), path)
    arch = spec["architecture"]
    tokens = cambrian_features(model.visual.trunk, flat_pixels(spec), arch["stages"] == "all", arch["output_grid"])
    return path, tokens


TIMM = {
    "mae-vit-l-16": "vit_large_patch16_224.mae",
    "mae-vit-h-14": "vit_huge_patch14_224.mae",
    "supvit-l-16-in21k": "vit_large_patch16_224.orig_in21k",
    "supvit-h-14-in21k": "vit_huge_patch14_224.orig_in21k",
    "pe-core-vit-l-14-336": "vit_pe_core_large_patch14_336.fb",
    "pe-lang-vit-l-14-448": "vit_pe_lang_large_patch14_448.fb",
    "pe-spatial-vit-b-16-512": "vit_pe_spatial_base_patch16_512.fb",
    "pe-spatial-vit-l-14-448": "vit_pe_spatial_large_patch14_448.fb",
    "dinov3-vit-l-16": "vit_large_patch16_dinov3.lvd1689m",
}


def timm_model(name, spec, work):
    import timm

    model = randomized(timm.create_model(TIMM[name], pretrained=False), name)
    path = work / spec["weights_file"]
    save_state(model.state_dict(), path)
    tokens = model.forward_features(flat_pixels(spec))
    return path, tokens[:, model.num_prefix_tokens :]


def nested_timm(name, spec, work):
    """MoCo v3 and I-JEPA: a timm ViT (the repositories' ViTs share its names and forward) in
    the official `.pth.tar` nesting: `state_dict` + `module.base_encoder.`, `encoder` + `module.`."""
    import timm

    arch = spec["architecture"]
    class_token = arch.get("class_token", True)
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=arch["image_size"], patch_size=arch["patch_size"], embed_dim=arch["hidden_size"],
        depth=arch["depth"], num_heads=arch["heads"], mlp_ratio=arch["mlp_size"] / arch["hidden_size"],
        class_token=class_token, global_pool="token" if class_token else "", num_classes=0,
    )
    model = randomized(model, name)
    state = {spec["weights_prefix"] + k: v for k, v in model.state_dict().items()}
    path = work / "checkpoint.pth.tar"
    torch.save({spec["weights_key"]: state}, path)
    return path, model.forward_features(flat_pixels(spec))[:, model.num_prefix_tokens :]


def hf_model(spec):
    """The transformers model class and config of the preset's checkpoint (the whole model where
    the checkpoint holds one: CLIPModel, SiglipModel with their text towers' sizes)."""
    import transformers as tf

    a = spec["architecture"]
    sizes = dict(hidden_size=a["hidden_size"], num_hidden_layers=a["depth"], num_attention_heads=a["heads"],
                 image_size=a["image_size"], patch_size=a["patch_size"])
    if a["kind"] == "beit":
        # transformers' convert_dpt_beit_to_hf.py for dpt-beit-large-512.
        beit = tf.BeitConfig(intermediate_size=a["mlp_size"], use_relative_position_bias=True,
                             reshape_hidden_states=False, out_features=["stage6", "stage12", "stage18", "stage24"],
                             **sizes)
        return tf.DPTForDepthEstimation(tf.DPTConfig(backbone_config=beit, neck_hidden_sizes=[256, 512, 1024, 1024]))
    layout = a["layout"] if a["kind"] == "vit" else a["kind"]
    if layout == "aimv2":
        # apple/aimv2-large-patch14-*: an Aimv2VisionModel with its attention-pooling head.
        return tf.Aimv2VisionModel(tf.Aimv2VisionConfig(
            intermediate_size=a["mlp_size"], qkv_bias=a.get("qkv_bias", False), mlp_bias=a.get("mlp_bias", False),
            rms_norm_eps=a.get("norm_eps", 1e-5), use_head=True, **sizes))
    if layout == "hf-clip":
        # openai/clip-vit-large-patch14-336: a CLIPModel with a 12-layer, 768-wide text tower.
        vision = tf.CLIPVisionConfig(intermediate_size=a["mlp_size"], projection_dim=768, **sizes)
        text = tf.CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                 num_attention_heads=12, projection_dim=768)
        return tf.CLIPModel(tf.CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=768))
    if layout == "hf-siglip":
        # google/siglip2-*-384 (model_type "siglip"): a SiglipModel whose text tower has the
        # vision tower's width and depth, vocabulary 256000, 64 positions.
        vision = tf.SiglipVisionConfig(intermediate_size=a["mlp_size"], **sizes)
        text = tf.SiglipTextConfig(vocab_size=256000, max_position_embeddings=64, intermediate_size=a["mlp_size"],
                                   hidden_size=a["hidden_size"], num_hidden_layers=a["depth"],
                                   num_attention_heads=a["heads"])
        return tf.SiglipModel(tf.SiglipConfig(text_config=text.to_dict(), vision_config=vision.to_dict()))
    if layout == "hf-dinov2":
        # facebook/dinov2-*: mlp_ratio 4; the giant's SwiGLU makes its inner width 4096 of it.
        return tf.Dinov2Model(tf.Dinov2Config(mlp_ratio=4, use_swiglu_ffn=a["act"] == "swiglu", **sizes))
    if layout == "hf-dpt":
        return tf.DPTForDepthEstimation(tf.DPTConfig(intermediate_size=a["mlp_size"], **sizes))
    if layout == "hf-vit":
        # facebook/webssl-mae*: a ViTModel with its pooler, the original timm model's eps.
        return tf.ViTModel(tf.ViTConfig(intermediate_size=a["mlp_size"], layer_norm_eps=a.get("norm_eps", 1e-12), **sizes))
    raise ValueError(layout)


def transformers_model(name, spec, work):
    """Saved with `save_pretrained`; the feature is `hidden_states[feature_layer]` or the
    last hidden state, without the class token (SigLIP has none)."""
    model = randomized(hf_model(spec), name)
    folder = work / "model"
    model.save_pretrained(folder, safe_serialization=spec["weights_file"].endswith(".safetensors"))
    tower = getattr(model, "vision_model", model)
    states = tower(pixel_values=flat_pixels(spec), output_hidden_states=True)
    layer = spec.get("feature_layer")
    tokens = states.last_hidden_state if layer is None else states.hidden_states[layer]
    a = spec["architecture"]
    tokens = tokens[:, 0 if a.get("layout") == "hf-siglip" or a["kind"] == "aimv2" else 1 :]
    side = spec["preprocess"]["crop_size"] // a["patch_size"]
    return folder, resize_tokens(tokens, (side, side), spec)


def naflex(name, spec, work):
    """google/siglip2-*-patch16-naflex: a Siglip2Model (its text tower of the vision tower's
    width and depth, vocabulary 256000, 64 positions) saved with `save_pretrained`; the flat
    square at the budget's square side is one grid of ⌊√max_patches⌋² patches, cut in the
    processor's (row, column, channel) order; the vision tower's last hidden state."""
    import transformers as tf

    a, budget = spec["architecture"], spec["preprocess"]["max_patches"]
    vision = tf.Siglip2VisionConfig(hidden_size=a["hidden_size"], intermediate_size=a["mlp_size"],
                                    num_hidden_layers=a["depth"], num_attention_heads=a["heads"],
                                    patch_size=a["patch_size"], num_patches=a["positions"])
    text = tf.Siglip2TextConfig(vocab_size=256000, max_position_embeddings=64, hidden_size=a["hidden_size"],
                                intermediate_size=a["mlp_size"], num_hidden_layers=a["depth"],
                                num_attention_heads=a["heads"])
    model = randomized(tf.Siglip2Model(tf.Siglip2Config(text_config=text.to_dict(), vision_config=vision.to_dict())), name)
    folder = work / "model"
    model.save_pretrained(folder)
    pixels, patch = flat_pixels(spec)[0], a["patch_size"]
    side = pixels.shape[-1] // patch
    assert side * side <= budget
    patches = pixels.reshape(3, side, patch, side, patch).permute(1, 3, 2, 4, 0).reshape(1, side * side, -1)
    mask = torch.ones(1, side * side, dtype=torch.long)
    shapes = torch.tensor([[side, side]])
    tokens = model.vision_model(pixel_values=patches, pixel_attention_mask=mask, spatial_shapes=shapes).last_hidden_state
    return folder, tokens


SAM = {"sam-vit-l-1024": "vit_l", "sam-vit-h-1024": "vit_h"}


def segment_anything(name, spec, work):
    """The whole Sam of the official checkpoint; the image encoder's map before the neck."""
    from make_sam_fixtures import pre_neck
    from segment_anything import sam_model_registry

    model = randomized(sam_model_registry[SAM[name]](), name)
    path = work / Path(spec["url"]).name
    torch.save(model.state_dict(), path)
    encoder = model.image_encoder
    tokens = pre_neck(encoder, flat_pixels(spec))
    side = encoder.img_size // spec["architecture"]["patch_size"]
    return path, resize_tokens(tokens, (side, side), spec)


def clip_tokenizer_files(folder, max_length):
    """stabilityai/stable-diffusion-2-1's tokenizer/: CLIP's BPE (open_clip ships its merges;
    the vocabulary is the 256 bytes, the bytes + `</w>`, one token per merge, the two special
    tokens), padded with `!` to 77."""
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe, "rt", encoding="utf-8").read().split("\n")[1 : 49152 - 256 - 2 + 1]
    units = list(bytes_to_unicode().values())
    tokens = units + [u + "</w>" for u in units] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = lambda s: {"content": s, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": special("<|startoftext|>"), "eos_token": special("<|endoftext|>"),
        "pad_token": "!", "unk_token": special("<|endoftext|>"),
    }))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "add_prefix_space": False, "bos_token": special("<|startoftext|>"), "do_lower_case": True,
        "eos_token": special("<|endoftext|>"), "errors": "replace", "model_max_length": max_length,
        "pad_token": "!", "tokenizer_class": "CLIPTokenizer", "unk_token": special("<|endoftext|>"),
    }))
    return len(tokens)


def sd_pipeline(name, folder):
    """stabilityai/stable-diffusion-2-1's components from its configs (diffusers defaults
    where its config.json files leave a field out), random weights, `save_pretrained`."""
    import transformers as tf
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    vae = AutoencoderKL(
        block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2, sample_size=768,
    )
    unet = UNet2DConditionModel(
        sample_size=96, attention_head_dim=[5, 10, 20, 20], block_out_channels=[320, 640, 1280, 1280],
        cross_attention_dim=1024, down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
        up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, use_linear_projection=True,
        upcast_attention=True, flip_sin_to_cos=True, freq_shift=0, layers_per_block=2,
    )
    vocab_size = clip_tokenizer_files(folder / "tokenizer", 77)
    text = tf.CLIPTextModel(tf.CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
        num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", projection_dim=512,
        bos_token_id=0, eos_token_id=2, pad_token_id=1,
    ))
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction",
    )
    for part, model in [("vae", vae), ("unet", unet), ("text", text)]:
        randomized(model, f"{name}/{part}")
    tokenizer = tf.CLIPTokenizer.from_pretrained(folder / "tokenizer")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    clip_tokenizer_files(folder / "tokenizer", 77)  # the hub's four files, not transformers 5's re-export
    return pipe


def stable_diffusion(name, spec, work):
    """DiffusionVisionTower.extract_features: VAE mode × scaling factor, DDIM add_noise at the
    timestep with our seeded noise, one UNet pass on the empty prompt, up blocks 0-3 resized
    to (resolution / patch)² and concatenated on channels."""
    from diffusers import DDIMScheduler
    from make_diffusion_fixtures import noise

    folder = work / "sd"
    pipe = sd_pipeline(name, folder)
    arch = spec["architecture"]
    ids = pipe.tokenizer("", padding="max_length", max_length=77, truncation=True).input_ids
    assert ids == [49406, 49407] + [0] * 75, ids
    prompt = pipe.encode_prompt([""], "cpu", 1, do_classifier_free_guidance=False)[0]
    pixels = flat_pixels(spec)
    latents = pipe.vae.config.scaling_factor * pipe.vae.encode(pixels).latent_dist.mode()
    t = torch.tensor(arch["timestep"], dtype=torch.long)
    eps = noise(arch["noise_seed"], tuple(latents.shape[1:]))
    noisy = DDIMScheduler.from_config(pipe.scheduler.config).add_noise(latents, eps[None], t)
    ups = []
    hooks = [b.register_forward_hook(lambda m, i, o: ups.append(o)) for b in pipe.unet.up_blocks]
    pipe.unet(noisy, t, encoder_hidden_states=prompt)
    for hook in hooks:
        hook.remove()
    side = pixels.shape[-1] // arch["patch_size"]
    return folder, torch.cat([resize_maps(m, side) for m in ups], -1)


BUILDERS = {name: open_clip_tower for name in OPEN_CLIP}
BUILDERS |= {name: open_clip_convnext for name in CONVNEXT}
BUILDERS |= {name: timm_model for name in TIMM}
BUILDERS |= {"moco-v3-vit-b-16": nested_timm, "moco-v3-vit-l-16": nested_timm, "ijepa-vit-h-14": nested_timm}
BUILDERS |= {name: transformers_model for name in [
    "clip-vit-l-14-336", "dinov2-vit-l-14-336", "dinov2-vit-l-14-518", "dinov2-vit-g-14-378",
    "siglip2-so400m-14-384", "siglip2-vit-l-16-384", "midas-dpt-large-384", "midas-beit-large-512",
    "aimv2-vit-l-14-224", "aimv2-vit-l-14-336", "aimv2-vit-l-14-448", "webssl-dino1b-full2b-224",
    "webssl-mae700m-full2b-224", "webssl-mae1b-full2b-224",
]}
BUILDERS |= {"siglip2-b-16-naflex": naflex, "siglip2-so400m-16-naflex": naflex}
BUILDERS |= {name: segment_anything for name in SAM}
BUILDERS["sd-2.1"] = stable_diffusion


def ours(name, spec, weights, work):
    image = work / "flat.png"
    side = spec["preprocess"]["crop_size"]
    Image.new("RGB", (side, side), COLOUR).save(image)
    out = work / "features.safetensors"
    layer = ["--layer", str(spec["feature_layer"])] if "feature_layer" in spec else []
    # GNU time measures the binary's own peak (a child forked from this process would count
    # this process's pages too).
    rss = work / "peak_kib"
    cmd = [str(BINARY), "-q", "encode", "--encoder", name, "--weights", str(weights), *layer, "--out", str(out), str(image)]
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *cmd], check=True)
    with safe_open(out, "pt") as f:
        return f.get_tensor("features"), int(rss.read_text().split()[-1]) / 2**20


def check_one(name, work_root):
    """One preset, in this process: prints its row."""
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    spec = spec_of(name)
    work = Path(tempfile.mkdtemp(dir=work_root, prefix=f"full-{name}-"))
    try:
        weights, reference = BUILDERS[name](name, spec, work)
        reference_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        mine, our_peak = ours(name, spec, weights, work)
        assert mine.shape == reference.shape, f"{name}: shape {tuple(mine.shape)} vs {tuple(reference.shape)}"
        scale = reference.abs().max().item()
        relative = (mine - reference).abs().max().item() / scale
        peaks = f"{reference_peak:.1f} / {our_peak:.1f}"
        print(f"{name:<30} {relative:>16.2e} {scale:>9.3g} {peaks:>14}", flush=True)
        return relative <= TOLERANCE
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("presets", nargs="*", help="default: every preset with a builder")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.exit(0 if check_one(args.presets[0], args.work) else 1)
    print(f"{'preset':<30} {'max |Δ| / scale':>16} {'scale':>9} {'peak GiB py/ours':>14}", flush=True)
    failed = []
    for name in args.presets or sorted(BUILDERS):
        if name not in BUILDERS:
            print(f"{name:<30} {'no builder':>16}", flush=True)
            failed.append(name)
            continue
        work = ["--work", str(args.work)] if args.work else []
        if subprocess.run([sys.executable, __file__, "--one", name, *work]).returncode != 0:
            failed.append(name)
    if failed:
        print("failed:", " ".join(failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
