//! clap definitions of every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::data::benchmark::Category;
use crate::data::vision::ImageMode;
use crate::device::{DeviceArg, DtypeArg};
use crate::encoders::Family;
use crate::llm::chat::Template;
use crate::llm::random_init::ShapeArgs;

#[derive(Parser)]
#[command(name = "cambrian", version, about = "Which vision encoders make the best eyes for a multimodal LLM?")]
pub struct Cli {
    /// Where tensors live and run.
    #[arg(long, global = true, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// Float type of weights and activations for inference (encode, llm, bench encoders,
    /// bench generate); training takes the run config's `precision`.
    #[arg(long, global = true, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors only, no progress bars.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the preset encoders.
    Encoders(EncodersArgs),
    /// List the preset benchmarks and the questions of those in the Hugging Face cache.
    Benchmarks(super::benchmarks::BenchmarksArgs),
    /// Score a benchmark's answers (ANSWERS.jsonl or an eval report) without a model.
    Score(super::score::ScoreArgs),
    /// Run an encoder on images and save the patch tokens as safetensors.
    Encode(EncodeArgs),
    /// Greedy text generation with a language model (a transformers folder).
    Llm(LlmArgs),
    /// Measure throughput and memory next to the PyTorch reference.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// CV-Bench: build it from detection annotations.
    #[command(subcommand)]
    Cvbench(CvbenchCommand),
    /// Render the synthetic vision-centric benchmark and its training set.
    Synth(SynthArgs),
    /// Create a small random-init LLM folder with a word-level tokenizer built from text files.
    InitLlm(InitLlmArgs),
    /// Train a probe (encoders → connector → LLM) in the study's two stages; resumes a run.
    Train(TrainArgs),
    /// Pre-train a tiny ViT with one family's objective on a synth folder's ground truth.
    Pretrain(super::pretrain::PretrainArgs),
    /// A run's expected peak device memory per stage: weights, gradients, optimizer, activations.
    Plan(super::plan::PlanArgs),
    /// Score a trained run on a benchmark: by generation, and by likelihood where it has choices.
    Eval(EvalArgs),
    /// Figures (PNG and SVG) and a report.md from a sweep's results.csv.
    Plot(PlotArgs),
    /// Run a study's matrix (sweeps/NAME.toml): train and evaluate every cell, resumably.
    Sweep(SweepArgs),
}

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep file.
    pub spec: PathBuf,
    /// Results folder; the sweep writes into RESULTS/NAME/.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Print the matrix (run ids, encoders, status) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only the cells whose index is I modulo N (a Slurm array task, say).
    #[arg(long, default_value = "0/1")]
    pub shard: crate::sweep::Shard,
    /// Write an sbatch job-array script running the sweep in --shards tasks, and stop.
    #[arg(long)]
    pub emit_slurm: Option<PathBuf>,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub shards: u64,
    /// Where the figures go once every run is done (default plots/NAME).
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Leave the figures out.
    #[arg(long, conflicts_with = "plots")]
    pub no_plots: bool,
}

