//! Connectors: encoder features → LLM input embeddings. The study's encoder comparison uses
//! `mlp2x_gelu` on one encoder; several encoders are combined by interpolating each map to a
//! common grid and concatenating channels before the projector (`concat`). Cambrian-1's
//! Spatial Vision Aggregator (`sva`) cross-attends from a learned query grid to every
//! encoder's local windows, before and inside the LLM.

pub mod concat;
pub mod projector;
pub mod sva;

pub use concat::ConcatConnector;
pub use projector::{Projector, ProjectorKind};
pub use sva::{SvaConnector, SvaSettings};
