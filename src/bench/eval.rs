//! `cambrian bench eval`: questions per second of evaluation, ours (`eval::batched::ask`: each
//! prompt run once, the choices continued from its cache, several questions per batch) next to
//! the loop lmms-eval's LLaVA model and Cambrian's evaluation scripts run with transformers
//! (tools/bench/eval.py: one question at a time; for likelihood, every choice's whole
//! sequence through the model with logits at every position; for generation, HF `generate`),
//! on the same machine in the same invocation, from the same model folder and questions.
//!
//! Two benchmarks: multiple choice (4 choices, scored by likelihood) and open-ended (greedy
//! generation). The LLM is a random-init Llama (`init-llm`'s code) over a vocabulary of
//! synthetic words (`--vocab`); each question shows an image whose embeddings (as the
//! connector gives them, from a feature cache) both sides read from `images.safetensors`, so
//! neither encodes: lmms-eval would also re-run the encoder and connector for every choice,
//! which this leaves out in PyTorch's favour. Both sides print their choices and replies; the
//! command reports how many agree.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

use super::{ReferenceArgs, WorkDir, reference_device};
use crate::connectors::{ConcatConnector, Connector, ProjectorKind};
use crate::eval::batched::{Answers, Asked, Settings, ask};
use crate::llm::Llm;
use crate::llm::random_init::{Shape, ShapeArgs, create};
use crate::mllm::buckets::Buckets;
use crate::mllm::conversation::Encoded;
use crate::mllm::{ImageEmbeddings, Mllm};

#[derive(clap::Args)]
/// `bench eval` (default LLM: 4 layers, width 512, 8 heads, MLP 1376).
pub struct EvalArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Words in the vocabulary (plus the special tokens).
    #[arg(long, default_value_t = 32000, value_parser = clap::value_parser!(u32).range(16..))]
    pub vocab: u32,
    /// Questions per benchmark.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub questions: u64,
    /// Image tokens per question (576: CLIP ViT-L/14 at 336 px).
    #[arg(long, default_value_t = 144)]
    pub image_tokens: usize,
    /// Tokens generated per open-ended answer.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub new_tokens: u64,
    /// Questions ours asks at once.
    #[arg(long, default_value_t = crate::eval::evaluate::DEFAULT_BATCH_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    #[command(flatten)]
    pub torch: ReferenceArgs,
}

/// The PyTorch side: transformers, one question at a time, as lmms-eval's LLaVA model runs.
const SCRIPT: &str = "tools/bench/eval.py";

const LLM_SHAPE: Shape =
    Shape { hidden_size: 512, intermediate_size: 1376, layers: 4, heads: 8, kv_heads: 8, max_positions: 2048 };
const CHOICES: usize = 4;

/// One question as token ids around its image; `choices` are the answer tokens of each
/// choice, the end token included (empty for open-ended questions).
#[derive(Serialize)]
struct Item {
    before: Vec<u32>,
    after: Vec<u32>,
    choices: Vec<Vec<u32>>,
}

#[derive(Debug, Deserialize)]
struct Side {
    multiple_choice_per_sec: f64,
    open_ended_per_sec: f64,
    /// Per multiple-choice question, the chosen choice; per open-ended one, the reply ids.
    chosen: Vec<usize>,
    replies: Vec<Vec<u32>>,
    peak_rss_mib: Option<f64>,
}

