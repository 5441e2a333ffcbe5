//! `cambrian`: a workbench for choosing the vision encoders of a multimodal LLM, after
//! Cambrian-1 (Tong et al., 2024). The binary is a thin layer over this library.

pub mod atomic;
pub mod bench;
pub mod cli;
pub mod connectors;
pub mod data;
pub mod device;
pub mod encoders;
pub mod eval;
pub mod features;
pub mod llm;
pub mod mllm;
pub mod nn;
pub mod plot;
pub mod pretrain;
pub mod progress;
pub mod results;
pub mod sweep;
#[cfg(test)]
mod test_dir;
pub mod train;
pub mod weights;
