//! Scoring model outputs on multiple-choice questions.

pub mod answer;
