//! Tiny random MLLMs and hand-made questions for the evaluation-path tests
//! (tests/shared_prefix.rs, tests/batched_eval.rs, tests/buckets.rs): a Llama of 2 layers
//! behind an MLP connector or the SVA (before the LLM and inside it, after layer 0), and
//! questions whose prompts, images and choices differ in length.

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::connectors::sva::{SvaConnector, SvaLayout, SvaSettings};
use cambrian::connectors::{ConcatConnector, Connector, ProjectorKind};
use cambrian::encoders::Features;
use cambrian::eval::batched::Asked;
use cambrian::llm::{LlmConfig, LlmModel};
use cambrian::mllm::conversation::Encoded;
use cambrian::mllm::{ImageEmbeddings, Mllm};

pub const VOCAB: usize = 512;

const WIDTH: usize = 16;
const CHANNELS: usize = 8;
const GRID: [usize; 2] = [4, 4];

/// Two evaluation paths of one model (batch shapes, a shared prompt's cache) agree on a
/// log-likelihood to float rounding: 1e-6 of its size (about 8 f32 ulps; the values here are
/// −10 to −60 nats). The flex backend's parallel reductions split differently with the load,
/// so the rounding moves between runs: measured up to 3.8e-6 on an idle machine and 1.1e-5 at
/// −31.3 nats (3.6e-7 of it) with a training run beside the tests, 2026-12-04. A wrong
/// position, mask or cache entry moves these by 0.1 nats or more.
pub fn same_log_likelihood(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Mlp,
    Sva,
}

/// A Llama of 2 layers, width 16, 4 heads over 2 key/value heads: small enough for a test to
/// build many, with the vocabulary, the head's tying and the initializer range a test asks for.
pub fn tiny_llama(vocab_size: usize, tie_word_embeddings: bool, initializer_range: f64) -> LlmConfig {
    LlmConfig {
        vocab_size,
        hidden_size: WIDTH,
        intermediate_size: 32,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        head_dim: WIDTH / 4,
        rms_norm_eps: 1e-6,
        rope_theta: 10_000.0,
        rope_scaling: None,
        tie_word_embeddings,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        sliding_window: None,
        eos_token_ids: vec![2],
        initializer_range,
    }
}

/// A random probe; the LLM's large initializer range makes its predictions far from uniform,
/// so that greedy replies differ from question to question.
pub fn model(kind: Kind, device: &Device) -> Mllm {
    device.seed(11);
    let connector = match kind {
        Kind::Mlp => Connector::Concat(ConcatConnector::new(ProjectorKind::Mlp2xGelu, CHANNELS, WIDTH, GRID, true, device)),
        Kind::Sva => {
            let settings = SvaSettings {
                image_token_len: 4,
                vision_hidden_size: WIDTH,
                connector_only: false,
                num_of_vision_sampler_layers: 1,
                start_of_vision_sampler_layers: 0,
                stride_of_vision_sampler_layers: 1,
                ..SvaSettings::default()
            };
            let layout = SvaLayout::new(&settings, &[GRID], 2).unwrap();
            Connector::Sva(SvaConnector::new(layout, &[CHANNELS], WIDTH, device))
        }
    };
    Mllm { encoders: Vec::new(), connector, llm: LlmModel::new(&tiny_llama(VOCAB, false, 0.5), device) }
}

/// The embeddings of `images` fixed feature maps.
pub fn vision(model: &Mllm, images: usize, device: &Device) -> ImageEmbeddings {
    let shape = [images, GRID[0] * GRID[1], CHANNELS];
    let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| (i as f32 * 0.37).sin()).collect();
    let tokens = Tensor::from_data(TensorData::new(values, shape), device);
    model.embed_features(vec![Features { tokens, grid: GRID }], &vec![[32, 32]; images]).unwrap()
}

/// A question's texts: its prompt, and per choice the prompt followed by the choice's answer
/// tokens and the end token 2, which are the targets.
pub struct Question {
    pub prompt: Encoded,
    pub answered: Vec<Encoded>,
    pub image: Option<usize>,
}

fn ids(len: usize, seed: usize) -> Vec<u32> {
    (0..len).map(|i| 3 + ((i * 7919 + seed * 104_729) % (VOCAB - 3)) as u32).collect()
}

/// Question `k`: a prompt of `prompt_len` tokens with its image (the next image index, if
/// `image_at`), and choices of the given answer lengths.
pub fn question(k: usize, prompt_len: usize, image_at: Option<usize>, answers: &[usize], images: &mut usize) -> Question {
    let prompt_ids = ids(prompt_len, k);
    let prompt = Encoded { targets: vec![false; prompt_len], ids: prompt_ids.clone(), image_at };
    let answered = answers
        .iter()
        .enumerate()
        .map(|(c, &len)| {
            let mut ids = prompt_ids.clone();
            ids.extend(self::ids(len, 1000 + 10 * k + c));
            ids.push(2);
            let targets = (0..ids.len()).map(|i| i >= prompt_len).collect();
            Encoded { ids, targets, image_at }
        })
        .collect();
    let image = image_at.map(|_| {
        *images += 1;
        *images - 1
    });
    Question { prompt, answered, image }
}

/// Eight questions of mixed prompt lengths, with and without an image (at different places),
/// and two to four choices of one to five answer tokens; `images` of them show one.
pub fn questions() -> (Vec<Question>, usize) {
    let mut images = 0;
    let shapes: [(usize, Option<usize>, &[usize]); 8] = [
        (9, Some(2), &[1, 1, 1, 1]),
        (23, Some(5), &[3, 1, 5, 2]),
        (4, None, &[2, 4]),
        (15, Some(0), &[1, 2, 3]),
        (31, None, &[5, 5, 1, 4]),
        (12, Some(7), &[2, 2]),
        (6, Some(3), &[4, 1, 1, 3]),
        (18, None, &[1, 3, 2, 5]),
    ];
    let questions =
        shapes.iter().enumerate().map(|(k, (len, at, answers))| question(k, *len, *at, answers, &mut images)).collect();
    (questions, images)
}

pub fn asked(questions: &[Question]) -> Vec<Asked<'_>> {
    questions.iter().map(|q| Asked { prompt: &q.prompt, answered: q.answered.iter().collect(), image: q.image }).collect()
}
