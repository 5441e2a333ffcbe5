//! Checkpoints on disk → module parameters: reading safetensors and PyTorch pickles
//! (`checkpoint`), renaming checkpoint keys to module paths (`keymap`), strict loading with a
//! report (`load`), and finding preset weights in the Hugging Face cache (`hub`) or at a plain
//! address (`url`).

pub mod checkpoint;
pub mod hub;
pub mod keymap;
pub mod load;
mod params;
mod pickle;
pub mod sorted;
pub mod url;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("weights not found: {0}")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: no weights file in this folder (looked for {looked_for})")]
    NoWeightsInDir { path: PathBuf, looked_for: String },
    #[error("{origin}: no tensor ends with `{anchor}`, so this is not a {layout} checkpoint")]
    WrongLayout { origin: String, anchor: String, layout: String },
    #[error("{origin}: missing tensor `{key}`{}", closest_hint(.closest))]
    Missing { origin: String, key: String, closest: Option<String> },
    #[error("{origin}: tensor `{key}` has shape {found:?}, the model expects {expected:?}")]
    Shape { origin: String, key: String, found: Vec<usize>, expected: Vec<usize> },
    #[error(
        "{origin}: tensor `{key}` has no place in the model (it would be `{param}`); does the spec's size match the checkpoint?"
    )]
    Unexpected { origin: String, key: String, param: String },
    #[error("{origin}: tensor `{key}`: {message}")]
    Tensor { origin: String, key: String, message: String },
    #[error("{0}")]
    Hub(String),
}

fn closest_hint(closest: &Option<String>) -> String {
    match closest {
        Some(key) => format!(" (closest key in the checkpoint: `{key}`)"),
        None => String::new(),
    }
}
