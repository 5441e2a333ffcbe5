//! Scoring model outputs on multiple-choice questions: Cambrian's answer extraction
//! (`answer`) and the evaluation of a trained probe with both scorers (`mc`).

pub mod answer;
pub mod mc;
