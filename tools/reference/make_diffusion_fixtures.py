"""Parity fixture for the Stable Diffusion encoder (tests/diffusion_parity.rs).

A tiny random-weight Stable Diffusion 2.x pipeline saved in the diffusers folder layout
(model_index.json, vae/, unet/, text_encoder/, tokenizer/ with vocab.json + merges.txt +
special_tokens_map.json + tokenizer_config.json as stabilityai/stable-diffusion-2-1 ships
them, scheduler/), loaded back with diffusers, and run the way Cambrian-1's
`DiffusionVisionTower.extract_features` runs it (cambrian/model/multimodal_encoder/
diffusion_encoder.py): VAE mode × scaling_factor, DDIM `add_noise` at t = 250, one UNet pass
on the empty-prompt embedding, up-block outputs 0-3 resized bilinearly to (res/16)² and
concatenated on channels.

The noise is the one thing Cambrian leaves unseeded (`torch.randn_like`). Ours is
`noise(seed)` below, the same generator src/encoders/diffusion/noise.rs implements: SplitMix64
→ two uniforms → Box-Muller, one [latent_channels, h, w] tensor shared by every image of the
batch. The reference uses that noise, so `cambrian encode` on the files is comparable too.

reference.safetensors: `pixels` [N,3,H,W], `latents` [N,4,h,w] (VAE mean × scaling_factor),
`noise` [4,h,w], `prompt_embeds` [1,L,D], `features` [N,T,C]. Run from the repository root:

    pip install diffusers
    python3 tools/reference/make_diffusion_fixtures.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers as tf
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_encoder_fixtures import PARITY_IMAGES, cambrian_square, fresh, open_images, randomize  # noqa: E402

RES = 64  # VAE ×8 → 8×8 latents; UNet up blocks at 2, 4, 8, 8; output grid RES/16 = 4
PATCH = 16
TIMESTEP = 250
SEED = 7
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]

VOCAB = ["!", '"', "a", "b", "c", "e", "i", "o", "s", "t", "a</w>", "e</w>", "s</w>", "t</w>", "st", "st</w>"]
MERGES = ["s t", "s t</w>"]
MAX_LENGTH = 12


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def noise(seed, shape):
    """Standard normals: per value, u1, u2 = (next >> 11 + 1) / 2^53; sqrt(-2 ln u1) cos(2π u2)."""
    state, out = seed, []
    for _ in range(int(np.prod(shape))):
        state, a = splitmix64(state)
        state, b = splitmix64(state)
        u1, u2 = ((a >> 11) + 1) / 2.0**53, ((b >> 11) + 1) / 2.0**53
        out.append(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))
    return torch.tensor(np.array(out, dtype=np.float32).reshape(shape))


def write_tokenizer(folder):
    """The four files of stable-diffusion-2-1/tokenizer, for an 18-token vocabulary."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    vocab = {tok: i for i, tok in enumerate(VOCAB + ["<|startoftext|>", "<|endoftext|>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    special = lambda s: {"content": s, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": special("<|startoftext|>"), "eos_token": special("<|endoftext|>"),
        "pad_token": "!", "unk_token": special("<|endoftext|>"),
    }, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "add_prefix_space": False, "bos_token": special("<|startoftext|>"), "do_lower_case": True,
        "eos_token": special("<|endoftext|>"), "errors": "replace", "model_max_length": MAX_LENGTH,
        "pad_token": "!", "tokenizer_class": "CLIPTokenizer", "unk_token": special("<|endoftext|>"),
    }, indent=2))
    return len(vocab)


