//! Layers shared by several models.

pub mod attention;
pub mod bilinear;
pub mod layer_scale;
pub mod mlp;
pub mod resample;
