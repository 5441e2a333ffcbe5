//! Cambrian-1 checkpoint keys → [`SvaConnector`] paths. The keys are those of the released
//! `CambrianLlamaForCausalLM` under `model.` (a full `model.safetensors` / shards, or the
//! stage-1 `mm_projector.bin`, which keeps the same names). The module's fields carry the
//! released names; the table only turns `name_{i}` into the list entry `name.i` and names
//! the positions of `nn.Sequential`s:
//!
//! | checkpoint                                   | module                                  |
//! |----------------------------------------------|-----------------------------------------|
//! | `mm_projector_aux_{i}.0/.2/.3`               | `mm_projector_aux.{i}.fc1/fc2/norm`     |
//! | `vision_sampler_{g}.layers.{d}.…`            | `vision_sampler.{g}.layers.{d}.…`       |
//! | `vision_sampler_layers.{k}.layers.0.…`       | the same                                |
//! | `….cross_attn.q_proj.0/.1`                   | `….cross_attn.q_proj.norm/linear`       |
//! | `….cross_attn.{k,v}_proj_{i}.0/.1`           | `….cross_attn.{k,v}_proj.{i}.norm/linear` |
//! | `….pos_embed_{i}`                            | `….pos_embed.{i}`                       |
//! | `mm_projector.0/.2`                          | `mm_projector.fc1/fc2`                  |
//! | `vision_query`, `image_newline`              | the same                                |
//!
//! The LLM's and the towers' tensors of a full checkpoint are left unused here.

use super::SvaConnector;
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::KeyMap;
use crate::weights::keymap::Rule::Rename;
use crate::weights::load::load_strict;

/// `$row`s after the rows of each sampler list: `$from` is the list's checkpoint name up to
/// the sampler's index, `$to` its module path. Its own parts come first, then the rest of the
/// sampler (`proj_context`, `proj_in`, `proj_out.linear_1/2`, `norm`, `cross_attn.o_proj`),
/// whose names are unchanged.
macro_rules! rules {
    ([$(($from:literal, $to:literal)),*], [$($row:expr),* $(,)?]) => {
        &[
            $(
                Rename(concat!($from, ".layers.#.cross_attn.q_proj.0"), concat!($to, ".layers.#.cross_attn.q_proj.norm")),
                Rename(concat!($from, ".layers.#.cross_attn.q_proj.1"), concat!($to, ".layers.#.cross_attn.q_proj.linear")),
                Rename(concat!($from, ".layers.#.cross_attn.k_proj_#.0"), concat!($to, ".layers.#.cross_attn.k_proj.#.norm")),
                Rename(concat!($from, ".layers.#.cross_attn.k_proj_#.1"), concat!($to, ".layers.#.cross_attn.k_proj.#.linear")),
                Rename(concat!($from, ".layers.#.cross_attn.v_proj_#.0"), concat!($to, ".layers.#.cross_attn.v_proj.#.norm")),
                Rename(concat!($from, ".layers.#.cross_attn.v_proj_#.1"), concat!($to, ".layers.#.cross_attn.v_proj.#.linear")),
                Rename(concat!($from, ".layers.#.pos_embed_#"), concat!($to, ".layers.#.pos_embed.#")),
                Rename($from, $to),
            )*
            $($row),*
        ]
    };
}

static KEYS: KeyMap = KeyMap {
    layout: "Cambrian-1 SVA",
    anchor: "vision_query",
    rules: rules!(
        [("vision_sampler_#", "vision_sampler.#"), ("vision_sampler_layers.#", "vision_sampler_layers.#")],
        [
            Rename("mm_projector_aux_#.0", "mm_projector_aux.#.fc1"),
            Rename("mm_projector_aux_#.2", "mm_projector_aux.#.fc2"),
            Rename("mm_projector_aux_#.3", "mm_projector_aux.#.norm"),
            Rename("mm_projector.0", "mm_projector.fc1"),
            Rename("mm_projector.2", "mm_projector.fc2"),
            Rename("vision_query", "vision_query"),
            Rename("image_newline", "image_newline"),
        ]
    ),
};

impl SvaConnector {
    /// Loads every SVA tensor strictly: a missing or mis-shaped one is an error naming its
    /// checkpoint key; in-LLM samplers in the file but not in the settings are refused.
    pub fn load(&mut self, checkpoint: Checkpoint) -> Result<(), WeightsError> {
        load_strict(self, checkpoint, &KEYS)
    }
}
