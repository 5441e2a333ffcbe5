//! Layers shared by several models.

pub mod attention;
pub mod layer_scale;
pub mod mlp;
pub mod rel_pos;
pub mod resample;
