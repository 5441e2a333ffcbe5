//! How library code reports progress; the CLI implements it with a progress bar.

pub trait Progress {
    fn start(&self, _total: u64, _what: &str) {}
    fn advance(&self, _done: u64) {}
    /// A short status shown beside the count (the latest loss, say).
    fn note(&self, _text: &str) {}
    fn finish(&self) {}
}

/// Reports nothing (tests, quiet runs).
pub struct Silent;

impl Progress for Silent {}
