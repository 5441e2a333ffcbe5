//! Connectors: encoder features → LLM input embeddings. The study's encoder comparison uses
//! `mlp2x_gelu` on one encoder; several encoders are combined by interpolating each map to a
//! common grid and concatenating channels before the projector (`concat`). The SVA has its
//! own module.

pub mod concat;
pub mod projector;

pub use concat::ConcatConnector;
pub use projector::{Projector, ProjectorKind};
