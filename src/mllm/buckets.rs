//! Sequence-length buckets: a batch's positions padded up to one of a few lengths, so that a
//! backend that compiles and autotunes a kernel per shape (the CubeCL GPU backends) meets a
//! handful of shapes instead of one per batch. The lengths are the multiples of 64 up to
//! 512, then the powers of two (1024, 2048, ...), never past `max_length` and never below
//! the batch's own length. Padding is masked (right padding under the causal mask, left
//! padding through the cache's pads), so results do not change (tests/buckets.rs).
//!
//! On by default on the GPU backends; off on the CPU, where a padded position costs what a
//! real one does and no kernel is compiled per shape (docs/PERFORMANCE.md has the cost).

use burn::tensor::Device;

/// Multiples of this up to [`LINEAR_UP_TO`], then powers of two.
const STEP: usize = 64;
const LINEAR_UP_TO: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buckets {
    /// Each batch as long as its longest example.
    Exact,
    /// Padded to the bucket lengths.
    Padded,
}

impl Buckets {
    /// The default for `device`: padded except on the CPU backend.
    pub fn for_device(device: &Device) -> Self {
        if device.clone().inner() == Device::flex() { Buckets::Exact } else { Buckets::Padded }
    }

    /// The length a batch whose longest example has `len` positions is padded to.
    pub fn length(self, len: usize, max_length: usize) -> usize {
        let bucket = match self {
            Buckets::Exact => return len,
            Buckets::Padded if len <= LINEAR_UP_TO => len.div_ceil(STEP).max(1) * STEP,
            Buckets::Padded => len.next_power_of_two(),
        };
        bucket.min(max_length).max(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_the_documented_buckets() {
        let padded = |len| Buckets::Padded.length(len, 4096);
        assert_eq!([padded(1), padded(64), padded(65), padded(500), padded(513), padded(1025)], [64, 64, 128, 512, 1024, 2048]);
        assert_eq!(Buckets::Padded.length(300, 300), 300, "capped at max_length");
        assert_eq!(Buckets::Padded.length(70, 100), 100);
        assert_eq!(Buckets::Exact.length(70, 100), 70);
    }
}
