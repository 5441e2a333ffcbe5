//! Multiple-choice scoring from the prompt's cache (`eval::batched::ask`: the prompt run once,
//! every choice's answer tokens continued from its keys and values, the SVA's in-LLM
//! aggregation in the prompt's pass) against each choice scored on its own sequence as
//! training lays it out (`Mllm::target_nll` over the whole conversation), on eight questions
//! with two to four choices of one to five answer tokens, with and without images, through an
//! MLP connector and through the SVA.
//!
//! Tolerance: `probes::same_log_likelihood` (1e-6 relative) on every log-likelihood. The two
//! paths compute the same products over different batch shapes, so they differ by float
//! rounding only. The chosen choice is the same for every question.

mod common;

use burn::tensor::Device;
use cambrian::eval::batched::{Settings, ask};
use cambrian::mllm::Example;
use cambrian::mllm::batch::Side;
use cambrian::mllm::buckets::Buckets;
use common::probes::{Kind, Question, asked, model, question, questions, same_log_likelihood, vision};

const MAX_LENGTH: usize = 64;

fn settings(buckets: Buckets) -> Settings<'static> {
    Settings { max_length: MAX_LENGTH, max_new_tokens: 4, eos_token_ids: &[2], buckets }
}

fn best(values: &[f64]) -> usize {
    (0..values.len()).fold(0, |b, j| if values[j] > values[b] { j } else { b })
}

/// Each choice of `question` scored on its own: the whole conversation through the LLM.
fn separately(model: &cambrian::mllm::Mllm, question: &Question, vision: &cambrian::mllm::ImageEmbeddings) -> Vec<f64> {
    let device = Device::flex();
    let examples: Vec<Example> = question.answered.iter().map(|encoded| Example { encoded, image: question.image }).collect();
    let inputs = model.splice_padded(&examples, Some(vision), MAX_LENGTH, Side::Right, Buckets::Exact, &device);
    let nll = model.target_nll(&inputs).into_data().convert::<f64>().try_into_vec::<f64>().unwrap();
    nll.iter().map(|v| -v).collect()
}

fn shared_prefix_equals_separate(kind: Kind) {
    let device = Device::flex();
    let model = model(kind, &device);
    let (questions, images) = questions();
    let vision = vision(&model, images, &device);
    let mut worst = 0f64;
    for (k, asked) in asked(&questions).iter().enumerate() {
        let answers = ask(&model, std::slice::from_ref(asked), Some(&vision), &settings(Buckets::Exact), &device).unwrap();
        assert_eq!(answers.scored_separately, 0, "question {k} shares its prompt");
        let shared = &answers.log_likelihoods[0];
        let reference = separately(&model, &questions[k], &vision);
        assert_eq!(shared.len(), reference.len());
        for (c, (s, r)) in shared.iter().zip(&reference).enumerate() {
            assert!(*r < -1.0, "question {k} choice {c}: {r}");
            assert!(same_log_likelihood(*s, *r), "{kind:?} question {k} choice {c}: shared {s}, separate {r}");
            worst = worst.max((s - r).abs());
        }
        assert_eq!(best(shared), best(&reference), "{kind:?} question {k}: the chosen letter");
    }
    eprintln!("{kind:?}: largest difference {worst:.2e}");
}

#[test]
fn shared_prefix_scores_equal_separate_scoring_through_an_mlp_connector() {
    shared_prefix_equals_separate(Kind::Mlp);
}

#[test]
fn shared_prefix_scores_equal_separate_scoring_through_the_sva_inside_the_llm() {
    shared_prefix_equals_separate(Kind::Sva);
}

/// A tokenizer that merges the prompt's last token with an answer's first gives a choice
/// whose ids do not begin with the prompt's: that question's choices are scored on their own
/// sequences (counted), with the same values as separately.
#[test]
fn choices_that_do_not_begin_with_the_prompt_are_scored_on_their_own() {
    let device = Device::flex();
    let model = model(Kind::Mlp, &device);
    let mut images = 0;
    let mut merged = question(0, 10, Some(3), &[2, 3], &mut images);
    merged.answered[1].ids[9] += 1;
    let plain = question(1, 7, None, &[1, 2], &mut images);
    let vision = vision(&model, images, &device);
    let questions = [merged, plain];
    let answers = ask(&model, &asked(&questions), Some(&vision), &settings(Buckets::Exact), &device).unwrap();
    assert_eq!(answers.scored_separately, 1);
    for (k, question) in questions.iter().enumerate() {
        let reference = separately(&model, question, &vision);
        for (s, r) in answers.log_likelihoods[k].iter().zip(&reference) {
            assert!(same_log_likelihood(*s, *r), "question {k}: {s} against {r}");
        }
    }
}
