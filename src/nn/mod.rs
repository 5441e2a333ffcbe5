//! Layers shared by several models.

pub mod attention;
pub mod conv;
pub mod init;
pub mod layer_scale;
pub mod mlp;
pub mod precision;
pub mod rel_pos;
pub mod resample;
pub mod rms_norm;
pub mod rope;
pub mod rope2d;
