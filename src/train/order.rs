//! The data order: every epoch is a permutation of the examples, drawn from (seed, stage,
//! epoch) alone, and the stage reads the epochs back to back. Optimizer step s takes
//! positions s·batch .. (s+1)·batch of that stream, so a resumed run needs only the step to
//! see the same examples in the same order.
//!
//! With `group_by_length` (the HF Trainer's `group_by_length`, `LengthGroupedSampler`) each
//! epoch's permutation is cut into megabatches of up to 50 optimizer steps (a quarter of the
//! epoch when it is shorter, at least one step), and each megabatch is sorted longest first
//! by [`LengthKey`]: examples with an image before those without (LLaVA's and Cambrian's
//! `group_by_modality_length` keeps the two apart), then by text tokens. A micro-batch then
//! holds examples of similar length, and right padding costs little. It changes the data
//! order: which examples share an optimizer step, and the order within an epoch (each
//! megabatch runs from its longest examples to its shortest); every epoch still covers every
//! example once, and the order is still a function of (seed, stage, epoch) and the lengths,
//! so a resumed run sees the same order. LLaVA's sampler does something else inside a step:
//! it balances the total length of the step's per-device chunks (`split_to_even_chunks`)
//! rather than grouping similar lengths, which on one device groups nothing.

use std::cmp::Reverse;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::config::StageConfig;
use crate::data::llava::Sample;
use crate::llm::LlmError;
use crate::llm::chat::Template;
use crate::llm::tokenizer::LlmTokenizer;
use crate::mllm::conversation::encode;

/// Optimizer steps per megabatch at most (the HF Trainer's `mega_batch_mult`).
const MEGABATCH_STEPS: usize = 50;

/// What length grouping sorts by, largest first: whether the example shows an image, then
/// its text tokens (LLaVA's `modality_lengths`, in tokens rather than words).
pub type LengthKey = (bool, usize);

pub struct DataOrder {
    examples: usize,
    seed: u64,
    stage: u64,
    /// Each example's key and the examples per optimizer step, when grouping by length.
    grouping: Option<(Vec<LengthKey>, usize)>,
    epoch: Option<(u64, Vec<usize>)>,
}

impl DataOrder {
    pub fn new(examples: usize, seed: u64, stage: u64) -> Self {
        Self { examples, seed, stage, grouping: None, epoch: None }
    }

    /// The same order with every megabatch of `batch`-example steps sorted by `keys` (one per
    /// example), as the module says.
    pub fn grouped_by_length(self, keys: Vec<LengthKey>, batch: usize) -> Self {
        assert_eq!(keys.len(), self.examples, "one length key per example");
        Self { grouping: Some((keys, batch.max(1))), ..self }
    }

    /// The example at stream position `position`.
    pub fn at(&mut self, position: u64) -> usize {
        let n = self.examples as u64;
        let epoch = position / n;
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.epoch = Some((epoch, self.epoch_order(epoch)));
        }
        self.epoch.as_ref().expect("just set").1[(position % n) as usize]
    }

    fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.examples).collect();
        let stream = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (self.stage << 32) ^ epoch;
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream));
        if let Some((keys, batch)) = &self.grouping {
            let megabatch = batch * (self.examples / (4 * batch)).clamp(1, MEGABATCH_STEPS);
            for chunk in order.chunks_mut(megabatch) {
                // Stable: examples of equal key keep the permutation's order.
                chunk.sort_by_key(|&i| Reverse(keys[i]));
            }
        }
        order
    }
}

