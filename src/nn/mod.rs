//! Layers shared by several models.

pub mod attention;
pub mod layer_scale;
pub mod mlp;
pub mod resample;
pub mod rope2d;
