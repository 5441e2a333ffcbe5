//! Connectors: encoder features → LLM input embeddings. The study's encoder comparison uses
//! `mlp2x_gelu` on one encoder; several encoders are combined by interpolating each map to a
//! common grid and concatenating channels before the projector (`concat`). Cambrian-1's
//! Spatial Vision Aggregator (`sva`) cross-attends from a learned query grid to every
//! encoder's local windows, before and inside the LLM.

pub mod concat;
pub mod projector;
pub mod sva;

use burn::module::Module;
use burn::tensor::Tensor;

pub use concat::ConcatConnector;
pub use projector::{Projector, ProjectorKind};
pub use sva::{SvaConnector, SvaContext, SvaError, SvaSettings};

use crate::encoders::Features;

// One connector per model, built once: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Connector {
    Concat(ConcatConnector),
    Sva(SvaConnector),
}

impl Connector {
    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        match self {
            Connector::Concat(c) => c.image_tokens(),
            Connector::Sva(s) => s.image_tokens(),
        }
    }

    /// Each encoder's features [images, tokens_i, channels_i] and each image's (width, height)
    /// before padding to square → image embeddings [images, image tokens, hidden], and for
    /// the SVA what its in-LLM samplers re-query.
    pub fn forward(&self, features: Vec<Features>, sizes: &[[usize; 2]]) -> Result<(Tensor<3>, Option<SvaContext>), SvaError> {
        match self {
            Connector::Concat(c) => Ok((c.forward(features), None)),
            Connector::Sva(s) => s.forward(features, sizes).map(|(tokens, context)| (tokens, Some(context))),
        }
    }
}
