//! CV-Bench (Cambrian-1 §2.2): the released benchmark's schema, a builder that turns
//! COCO-format instance annotations and Omni3D 3D annotations into its four tasks, and
//! loaders for the released files and for a generic multiple-choice JSONL format.

pub mod build;
pub mod coco;
pub mod load;
pub mod omni3d;
pub mod rules;
pub mod schema;
pub mod write;