/// `init-llm` (default shape: 2 layers, width 64, 4 heads with 2 key/value, MLP 172).
#[derive(Args)]
pub struct InitLlmArgs {
    /// Text files whose words make the vocabulary: of LLaVA JSON the conversations, of a
    /// benchmark JSONL the questions, choices and prompts, of anything else the whole text.
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[arg(long, default_value_t = 2048)]
    pub max_positions: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct TrainArgs {
    /// The run's TOML (model, template, [stage1], [stage2]).
    pub config: PathBuf,
    /// The run folder; an existing one of the same config is resumed.
    #[arg(long)]
    pub out: PathBuf,
    /// The device's memory in GiB (burn 0.22 reports no device's capacity): refuse a run
    /// whose planned peak (`cambrian plan`) is above it.
    #[arg(long)]
    pub memory_gb: Option<f64>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A run folder that `cambrian train` finished.
    #[arg(long)]
    pub run: PathBuf,
    /// A benchmark preset (`cambrian benchmarks` lists them), a benchmark spec (`.toml`), a
    /// folder holding a `benchmark.toml` beside its data (as `cambrian synth` writes them), a
    /// folder in the CV-Bench layout (test_2d.jsonl / test_3d.jsonl, images), or a
    /// multiple-choice JSONL (id, image, question, choices, answer "(A)"; scored by accuracy).
    #[arg(long)]
    pub benchmark: String,
    /// For a preset or spec: a folder with the dataset repository's layout (`hf download
    /// REPO --repo-type dataset --local-dir DIR`) instead of the Hugging Face cache.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The category of a JSONL benchmark (a CV-Bench folder is vision-centric).
    #[arg(long, value_enum)]
    pub category: Option<Category>,
    /// The benchmark's name in reports (default: the preset's, or the file's or folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// What the model sees; repeat for several (vision-disabled evaluation: no-image).
    #[arg(long, value_enum, default_values_t = [ImageMode::Image])]
    pub vision: Vec<ImageMode>,
    /// Tokens to generate at most per answer (default: the preset's, as Cambrian's script
    /// sets it; 16 for a CV-Bench folder or JSONL).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_new_tokens: Option<u64>,
    /// Score the benchmark even when more than 1% of its questions lose image or answer
    /// tokens at the run's max_length (they are listed in the report as `degraded`).
    #[arg(long)]
    pub allow_degraded: bool,
    /// Questions asked at once (default 8); the scores do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Forward pass of each encoder at its native resolution, ours and PyTorch's.
    Encoders(crate::bench::encoders::EncodersArgs),
    /// Greedy decoding of a Llama-architecture LLM, ours and transformers'.
    Generate(crate::bench::generate::GenerateArgs),
    /// Evaluation (multiple choice by likelihood, open-ended by generation), ours and the
    /// transformers loop lmms-eval runs.
    Eval(crate::bench::eval::EvalArgs),
    /// One measurement of ours, in its own process (used by `bench encoders`).
    #[command(hide = true)]
    EncoderOnce(crate::bench::encoders::OnceArgs),
    /// Training steps with a frozen encoder: without the feature cache, cold, warm.
    FeatureCache(crate::bench::feature_cache::FeatureCacheArgs),
    /// Training steps of the probe (stage 2: connector and LLM trained, encoder frozen) on a
    /// fixed synthetic workload, ours and an equivalent PyTorch/transformers loop.
    Train(crate::bench::train::TrainArgs),
    /// One training measurement of ours, in its own process (used by `bench train`).
    #[command(hide = true)]
    TrainOnce(crate::bench::train::TrainOnceArgs),
}

#[derive(Subcommand)]
pub enum CvbenchCommand {
    /// Generate CV-Bench's four tasks from COCO-format and Omni3D-format annotations.
    Build(CvbenchBuildArgs),
}

#[derive(Args)]
pub struct CvbenchBuildArgs {
    /// COCO instance annotations (JSON); source COCO. Repeatable.
    #[arg(long)]
    pub coco: Vec<PathBuf>,
    /// ADE20K annotations converted to COCO format (JSON); source ADE20K. Repeatable.
    #[arg(long)]
    pub ade20k: Vec<PathBuf>,
    /// Omni3D annotations (JSON); source Omni3D. Repeatable.
    #[arg(long)]
    pub omni3d: Vec<PathBuf>,
    /// Folder that every annotation's `file_name` is relative to.
    #[arg(long)]
    pub images: PathBuf,
    /// Smallest box asked about, as a fraction of the image area.
    #[arg(long, default_value_t = 0.005)]
    pub min_box_frac: f64,
    /// Depth and distance margin between corner distances, metres.
    #[arg(long, default_value_t = 0.5)]
    pub margin_m: f64,
    /// Probability that an image also gets a zero-count question.
    #[arg(long, default_value_t = 0.25)]
    pub zero_count_rate: f64,
    /// Seed of choice order and zero-count draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (must not exist): test_2d.jsonl, test_3d.jsonl, img/.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct SynthArgs {
    /// Benchmark items (tasks in turn: Count, Relation, Depth, Distance).
    #[arg(long, default_value_t = 1000)]
    pub samples: u64,
    /// Training scenes, each with a caption and a conversation. Default: as many as --samples.
    #[arg(long)]
    pub train_samples: Option<u64>,
    /// Benchmark items per open-ended task (existence, colour, count, sign, chart), each written
    /// as a hub dataset under OUT/open/TASK/; 0: none. Default: as many as --samples.
    #[arg(long)]
    pub open_samples: Option<u64>,
    /// Training items per open-ended task, appended to train/instruct.json. Default: the
    /// training scenes / 20.
    #[arg(long)]
    pub open_train_samples: Option<u64>,
    /// Image side in pixels (64 to 384).
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct EncodersArgs {
    /// Only this family.
    #[arg(long, value_enum)]
    pub family: Option<Family>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Init {
    Random,
}

#[derive(Args)]
pub struct EncodeArgs {
    /// A preset name (see `cambrian encoders`) or a spec file (.toml). May be left out when
    /// --weights is a transformers model folder.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Checkpoint: a transformers folder, a .safetensors file (or a sharded index), or a
    /// PyTorch .pth/.bin/.pth.tar. Without it, a preset's weights come from the Hugging Face cache.
    #[arg(long, conflicts_with = "init")]
    pub weights: Option<PathBuf>,
    /// Random weights instead of a checkpoint (for smoke tests and timing).
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Seed of --init random.
    #[arg(long, default_value_t = 0, requires = "init")]
    pub seed: u64,
    /// Hidden state to hand on, counted like transformers' hidden_states (0 = embeddings,
    /// -1 = last block). Default: the encoder's feature layer in Cambrian-1.
    #[arg(long, allow_negative_numbers = true)]
    pub layer: Option<i64>,
    /// Resize the output grid bilinearly to this many tokens (a square number), as
    /// Cambrian's `interp` does. Default: the encoder's own setting (576 for DINOv2@518,
    /// ConvNeXt and SAM; none for the others).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tokens: Option<u64>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Output safetensors file: `features` [N, T, C] f32 and `grid` [2].
    #[arg(long)]
    pub out: PathBuf,
    /// Image files (PNG, JPEG, WebP, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Args)]
pub struct LlmArgs {
    /// A transformers model folder: config.json, safetensors weights (one file or sharded),
    /// tokenizer.json.
    #[arg(long)]
    pub model: PathBuf,
    /// The user's text.
    #[arg(long)]
    pub prompt: String,
    /// Tokens to generate at most (fewer if an end-of-sequence token comes first).
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// Wrap the prompt in one of Cambrian's conversation templates; without it the prompt is
    /// tokenized as given.
    #[arg(long, value_enum)]
    pub template: Option<Template>,
    /// Also save the logits of every prompt position and generated step (safetensors:
    /// prompt_ids, prompt_logits [T, V], generated_ids, step_logits [N, V]).
    #[arg(long)]
    pub dump_logits: Option<PathBuf>,
}

#[derive(Args)]
pub struct PlotArgs {
    /// The sweep's folder: results.csv, and a folder per run with its metrics.csv.
    pub sweep: PathBuf,
    /// Output folder. Default: plots/<the sweep folder's name>.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// A subcommand flag named like a global one (`--device`, `--dtype`, ...) would shadow it.
    #[test]
    fn no_subcommand_flag_shadows_a_global_one() {
        let root = super::Cli::command();
        let globals: Vec<&str> = root.get_arguments().filter(|a| a.is_global_set()).filter_map(|a| a.get_long()).collect();
        fn walk(command: &clap::Command, globals: &[&str], path: String) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                for arg in sub.get_arguments().filter(|a| !a.is_global_set()) {
                    assert!(
                        !arg.get_long().is_some_and(|l| globals.contains(&l)),
                        "`{path}` --{} shadows the global flag",
                        arg.get_long().unwrap_or_default()
                    );
                }
                walk(sub, globals, path);
            }
        }
        walk(&root, &globals, "cambrian".into());
    }
}
