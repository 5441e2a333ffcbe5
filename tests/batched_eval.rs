//! Evaluation a batch of questions at a time (`eval::batched::ask`: prompts left-padded into
//! one batch, the cache masking the pads, each row's rotary positions its own, rows leaving
//! the batch as they end) against one question at a time, at batch sizes 3 and 8, on eight
//! questions of prompt lengths 4 to 31 (with and without images), through an MLP connector and
//! the SVA: the same generated tokens, row for row, and the same log-likelihoods.
//!
//! Tolerance: `probes::same_log_likelihood` (1e-6 relative) on every log-likelihood (float
//! rounding of different batch shapes); replies equal token for token. The test checks that the
//! replies end at different steps, so that rows leave the batch at different times.

mod common;

use burn::tensor::Device;
use cambrian::eval::batched::{Answers, Settings, ask};
use cambrian::mllm::Mllm;
use cambrian::mllm::buckets::Buckets;
use common::probes::{Kind, VOCAB, asked, model, questions, same_log_likelihood, vision};

const NEW_TOKENS: usize = 8;

/// Every tenth token ends a reply: replies of different lengths from a random model.
fn ends() -> Vec<u32> {
    (2..VOCAB as u32).step_by(10).collect()
}

/// `model` is built once per comparison and shared by both sides: the tests of this file run
/// in parallel threads that draw from the same device's random stream, so two builds of "the
/// same" seeded model need not be equal.
fn in_batches(model: &Mllm, batch_size: usize, buckets: Buckets) -> Answers {
    let device = Device::flex();
    let (questions, images) = questions();
    let vision = vision(model, images, &device);
    let ends = ends();
    let settings = Settings { max_length: 64, max_new_tokens: NEW_TOKENS, eos_token_ids: &ends, buckets };
    let asked = asked(&questions);
    let mut all = Answers { generated: Vec::new(), log_likelihoods: Vec::new(), scored_separately: 0 };
    for batch in asked.chunks(batch_size) {
        let answers = ask(model, batch, Some(&vision), &settings, &device).unwrap();
        all.generated.extend(answers.generated);
        all.log_likelihoods.extend(answers.log_likelihoods);
        all.scored_separately += answers.scored_separately;
    }
    all
}

/// `found` gives what `reference` does: replies token for token, log-likelihoods to the tolerance.
pub fn assert_same(what: &str, found: &Answers, reference: &Answers) {
    assert_eq!(found.generated, reference.generated, "{what}: replies");
    for (k, (f, r)) in found.log_likelihoods.iter().zip(&reference.log_likelihoods).enumerate() {
        assert_eq!(f.len(), r.len());
        for (c, (a, b)) in f.iter().zip(r).enumerate() {
            assert!(same_log_likelihood(*a, *b), "{what}: question {k} choice {c}: {a} against {b}");
        }
    }
}

fn batches_equal_one_at_a_time(kind: Kind) {
    let model = model(kind, &Device::flex());
    let one = in_batches(&model, 1, Buckets::Exact);
    let lengths: Vec<usize> = one.generated.iter().map(Vec::len).collect();
    assert!(lengths.iter().any(|&l| l < NEW_TOKENS) && lengths.iter().any(|&l| l > 1), "reply lengths {lengths:?}");
    assert!(lengths.iter().min() != lengths.iter().max(), "reply lengths {lengths:?}");
    for batch_size in [3, 8] {
        assert_same(&format!("{kind:?} at batch {batch_size}"), &in_batches(&model, batch_size, Buckets::Exact), &one);
    }
}

#[test]
fn batched_replies_and_scores_equal_one_question_at_a_time_through_an_mlp_connector() {
    batches_equal_one_at_a_time(Kind::Mlp);
}

#[test]
fn batched_replies_and_scores_equal_one_question_at_a_time_through_the_sva() {
    batches_equal_one_at_a_time(Kind::Sva);
}

/// Prompts and answers padded to the length buckets (64 here) give the same answers.
#[test]
fn length_buckets_change_no_reply_or_score() {
    for kind in [Kind::Mlp, Kind::Sva] {
        let model = model(kind, &Device::flex());
        let exact = in_batches(&model, 3, Buckets::Exact);
        assert_same(&format!("{kind:?} in buckets"), &in_batches(&model, 3, Buckets::Padded), &exact);
    }
}
