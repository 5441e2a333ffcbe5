//! The loss at the supervised positions only (`Mllm::target_nll`: the LM head and the
//! log-softmax on the rows whose next token is a target) against the whole-vocabulary pass at
//! every position that transformers' `LlamaForCausalLM` runs, and the library ran before:
//! each example's negative log-likelihood (the training loss, and the likelihood scores of
//! evaluation), the gradient norm, and the LM head's gradient, on a vocabulary of 32,000 at
//! a tiny width, with images spliced in at different places, right padding, an example cut
//! by `max_length`, and both an untied and a tied head.
//!
//! Tolerances: the two paths multiply the same rows by the same head, in products of
//! different heights, so they differ by float rounding only: 1e-6 relative on every
//! negative log-likelihood and on the gradient norms, 1e-6 of the largest entry on the LM
//! head's gradient (measured: at most 1.2e-7 relative, and 2.6e-7 of the largest entry).

mod common;

use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use cambrian::connectors::{ConcatConnector, Connector, ProjectorKind};
use cambrian::encoders::Features;
use cambrian::llm::LlmModel;
use cambrian::mllm::conversation::Encoded;
use cambrian::mllm::{Example, Inputs, Mllm};
use cambrian::train::clip::squared_norm;
use common::probes::tiny_llama;

const VOCAB: usize = 32_000;
/// The hidden size of `tiny_llama`.
const WIDTH: usize = 16;
const FEATURES: usize = 8;
const GRID: [usize; 2] = [2, 2];
const MAX_LENGTH: usize = 48;

/// A tiny random Llama with a realistic vocabulary, behind a concatenation connector (no
/// encoder: the tests hand the connector features).
fn model(tied: bool, device: &Device) -> Mllm {
    device.seed(7);
    let connector = Connector::Concat(ConcatConnector::new(ProjectorKind::Mlp2xGelu, FEATURES, WIDTH, GRID, true, device));
    Mllm { encoders: Vec::new(), connector, llm: LlmModel::new(&tiny_llama(VOCAB, tied, 0.02), device) }
}

/// A conversation's length, its answers as spans of positions, and where its image goes.
type ConversationShape = (usize, &'static [(usize, usize)], Option<usize>);

/// Conversations of a few shapes: ids spread over the whole vocabulary, answers as runs of
/// targets; the third is longer than `MAX_LENGTH`, so truncation cuts its last answer.
fn conversations() -> Vec<Encoded> {
    let shapes: [ConversationShape; 4] = [
        (20, &[(8, 14), (17, 20)], Some(3)),
        (9, &[(5, 9)], None),
        (70, &[(10, 30), (40, 70)], Some(1)),
        (31, &[(12, 31)], Some(12)),
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(k, (len, answers, image_at))| Encoded {
            ids: (0..*len).map(|i| 3 + ((i * 7919 + k * 104_729) % (VOCAB - 3)) as u32).collect(),
            targets: (0..*len).map(|i| answers.iter().any(|(a, b)| (*a..*b).contains(&i))).collect(),
            image_at: *image_at,
        })
        .collect()
}

/// The batch's inputs with each shown image's embeddings from the connector (on fixed
/// features), so that the connector is on the gradient's path.
fn inputs(model: &Mllm, conversations: &[Encoded], device: &Device) -> Inputs {
    let shown = conversations.iter().filter(|c| c.image_at.is_some()).count();
    let shape = [shown, GRID[0] * GRID[1], FEATURES];
    let features: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| (i as f32 * 0.37).sin()).collect();
    let tokens = Tensor::from_data(TensorData::new(features, shape), device);
    let vision = model.embed_features(vec![Features { tokens, grid: GRID }], &vec![[32, 32]; shown]).unwrap();
    let mut next_image = 0;
    let examples: Vec<Example> = conversations
        .iter()
        .map(|encoded| Example {
            encoded,
            image: encoded.image_at.map(|_| {
                next_image += 1;
                next_image - 1
            }),
        })
        .collect();
    model.splice(&examples, Some(&vision), MAX_LENGTH, device)
}

