//! Checkpoint keys of transformers' `LlamaForCausalLM`, `Qwen2ForCausalLM` and
//! `MistralForCausalLM` (also found inside LLaVA/Cambrian checkpoints, whose vision tower and
//! projector keys are left unused) → [`LlmModel`] paths. Each block's parts are listed so
//! that buffers some checkpoints carry (`self_attn.rotary_emb.inv_freq`) stay unused.

use super::model::LlmModel;
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::KeyMap;
use crate::weights::keymap::Rule::Rename;
use crate::weights::load::load_strict;

macro_rules! decoder_rows {
    ($($extra:expr),*) => {
        &[
            Rename("model.embed_tokens", "embed_tokens"),
            Rename("model.layers.#.self_attn.q_proj", "layers.#.self_attn.q_proj"),
            Rename("model.layers.#.self_attn.k_proj", "layers.#.self_attn.k_proj"),
            Rename("model.layers.#.self_attn.v_proj", "layers.#.self_attn.v_proj"),
            Rename("model.layers.#.self_attn.o_proj", "layers.#.self_attn.o_proj"),
            Rename("model.layers.#.mlp.gate_proj", "layers.#.mlp.gate_proj"),
            Rename("model.layers.#.mlp.up_proj", "layers.#.mlp.up_proj"),
            Rename("model.layers.#.mlp.down_proj", "layers.#.mlp.down_proj"),
            Rename("model.layers.#.input_layernorm", "layers.#.input_layernorm"),
            Rename("model.layers.#.post_attention_layernorm", "layers.#.post_attention_layernorm"),
            Rename("model.norm", "norm"),
            $($extra),*
        ]
    };
}

/// With its own LM head.
static UNTIED: KeyMap = KeyMap {
    layout: "transformers causal LM (Llama, Qwen2, Mistral)",
    anchor: "model.embed_tokens.weight",
    rules: decoder_rows!(Rename("lm_head", "lm_head")),
};

/// `tie_word_embeddings`: the head is the embedding; a stored `lm_head.weight` copy is unused.
static TIED: KeyMap = KeyMap {
    layout: "transformers causal LM (Llama, Qwen2, Mistral)",
    anchor: "model.embed_tokens.weight",
    rules: decoder_rows!(),
};

pub fn load(model: &mut LlmModel, checkpoint: Checkpoint) -> Result<(), WeightsError> {
    let map = if model.lm_head.is_some() { &UNTIED } else { &TIED };
    load_strict(model, checkpoint, map)
}
