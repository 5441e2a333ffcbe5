//! Data: instruction-tuning sets (LLaVA format).

pub mod llava;