/// The reference, laid out from the conversations on its own: logits over the whole
/// vocabulary at every position, their log-softmax, the log-probability of each position's
/// next token where that token is a target, summed per example and negated. [batch]
fn full_vocabulary_nll(model: &Mllm, inputs: &Inputs, conversations: &[Encoded]) -> Tensor<1> {
    let [batch, positions, _] = inputs.embeds.dims();
    let image_tokens = model.connector.image_tokens();
    let (mut next_ids, mut mask) = (vec![0i64; batch * positions], vec![0f32; batch * positions]);
    for (b, c) in conversations.iter().enumerate() {
        // Per position: the text token there (id, is target), or None for an image token.
        let text = c.ids.iter().zip(&c.targets).map(|(id, t)| Some((*id, *t)));
        let at = c.image_at.unwrap_or(c.ids.len());
        let shown = if c.image_at.is_some() { image_tokens } else { 0 };
        let layout: Vec<Option<(u32, bool)>> =
            text.clone().take(at).chain(std::iter::repeat_n(None, shown)).chain(text.skip(at)).take(MAX_LENGTH).collect();
        for (t, next) in layout.iter().skip(1).enumerate() {
            if let Some((id, true)) = next {
                next_ids[b * positions + t] = *id as i64;
                mask[b * positions + t] = 1.0;
            }
        }
    }
    let device = inputs.embeds.device();
    let next_ids = Tensor::<2, Int>::from_data(TensorData::new(next_ids, [batch, positions]), &device);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, positions]), &device);
    // [batch, positions, vocab]
    let log_probs = log_softmax(model.llm.logits(model.decode(inputs)), 2);
    let picked = log_probs.gather(2, next_ids.unsqueeze_dim::<3>(2)).reshape([batch, positions]);
    (picked * mask).sum_dim(1).reshape([batch]).neg()
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

fn assert_close(what: &str, ours: f64, reference: f64, relative: f64) {
    let scale = reference.abs().max(1e-12);
    assert!((ours - reference).abs() / scale <= relative, "{what}: targets only {ours}, full vocabulary {reference}");
}

/// The loss as the stage computes it: the summed target NLL over the target count.
fn loss(nll: Tensor<1>, targets: usize) -> Tensor<1> {
    nll.sum().div_scalar(targets as f64)
}

/// The LLM's and the connector's gradient norms, and the LM head's (or tied embedding's)
/// gradient, after a backward pass of `loss`.
fn gradients(model: &Mllm, loss: Tensor<1>, tied: bool) -> (f64, f64, Vec<f64>) {
    let mut grads = loss.backward();
    let mut llm = GradientsParams::from_module(&mut grads, &model.llm);
    let mut connector = GradientsParams::from_module(&mut grads, &model.connector);
    let head_id = match &model.llm.lm_head {
        Some(head) if !tied => head.weight.id,
        _ => model.llm.embed_tokens.weight.id,
    };
    let head: Tensor<2> = llm.get(head_id).expect("a gradient for the head");
    (squared_norm(&model.llm, &mut llm).sqrt(), squared_norm(&model.connector, &mut connector).sqrt(), values(head))
}

fn targets_only_equals_full_vocabulary(tied: bool) {
    let conversations = conversations();

    // Scoring, as evaluation runs it: off the autodiff graph.
    let device = Device::flex();
    let scorer = model(tied, &device);
    let batch = inputs(&scorer, &conversations, &device);
    assert_eq!(batch.targets, [9, 4, 22, 19], "the third example's last answer is cut by max_length");
    assert_eq!(batch.embeds.dims(), [4, MAX_LENGTH, WIDTH]);
    let ours = values(scorer.target_nll(&batch));
    let reference = values(full_vocabulary_nll(&scorer, &batch, &conversations));
    for (b, (o, r)) in ours.iter().zip(&reference).enumerate() {
        // About ln 32000 ≈ 10.4 nats per target: a random model is near uniform.
        assert!(*r > 9.0 * batch.targets[b] as f64, "example {b}: {r}");
        assert_close(&format!("example {b}'s NLL"), *o, *r, 1e-6);
    }

    // Training: the same model on the autodiff device, each path's backward pass on its own graph.
    let device = Device::flex().autodiff();
    let trained = model(tied, &device);
    let total: usize = batch.targets.iter().sum();
    let batch = inputs(&trained, &conversations, &device);
    let ours = gradients(&trained, loss(trained.target_nll(&batch), total), tied);
    let batch = inputs(&trained, &conversations, &device);
    let reference = gradients(&trained, loss(full_vocabulary_nll(&trained, &batch, &conversations), total), tied);
    assert!(reference.0 > 0.0 && reference.1 > 0.0);
    assert_close("LLM gradient norm", ours.0, reference.0, 1e-6);
    assert_close("connector gradient norm", ours.1, reference.1, 1e-6);
    let largest = reference.2.iter().fold(0f64, |m, v| m.max(v.abs()));
    let worst = ours.2.iter().zip(&reference.2).fold(0f64, |m, (o, r)| m.max((o - r).abs()));
    assert!(worst <= 1e-6 * largest, "LM head gradient: differs by {worst}, largest entry {largest}");
}

#[test]
fn targets_only_loss_and_gradients_equal_the_full_vocabulary_pass() {
    targets_only_equals_full_vocabulary(false);
}

#[test]
fn targets_only_with_a_tied_head_equals_the_full_vocabulary_pass() {
    targets_only_equals_full_vocabulary(true);
}
