//! The memory planner: its parameter counts equal the hand-counted sizes of two published
//! LLMs and the built model's own counts; `plan` prints each stage's parts; `train` refuses a
//! run that does not fit the memory it is given, before writing anything.

mod common;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use cambrian::llm::LlmConfig;
use cambrian::train::config::RunConfig;
use cambrian::train::plan::{llm_params, plan};
use common::{cambrian, fixtures, scratch, stderr};

fn llm_config(dir: &Path, json: &str) -> LlmConfig {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), json).unwrap();
    LlmConfig::from_dir(dir).unwrap()
}

/// Vicuna-7B v1.5 (Llama 2 7B's shape) has 6,738,415,616 parameters; Qwen2.5-1.5B-Instruct
/// (q/k/v biases, 2 key/value heads, tied embeddings) 1,543,714,304, as their model cards and
/// `sum(p.numel())` in transformers say.
#[test]
fn the_llm_count_equals_published_sizes() {
    let dir = scratch("plan-published");
    let vicuna = r#"{"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": false}"#;
    let qwen = r#"{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
        "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": true, "sliding_window": null}"#;
    assert_eq!(llm_params(&llm_config(&dir.join("vicuna"), vicuna)), 6_738_415_616);
    assert_eq!(llm_params(&llm_config(&dir.join("qwen"), qwen)), 1_543_714_304);
}

/// A tiny run: the tests' ViT, the concatenation, an `init-llm` model; stage 1 and stage 2.
fn tiny_run(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("corpus.txt"), "a red square on a grey background what colour is it").unwrap();
    let made =
        cambrian(&["init-llm", "--corpus", dir.join("corpus.txt").to_str().unwrap(), "--out", dir.join("llm").to_str().unwrap()]);
    assert!(made.status.success(), "{}", stderr(&made));
    std::fs::write(dir.join("data.json"), "[]").unwrap();
    let text = format!(
        "llm = \"llm\"\nmax_length = 128\n[[encoders]]\nname = \"{}\"\ninit = \"random\"\n[connector]\n\
         [stage1]\ndata = \"data.json\"\nimages = \".\"\nbatch_size = 8\nmicro_batch_size = 4\nlr = 1e-3\n\
         [stage2]\ndata = \"data.json\"\nimages = \".\"\nbatch_size = 4\nlr = 2e-5\n",
        fixtures().join("mllm/tiny-vit.toml").display()
    );
    std::fs::write(dir.join("run.toml"), text).unwrap();
    dir.join("run.toml")
}

#[test]
fn the_plan_counts_what_the_built_model_holds() {
    let dir = scratch("plan-built");
    let config = RunConfig::from_file(&tiny_run(&dir)).unwrap();
    let device = Device::flex();
    let planned = plan(&config, &device).unwrap();
    let built = cambrian::train::model::build(&config, &device).unwrap();
    assert_eq!(planned.params.llm, built.model.llm.num_params() as u64);
    assert_eq!(planned.params.connector, built.model.connector.num_params() as u64);
    let encoders: Vec<u64> = built.model.encoders.iter().map(|e| e.model.num_params() as u64).collect();
    assert_eq!(planned.params.encoders.iter().map(|(_, n)| *n).collect::<Vec<_>>(), encoders);

    // Stage 1 trains the connector, stage 2 the LLM too; AdamW keeps two moments of each.
    let [one, two] = &planned.stages[..] else { panic!("two stages") };
    assert_eq!(one.trainable, planned.params.connector);
    assert_eq!(two.trainable, planned.params.connector + planned.params.llm);
    assert_eq!(one.without.optimizer, 2 * 4 * one.trainable);
    assert_eq!(one.without.gradients, 2 * 4 * one.trainable, "micro-batches accumulate in stage 1");
    assert_eq!(two.without.gradients, 4 * two.trainable);
    let total = planned.params.llm + planned.params.connector + encoders.iter().sum::<u64>();
    assert_eq!(two.without.weights, 4 * total);
}

#[test]
fn plan_prints_the_parts_and_train_refuses_a_run_that_does_not_fit() {
    let dir = scratch("plan-cli");
    let run_file = tiny_run(&dir).display().to_string();
    let out = cambrian(&["plan", &run_file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for part in ["stage 1: micro-batch 4", "stage 2: micro-batch 4", "weights", "optimizer", "activations", "dominated by"] {
        assert!(text.contains(part), "{part:?} missing from\n{text}");
    }
    let run = dir.join("run");
    let refused = cambrian(&["train", &run_file, "--out", run.to_str().unwrap(), "--memory-gb", "0.001"]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(message.contains("more than the 0.00 GiB available") && message.contains("stage 2"), "{message}");
    assert!(!run.exists(), "a refused run writes nothing");
}
