//! Training batches padded to the sequence-length buckets (`Buckets::Padded`: 64 positions
//! here instead of the longest example's) against the unpadded batches: the same per-example
//! negative log-likelihoods and the same gradient norms of the LLM and the connector, through
//! an MLP connector and the SVA. Evaluation with buckets is in tests/batched_eval.rs.
//!
//! Tolerance: 1e-6 relative (float rounding of products of different heights).

mod common;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use cambrian::mllm::batch::Side;
use cambrian::mllm::buckets::Buckets;
use cambrian::mllm::{Example, Mllm};
use cambrian::train::clip::squared_norm;
use common::probes::{Kind, model, questions, vision};

const MAX_LENGTH: usize = 96;

fn values(t: Tensor<1>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_into_vec::<f64>().unwrap()
}

/// Per example NLLs, and the gradient norms of the LLM and the connector after the summed
/// NLL's backward pass, over every question's first two choices as training examples.
fn step(kind: Kind, buckets: Buckets) -> (Vec<f64>, usize, f64, f64) {
    let device = Device::flex().autodiff();
    let model: Mllm = model(kind, &device);
    let (questions, images) = questions();
    let vision = vision(&model, images, &device);
    let examples: Vec<Example> =
        questions.iter().flat_map(|q| q.answered.iter().take(2).map(|encoded| Example { encoded, image: q.image })).collect();
    let inputs = model.splice_padded(&examples, Some(&vision), MAX_LENGTH, Side::Right, buckets, &device);
    let positions = inputs.embeds.dims()[1];
    let nll = model.target_nll(&inputs);
    let per_example = values(nll.clone());
    let mut grads = nll.sum().backward();
    let mut llm = GradientsParams::from_module(&mut grads, &model.llm);
    let mut connector = GradientsParams::from_module(&mut grads, &model.connector);
    (per_example, positions, squared_norm(&model.llm, &mut llm).sqrt(), squared_norm(&model.connector, &mut connector).sqrt())
}

fn close(what: &str, a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-6 * b.abs(), "{what}: bucketed {a}, unpadded {b}");
}

#[test]
fn bucketed_training_batches_give_the_same_losses_and_gradients() {
    for kind in [Kind::Mlp, Kind::Sva] {
        let exact = step(kind, Buckets::Exact);
        let padded = step(kind, Buckets::Padded);
        assert!(exact.1 < 64 && padded.1 == 64, "{kind:?}: {} and {} positions", exact.1, padded.1);
        for (b, (p, e)) in padded.0.iter().zip(&exact.0).enumerate() {
            close(&format!("{kind:?} example {b}'s NLL"), *p, *e);
        }
        assert!(exact.2 > 0.0 && exact.3 > 0.0);
        close(&format!("{kind:?} LLM gradient norm"), padded.2, exact.2);
        close(&format!("{kind:?} connector gradient norm"), padded.3, exact.3);
    }
}
