//! Scoring model outputs: a benchmark's questions from whatever source names them
//! (`questions`), the evaluation of a trained probe on them with both scorers (`evaluate`),
//! Cambrian's answer extraction (`answer`) and the benchmark scorers of Cambrian-1's
//! evaluation scripts (`score`).

pub mod answer;
pub mod batched;
pub mod evaluate;
pub mod questions;
pub mod score;