/// The data order of a stage over `samples` (its usable records, in file order), grouped by
/// length when the stage says so: each conversation is then tokenized with the stage's
/// template to count its text tokens.
pub fn stage_order(
    config: &StageConfig,
    samples: &[Sample],
    tokenizer: &LlmTokenizer,
    template: Template,
    seed: u64,
    stage: u8,
) -> Result<DataOrder, LlmError> {
    let order = DataOrder::new(samples.len(), seed, stage as u64);
    if !config.group_by_length {
        return Ok(order);
    }
    let keys = samples
        .iter()
        .map(|s| Ok((s.image.is_some(), encode(tokenizer, template, &s.turns, s.image.is_some())?.ids.len())))
        .collect::<Result<Vec<LengthKey>, LlmError>>()?;
    Ok(order.grouped_by_length(keys, config.batch_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_and_reproducible() {
        let mut order = DataOrder::new(7, 3, 1);
        let first: Vec<usize> = (0..14).map(|p| order.at(p)).collect();
        for epoch in first.chunks(7) {
            let mut sorted = epoch.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..7).collect::<Vec<_>>());
        }
        assert_ne!(first[..7], first[7..], "epochs are shuffled apart");
        let mut again = DataOrder::new(7, 3, 1);
        assert_eq!((5..14).map(|p| again.at(p)).collect::<Vec<_>>(), first[5..]);
        let mut other_stage = DataOrder::new(7, 3, 2);
        assert_ne!((0..7).map(|p| other_stage.at(p)).collect::<Vec<_>>(), first[..7]);
    }

    /// Keys of a LLaVA-1.5-shaped instruction mix: its sources in their proportions (LLaVA-1.5,
    /// Table 7: 664k conversations), each source's text tokens spread uniformly over a range
    /// assumed for it (an assumption: the file is not at hand); ShareGPT is the text-only part.
    fn llava_shaped(examples: usize, seed: u64) -> Vec<LengthKey> {
        use rand::Rng;
        // (thousands of conversations, text tokens from, to, shows an image)
        const SOURCES: [(usize, usize, usize, bool); 5] = [
            (158, 150, 700, true),  // LLaVA-Instruct: conversations, detailed descriptions, reasoning
            (40, 300, 1800, false), // ShareGPT, text only
            (310, 40, 250, true),   // VQAv2, GQA, OK-VQA, OCR-VQA, A-OKVQA: rounds of short answers
            (22, 30, 60, true),     // TextCaps: one caption
            (134, 80, 400, true),   // RefCOCO, Visual Genome: rounds about regions
        ];
        let total: usize = SOURCES.iter().map(|s| s.0).sum();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut draw = || {
            let mut pick = rng.random_range(0..total);
            for &(thousands, from, to, image) in &SOURCES {
                if pick < thousands {
                    return (image, rng.random_range(from..to));
                }
                pick -= thousands;
            }
            unreachable!("pick < total")
        };
        (0..examples).map(|_| draw()).collect()
    }

    /// Over `steps` steps of `order`: the examples' positions, and what their micro-batches
    /// forward (each as long as its longest example), with LLaVA-1.5's 576 image tokens
    /// (CLIP-L/336) and maximum length 2048.
    fn padded_positions(order: &mut DataOrder, keys: &[LengthKey], steps: u64, batch: u64, micro: usize) -> (usize, usize) {
        let length = |&(image, text): &LengthKey| (text + if image { 576 } else { 0 }).min(2048);
        let (mut real, mut padded) = (0, 0);
        for step in 0..steps {
            let examples: Vec<usize> = (step * batch..(step + 1) * batch).map(|p| order.at(p)).collect();
            for chunk in examples.chunks(micro) {
                real += chunk.iter().map(|&i| length(&keys[i])).sum::<usize>();
                padded += chunk.len() * chunk.iter().map(|&i| length(&keys[i])).max().unwrap_or(0);
            }
        }
        (real, padded)
    }

    #[test]
    fn grouping_by_length_keeps_every_example_once_and_cuts_padding() {
        let (n, batch, micro) = (4000, 16, 4);
        let keys = llava_shaped(n, 5);
        let mut grouped = DataOrder::new(n, 3, 2).grouped_by_length(keys.clone(), batch);
        let first: Vec<usize> = (0..2 * n as u64).map(|p| grouped.at(p)).collect();
        for epoch in first.chunks(n) {
            let mut sorted = epoch.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "every example once per epoch");
        }
        // Megabatches of 50 steps of 16, each sorted longest first.
        for megabatch in first[..n].chunks(50 * batch) {
            assert!(megabatch.windows(2).all(|w| keys[w[0]] >= keys[w[1]]));
        }
        let mut resumed = DataOrder::new(n, 3, 2).grouped_by_length(keys.clone(), batch);
        assert_eq!((1234..2 * n as u64).map(|p| resumed.at(p)).collect::<Vec<_>>(), first[1234..], "resume sees the same order");

        let steps = (n / batch) as u64;
        for micro in [micro, batch] {
            let (real, plain) = padded_positions(&mut DataOrder::new(n, 3, 2), &keys, steps, batch as u64, micro);
            let (same, grouped) = padded_positions(&mut grouped, &keys, steps, batch as u64, micro);
            assert_eq!(real, same, "the same examples, in another order");
            let waste = |padded: usize| 1.0 - real as f64 / padded as f64;
            let (plain, grouped) = (waste(plain), waste(grouped));
            eprintln!(
                "LLaVA-shaped, batch {batch}, micro-batch {micro}: padding {:.1}% plain, {:.1}% grouped",
                100.0 * plain,
                100.0 * grouped
            );
            assert!(plain > 0.15 && grouped < plain / 4.0, "micro-batch {micro}: padding {plain} → {grouped}");
        }
    }
}