pub fn run(args: &EvalArgs, device: &Device, device_name: &str) -> anyhow::Result<()> {
    let work = WorkDir::new(None, "eval")?;
    let words: Vec<String> = (0..args.vocab).map(|i| format!("w{i}")).collect();
    let shape = args.shape.or(LLM_SHAPE);
    let model_dir = work.path.join("llm");
    create(&model_dir, &words.join(" "), &shape, 0, device)?;
    let llm = Llm::load(&model_dir, device)?;
    let (vocab, eos) = (llm.config.vocab_size as u32, llm.config.eos_token_ids.clone());
    let end = *eos.first().context("the LLM has no end-of-sequence token")?;
    let hidden = llm.config.hidden_size;
    // The connector only counts image tokens here: the embeddings come from the file.
    let connector =
        Connector::Concat(ConcatConnector::new(ProjectorKind::Linear, 1, hidden, [args.image_tokens, 1], false, device));
    let model = Mllm { encoders: Vec::new(), connector, llm: llm.model };

    let n = args.questions as usize;
    let id = |i: usize| 3 + ((i * 7919) as u32) % (vocab - 3);
    let items: Vec<Item> = (0..2 * n)
        .map(|q| Item {
            before: (0..5).map(|i| id(q * 1000 + i)).collect(),
            // Prompts of 24 to 87 tokens after the image.
            after: (0..24 + (q * 37) % 64).map(|i| id(q * 1000 + 10 + i)).collect(),
            choices: if q < n { (0..CHOICES).map(|c| vec![id(q * 1000 + 900 + c), end]).collect() } else { Vec::new() },
        })
        .collect();
    let values: Vec<f32> = (0..2 * n * args.image_tokens * hidden).map(|i| 0.02 * ((i as f32) * 0.618).sin()).collect();
    let images = work.path.join("images.safetensors");
    write_images(&images, &values, [2 * n, args.image_tokens, hidden])?;
    std::fs::write(work.path.join("workload.json"), serde_json::to_vec(&items)?).context("writing workload.json")?;
    let embeds = Tensor::from_data(TensorData::new(values, [2 * n, args.image_tokens, hidden]), device);
    let vision = ImageEmbeddings { embeds, lengths: vec![args.image_tokens; 2 * n], context: None };
    println!(
        "Llama {} layers, width {hidden}, vocabulary {vocab}; {n} questions of 4 choices and {n} open-ended ({} new tokens), \
         {} image tokens each; ours at batch {}; device {device_name}",
        shape.layers, args.new_tokens, args.image_tokens, args.batch_size
    );

    let encoded: Vec<(Encoded, Vec<Encoded>)> = items.iter().map(encode).collect();
    let measure = |batch_size: usize| -> anyhow::Result<Side> {
        let asked: Vec<Asked> = encoded
            .iter()
            .enumerate()
            .map(|(q, (prompt, answered))| Asked { prompt, answered: answered.iter().collect(), image: Some(q) })
            .collect();
        let max_length = shape.max_positions;
        let buckets = Buckets::for_device(device);
        let mc = Settings { max_length, max_new_tokens: 0, eos_token_ids: &eos, buckets };
        let open = Settings { max_length, max_new_tokens: args.new_tokens as usize, eos_token_ids: &eos, buckets };
        let pass = |questions: &[Asked], settings: &Settings| -> anyhow::Result<(f64, Answers)> {
            let started = Instant::now();
            let mut all = Answers { generated: Vec::new(), log_likelihoods: Vec::new(), scored_separately: 0 };
            for batch in questions.chunks(batch_size) {
                let answers = ask(&model, batch, Some(&vision), settings, device)?;
                all.generated.extend(answers.generated);
                all.log_likelihoods.extend(answers.log_likelihoods);
            }
            Ok((questions.len() as f64 / started.elapsed().as_secs_f64(), all))
        };
        // Warm-up: one batch of each.
        pass(&asked[..batch_size.min(n)], &mc)?;
        pass(&asked[n..n + batch_size.min(n)], &open)?;
        let (multiple_choice_per_sec, scored) = pass(&asked[..n], &mc)?;
        let (open_ended_per_sec, replies) = pass(&asked[n..], &open)?;
        let chosen =
            scored.log_likelihoods.iter().map(|l| (0..l.len()).fold(0, |b, j| if l[j] > l[b] { j } else { b })).collect();
        Ok(Side { multiple_choice_per_sec, open_ended_per_sec, chosen, replies: replies.generated, peak_rss_mib: None })
    };
    let ours = measure(args.batch_size as usize)?;
    let ours_one = measure(1)?;
    let torch = match (args.torch.no_reference, reference_device(device_name)) {
        (true, _) => Err(anyhow::anyhow!("not run (--no-reference)")),
        (false, Some(on)) => reference(args, &work.path, &model_dir, on),
        (false, None) => Err(anyhow::anyhow!("not run: tools/bench/eval.py measures on the CPU or a CUDA GPU only")),
    };
    println!("{:<16} {:>22} {:>22}", "", "MULTIPLE CHOICE q/s", "OPEN-ENDED q/s");
    let row =
        |name: &str, side: &Side| println!("{name:<16} {:>22.3} {:>22.3}", side.multiple_choice_per_sec, side.open_ended_per_sec);
    row(&format!("ours, batch {}", args.batch_size), &ours);
    row("ours, batch 1", &ours_one);
    match torch {
        Ok(torch) => {
            row("pytorch", &torch);
            let ratio = |side: &Side| {
                (side.multiple_choice_per_sec / torch.multiple_choice_per_sec, side.open_ended_per_sec / torch.open_ended_per_sec)
            };
            let (mc, open) = ratio(&ours);
            println!("{:<16} {mc:>21.2}× {open:>21.2}×", "ratio");
            let (mc, open) = ratio(&ours_one);
            println!("{:<16} {mc:>21.2}× {open:>21.2}×", "ratio, batch 1");
            let same_choices = ours.chosen.iter().zip(&torch.chosen).filter(|(a, b)| a == b).count();
            let same_replies = ours.replies.iter().zip(&torch.replies).filter(|(a, b)| a == b).count();
            let rss = torch.peak_rss_mib.map_or(String::new(), |m| format!("; PyTorch peak RSS {m:.0} MiB"));
            println!("agreement: {same_choices}/{n} choices, {same_replies}/{n} replies token for token{rss}");
        }
        Err(err) => println!("pytorch          {err:#}"),
    }
    Ok(())
}

/// A question's prompt (the image after `before`) and each choice's whole conversation.
fn encode(item: &Item) -> (Encoded, Vec<Encoded>) {
    let ids: Vec<u32> = item.before.iter().chain(&item.after).copied().collect();
    let prompt = Encoded { targets: vec![false; ids.len()], ids, image_at: Some(item.before.len()) };
    let answered = item
        .choices
        .iter()
        .map(|choice| {
            let mut answered = prompt.clone();
            answered.ids.extend(choice);
            answered.targets.extend(std::iter::repeat_n(true, choice.len()));
            answered
        })
        .collect();
    (prompt, answered)
}

fn write_images(path: &Path, values: &[f32], shape: [usize; 3]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, shape.to_vec(), &bytes).map_err(|err| anyhow::anyhow!("images: {err}"))?;
    let file = crate::weights::sorted::serialize([("images", view)], BTreeMap::new()).map_err(anyhow::Error::msg)?;
    crate::atomic::write(path, &file).with_context(|| format!("writing {}", path.display()))
}

fn reference(args: &EvalArgs, work: &Path, model: &Path, device: &str) -> anyhow::Result<Side> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (model, work) = (model.display().to_string(), work.display().to_string());
    let (new_tokens, threads) = (args.new_tokens.to_string(), threads.to_string());
    let flags = ["--model", &model, "--work", &work, "--new-tokens", &new_tokens, "--threads", &threads, "--device", device];
    args.torch.run(SCRIPT, &flags)
}
