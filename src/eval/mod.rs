//! Scoring model outputs: Cambrian's answer extraction (`answer`), the evaluation of a
//! trained probe on multiple-choice questions with both scorers (`mc`), and the benchmark
//! scorers of Cambrian-1's evaluation scripts (`score`).

pub mod answer;
pub mod mc;
pub mod score;