def tiny_pipeline(case):
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4, sample_size=RES,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 8, 8], layers_per_block=2, scaling_factor=0.18215,
    )
    unet = UNet2DConditionModel(
        sample_size=RES // 8, in_channels=4, out_channels=4, layers_per_block=2, norm_num_groups=4,
        block_out_channels=[4, 8, 8, 12], attention_head_dim=[1, 2, 4, 3], cross_attention_dim=8,
        down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
        up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
        use_linear_projection=True, upcast_attention=True, flip_sin_to_cos=True, freq_shift=0,
    )
    vocab_size = write_tokenizer(case / "tokenizer")
    text = tf.CLIPTextModel(tf.CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=MAX_LENGTH, hidden_act="gelu", projection_dim=8,
        bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1, pad_token_id=0,
    ))
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="v_prediction",
    )
    for i, model in enumerate([vae, unet, text]):
        randomize(model, 40 + i)
    tokenizer = tf.CLIPTokenizer.from_pretrained(case / "tokenizer")
    # The VAE and UNet are stored in f16 (as the checkpoint's fp16 variant is) to keep the
    # fixture small; the reference runs in f32 on the rounded weights.
    pipe = StableDiffusionPipeline(
        vae=vae.half(), text_encoder=text, tokenizer=tokenizer, unet=unet.half(), scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(case, safe_serialization=True)
    write_tokenizer(case / "tokenizer")  # our files, not transformers 5's re-export
    return StableDiffusionPipeline.from_pretrained(case, safety_checker=None).to(torch.float32)


def cambrian_pixels():
    """Cambrian-1's process_images: expand2square with the ProcessorWrapper's CLIP mean, the
    square resized to RES (PIL bicubic), then the tower's transform."""
    transform = transforms.Compose([
        transforms.Resize(RES), transforms.CenterCrop(RES), transforms.ToTensor(),
        transforms.Normalize(mean=[0.5] * 3, std=[0.5] * 3),
    ])
    fill = tuple(int(x * 255) for x in CLIP_MEAN)
    return torch.stack([transform(cambrian_square(im, fill, RES)) for im in open_images()])


def features(pipe, pixels, prompt_embeds, noise_chw):
    latents = pipe.vae.config.scaling_factor * pipe.vae.encode(pixels).latent_dist.mode()
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    t = torch.tensor(TIMESTEP, dtype=torch.long)
    noisy = scheduler.add_noise(latents, noise_chw.expand_as(latents), t)
    ups = {}
    hooks = [b.register_forward_hook(lambda m, i, o, k=k: ups.__setitem__(k, o)) for k, b in enumerate(pipe.unet.up_blocks)]
    pipe.unet(noisy, t, encoder_hidden_states=prompt_embeds.expand(len(pixels), -1, -1))
    for h in hooks:
        h.remove()
    side = RES // PATCH
    maps = [torch.nn.functional.interpolate(ups[k], size=(side, side), mode="bilinear", align_corners=False) for k in range(4)]
    out = torch.cat(maps, 1)
    return latents, out.permute(0, 2, 3, 1).reshape(len(pixels), side * side, -1)


def write_spec(case, pipe):
    vae, unet, text, sched = pipe.vae.config, pipe.unet.config, pipe.text_encoder.config, pipe.scheduler.config
    spec = f'''name = "tiny-stable-diffusion"
title = "tiny Stable Diffusion 2.x (parity fixture)"
family = "diffusion"
weights_file = "model_index.json"

[architecture]
kind = "stable-diffusion"
timestep = {TIMESTEP}
noise_seed = {SEED}
patch_size = {PATCH}

[architecture.vae]
block_out_channels = {list(vae.block_out_channels)}
layers_per_block = {vae.layers_per_block}
latent_channels = {vae.latent_channels}
norm_num_groups = {vae.norm_num_groups}
scaling_factor = {vae.scaling_factor}

[architecture.unet]
block_out_channels = {list(unet.block_out_channels)}
layers_per_block = {unet.layers_per_block}
attention_head_dim = {list(unet.attention_head_dim)}
cross_attention_dim = {unet.cross_attention_dim}
norm_num_groups = {unet.norm_num_groups}

[architecture.text_encoder]
vocab_size = {text.vocab_size}
hidden_size = {text.hidden_size}
intermediate_size = {text.intermediate_size}
num_hidden_layers = {text.num_hidden_layers}
num_attention_heads = {text.num_attention_heads}
max_position_embeddings = {text.max_position_embeddings}
hidden_act = "{text.hidden_act}"
layer_norm_eps = {text.layer_norm_eps}

[architecture.scheduler]
num_train_timesteps = {sched.num_train_timesteps}
beta_start = {sched.beta_start}
beta_end = {sched.beta_end}
beta_schedule = "{sched.beta_schedule}"

[preprocess]
pad_to_square = true
pad_colour = {list(int(x * 255) for x in CLIP_MEAN)}
resize = "shortest-edge"
resize_size = {RES}
crop_size = {RES}
interpolation = "bilinear"
crop_rounding = "round"
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
'''
    (case / "spec.toml").write_text(spec)


def main():
    torch.set_grad_enabled(False)
    case = fresh("diffusers-sd2")
    pipe = tiny_pipeline(case)
    ids = pipe.tokenizer("", padding="max_length", max_length=pipe.tokenizer.model_max_length, truncation=True).input_ids
    assert ids == [len(VOCAB), len(VOCAB) + 1] + [0] * (MAX_LENGTH - 2), ids  # BOS, EOS, then the pad token "!"
    prompt_embeds = pipe.encode_prompt([""], "cpu", 1, do_classifier_free_guidance=False)[0]
    pixels = cambrian_pixels()
    noise_chw = noise(SEED, (4, RES // 8, RES // 8))
    latents, feats = features(pipe, pixels, prompt_embeds, noise_chw)
    write_spec(case, pipe)
    side = RES // PATCH
    save_file(
        {"pixels": pixels.contiguous(), "latents": latents.contiguous(), "noise": noise_chw.contiguous(),
         "prompt_embeds": prompt_embeds.contiguous(), "features": feats.contiguous()},
        str(case / "reference.safetensors"),
        metadata={"images": ",".join(PARITY_IMAGES), "grid": f"{side},{side}", "layer": "final"},
    )
    size = sum(p.stat().st_size for p in case.rglob("*") if p.is_file()) // 1024
    print(f"{case.name}: features {tuple(feats.shape)}, |features| max {feats.abs().max():.3f}, {size} KiB")


if __name__ == "__main__":
    main()
