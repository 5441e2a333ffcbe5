//! The CLI's progress reporter: an indicatif bar on stderr, drawn only when stderr is a
//! terminal (a log file gets clean lines), reusable for several phases in turn.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn new(quiet: bool) -> Self {
        Self((!quiet && std::io::stderr().is_terminal()).then(ProgressBar::no_length))
    }

    /// `count` bars drawn one above the other (a sweep's, then its run's).
    pub fn stacked(quiet: bool, count: usize) -> Vec<Self> {
        let multi = MultiProgress::new();
        (0..count).map(|_| Self(Self::new(quiet).0.map(|bar| multi.add(bar)))).collect()
    }
}

impl Progress for Bar {
    fn start(&self, total: u64, what: &str) {
        if let Some(bar) = &self.0 {
            bar.reset();
            bar.set_length(total);
            let template = format!("{{bar:30}} {{pos}}/{{len}} {what} [{{elapsed}} < {{eta}}] {{msg}}");
            bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        }
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(done);
        }
    }

    fn note(&self, text: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(text.to_string());
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
