//! Training primitives of the study's recipe that burn does not provide in the form the
//! recipe needs: the warmup + cosine learning-rate schedule of transformers, and gradient
//! clipping by the global norm over every parameter (burn clips per tensor).

pub mod clip;
pub mod schedule;
