//! `cambrian`: a workbench for choosing the vision encoders of a multimodal LLM, after
//! Cambrian-1 (Tong et al., 2024). The binary is a thin layer over this library.

pub mod cli;
pub mod data;
pub mod device;
pub mod encoders;
pub mod nn;
pub mod progress;
pub mod weights;
