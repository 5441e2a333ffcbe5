//! Connectors: encoder features → LLM input embeddings. The study's encoder comparison uses
//! `mlp2x_gelu` on one encoder; several encoders are combined by interpolating each map to a
//! common grid and concatenating channels before the projector (`concat`). Cambrian-1's
//! Spatial Vision Aggregator (`sva`) cross-attends from a learned query grid to every
//! encoder's local windows, before and inside the LLM. The connectors of later MLLMs take the
//! concatenation's input and reduce the tokens: Honeybee's C-Abstractor (`c_abstractor`),
//! InternVL's pixel shuffle (`pixel_shuffle`), Flamingo's Perceiver resampler (`perceiver`)
//! and MobileVLM's LDP (`ldp`).

pub mod c_abstractor;
pub mod concat;
pub mod ldp;
pub mod perceiver;
pub mod pixel_shuffle;
pub mod projector;
pub mod sva;

use burn::module::Module;
use burn::tensor::Tensor;

pub use c_abstractor::{CAbstractor, CAbstractorSettings};
pub use concat::ConcatConnector;
pub use ldp::{Ldp, LdpSettings, LdpType};
pub use perceiver::{Perceiver, PerceiverSettings};
pub use pixel_shuffle::{PixelShuffle, PixelShuffleSettings};
pub use projector::{Projector, ProjectorKind};
pub use sva::{SvaConnector, SvaContext, SvaError, SvaSettings};

use crate::encoders::Features;
use crate::nn::precision::Precision;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error(transparent)]
    Sva(#[from] SvaError),
    /// Settings that do not fit the encoders or the LLM; the message names the field.
    #[error("{0}")]
    Config(String),
}

// One connector per model, built once: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Connector {
    Concat(ConcatConnector),
    Sva(SvaConnector),
    CAbstractor(CAbstractor),
    PixelShuffle(PixelShuffle),
    Perceiver(Perceiver),
    Ldp(Ldp),
}

impl Connector {
    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        match self {
            Connector::Concat(c) => c.image_tokens(),
            Connector::Sva(s) => s.image_tokens(),
            Connector::CAbstractor(c) => c.image_tokens(),
            Connector::PixelShuffle(p) => p.image_tokens(),
            Connector::Perceiver(p) => p.image_tokens(),
            Connector::Ldp(l) => l.image_tokens(),
        }
    }

    /// Whether each image reaches it at its own grid (`[connector] native`).
    pub fn takes_own_grids(&self) -> bool {
        match self {
            Connector::Concat(c) => c.own_grid_budget.is_some(),
            Connector::Perceiver(p) => p.own_grids,
            Connector::Ldp(l) => l.own_grids,
            _ => false,
        }
    }

    /// LLM positions every image takes; none when each image's follow its own grid (the
    /// concatenation and ldpnet with own grids).
    pub fn fixed_image_tokens(&self) -> Option<usize> {
        let varies = match self {
            Connector::Concat(c) => c.own_grid_budget.is_some(),
            Connector::Ldp(l) => l.own_grids && l.settings.mm_projector_type == LdpType::Ldpnet,
            _ => false,
        };
        (!varies).then(|| self.image_tokens())
    }

    /// LLM positions of an image whose map reaches the connector at `grid`: its own grid's
    /// with own grids, the fixed count otherwise.
    pub fn tokens_at(&self, grid: [usize; 2]) -> usize {
        match self {
            Connector::Concat(c) if c.own_grid_budget.is_some() => concat::tokens_with_newlines(grid, &c.image_newline),
            Connector::Ldp(l) if l.own_grids => l.tokens_at(grid),
            other => other.image_tokens(),
        }
    }

    /// One native-resolution encoder's images at their own grids, images × [1, rows_i ×
    /// cols_i, channels] → [images, longest, hidden] (image i's first positions its own,
    /// zeros after) and each image's positions: the concatenation's and ldpnet's follow each
    /// grid, the Perceiver's are its latents, ldpnetv2's its 12 × 12 pool.
    pub fn forward_own_grids(&self, images: Vec<Features>) -> Result<(Tensor<3>, Vec<usize>), ConnectorError> {
        match self {
            Connector::Concat(c) => Ok(c.forward_own_grids(images)),
            Connector::Perceiver(p) => {
                let count = images.len();
                Ok((p.forward_own_grids(images), vec![p.image_tokens(); count]))
            }
            Connector::Ldp(l) => Ok(l.forward_own_grids(images)),
            _ => Err(ConnectorError::Config(
                "only the concatenation, the Perceiver and the LDP take images at their own grids".into(),
            )),
        }
    }

    /// The connector with its projector computing in `precision` (the concatenation's, the
    /// Perceiver's, the SVA's `mm_projector`); the rest of each connector as it is.
    pub fn with_precision(self, precision: Precision) -> Self {
        match self {
            Connector::Concat(c) => Connector::Concat(ConcatConnector { projector: c.projector.with_precision(precision), ..c }),
            Connector::Sva(s) => Connector::Sva(SvaConnector { mm_projector: s.mm_projector.with_precision(precision), ..s }),
            Connector::Perceiver(p) => Connector::Perceiver(Perceiver { projector: p.projector.with_precision(precision), ..p }),
            other => other,
        }
    }

    /// Each encoder's features [images, tokens_i, channels_i] and each image's (width, height)
    /// before padding to square → image embeddings [images, image tokens, hidden], and for
    /// the SVA what its in-LLM samplers re-query.
    pub fn forward(
        &self,
        features: Vec<Features>,
        sizes: &[[usize; 2]],
    ) -> Result<(Tensor<3>, Option<SvaContext>), ConnectorError> {
        let tokens = match self {
            Connector::Concat(c) => c.forward(features),
            Connector::Sva(s) => return Ok(s.forward(features, sizes).map(|(tokens, context)| (tokens, Some(context)))?),
            Connector::CAbstractor(c) => c.forward(concat::gather(features, c.grid)),
            Connector::PixelShuffle(p) => p.forward(concat::gather(features, p.grid)),
            Connector::Perceiver(p) => p.forward(concat::gather(features, p.grid)),
            Connector::Ldp(l) => l.forward(concat::gather(features, l.grid)),
        };
        Ok((tokens, None))
    }
}
