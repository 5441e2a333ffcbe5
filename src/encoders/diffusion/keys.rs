//! Checkpoint key tables of the diffusers folder's three weight files (see
//! `weights::keymap`). The modules are named after diffusers' keys, so the rows mostly name
//! top-level modules; GroupNorm/LayerNorm `weight`/`bias` become burn's `gamma`/`beta` and
//! Linear weights are transposed by burn-store's PyTorch adapter.

use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};

/// `vae/diffusion_pytorch_model.safetensors`. The decoder and `post_quant_conv` are not
/// used. Checkpoints saved before diffusers 0.14 name the mid-block attention
/// `query`/`key`/`value`/`proj_attn`; both spellings load.
pub static VAE: KeyMap = KeyMap {
    layout: "diffusers AutoencoderKL",
    anchor: "encoder.conv_in.weight",
    rules: &[
        Rename("encoder.mid_block.attentions.0.query", "encoder.mid_block.attentions.0.to_q"),
        Rename("encoder.mid_block.attentions.0.key", "encoder.mid_block.attentions.0.to_k"),
        Rename("encoder.mid_block.attentions.0.value", "encoder.mid_block.attentions.0.to_v"),
        Rename("encoder.mid_block.attentions.0.proj_attn", "encoder.mid_block.attentions.0.to_out.0"),
        Rename("encoder", "encoder"),
        Rename("quant_conv", "quant_conv"),
    ],
};

/// `unet/diffusion_pytorch_model.safetensors`; `conv_norm_out`/`conv_out` come after the up
/// blocks and are not used. Feed-forward keys are renamed first (`feed_forward_names`).
pub static UNET: KeyMap = KeyMap {
    layout: "diffusers UNet2DConditionModel",
    anchor: "time_embedding.linear_1.weight",
    rules: &[
        Rename("time_embedding", "time_embedding"),
        Rename("conv_in", "conv_in"),
        Rename("down_blocks", "down_blocks"),
        Rename("mid_block", "mid_block"),
        Rename("up_blocks", "up_blocks"),
    ],
};

/// `text_encoder/model.safetensors` (transformers CLIPTextModel, keys under `text_model.` or,
/// as transformers 5 saves them, bare). q, k and v are fused into one projection.
pub static TEXT: KeyMap = KeyMap {
    layout: "transformers CLIPTextModel",
    anchor: "embeddings.token_embedding.weight",
    rules: &[
        Rename("embeddings.token_embedding", "embeddings.token_embedding"),
        Rename("embeddings.position_embedding", "embeddings.position_embedding"),
        Rename("encoder.layers.#.layer_norm1", "layers.#.layer_norm1"),
        Fuse(
            ["encoder.layers.#.self_attn.q_proj", "encoder.layers.#.self_attn.k_proj", "encoder.layers.#.self_attn.v_proj"],
            "layers.#.self_attn.qkv",
        ),
        Rename("encoder.layers.#.self_attn.out_proj", "layers.#.self_attn.proj"),
        Rename("encoder.layers.#.layer_norm2", "layers.#.layer_norm2"),
        Rename("encoder.layers.#.mlp.fc1", "layers.#.mlp.fc1"),
        Rename("encoder.layers.#.mlp.fc2", "layers.#.mlp.fc2"),
        Rename("final_layer_norm", "final_layer_norm"),
    ],
};

/// The UNet's `…ff.net.0.proj.*` and `…ff.net.2.*` (a `Sequential` whose index 1 is a
/// dropout without weights) become `…ff.net_0_proj.*` and `…ff.net_2.*`, the fields of
/// `unet::FeedForward`; a missing one is reported under the new name.
pub fn feed_forward_names(checkpoint: &mut Checkpoint) {
    let tensors = std::mem::take(&mut checkpoint.tensors);
    checkpoint.tensors = tensors
        .into_iter()
        .map(|(key, tensor)| (key.replace(".ff.net.0.proj.", ".ff.net_0_proj.").replace(".ff.net.2.", ".ff.net_2."), tensor))
        .collect();
}
