//! Parity of the Llama-family decoder with transformers on the tiny random-weight models that
//! tools/reference/make_llm_fixtures.py made: a Llama with GQA and llama3 rope scaling
//! (sharded), a Qwen2 with q/k/v biases and tied embeddings, a Mistral with one kv head, a
//! sliding window shorter than the prompt, and a bf16 checkpoint.
//!
//! For each: our tokenizer gives the reference prompt ids; the logits of every prompt
//! position are within 1e-4 of the reference (max abs diff; the logits are of order 1-10);
//! greedy generation through the KV cache picks the same tokens, each step's logits within
//! 1e-4; `cambrian llm` prints the reference's decoded continuation. Bad model folders give
//! errors naming the cause.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use cambrian::llm::Llm;
use cambrian::llm::generate::greedy;
use cambrian::llm::tokenizer::LlmTokenizer;
use common::{Array, cambrian, fixtures, max_abs_diff, read_tensors, scratch, stderr};

const LOGIT_TOLERANCE: f32 = 1e-4;
const CASES: &[&str] = &["llama-gqa-rope-llama3", "qwen2-bias-tied", "mistral-window-bf16"];

fn case_dir(name: &str) -> PathBuf {
    fixtures().join("llm").join(name)
}

fn ids(array: &Array) -> Vec<u32> {
    array.values.iter().map(|&v| v as u32).collect()
}

fn check_case(name: &str) {
    let dir = case_dir(name);
    let reference = read_tensors(&dir.join("reference.safetensors"));
    let tensor = |key: &str| &reference.tensors[key];
    let prompt = &reference.metadata["prompt"];
    let device = Device::flex();

    let tokenizer = LlmTokenizer::from_dir(&dir).expect("tokenizer");
    let prompt_ids = tokenizer.encode(prompt).expect("encode");
    assert_eq!(prompt_ids, ids(tensor("prompt_ids")), "{name}: prompt token ids");

    let llm = Llm::load(&dir, &device).expect("load fixture");
    let max_new = tensor("generated_ids").values.len();
    let generation = greedy(&llm.model, &prompt_ids, max_new, &llm.config.eos_token_ids, true, &device).expect("generate");

    let prompt_diff = max_abs_diff(&generation.prompt_logits, &tensor("prompt_logits").values);
    eprintln!("{name}: prompt logits max abs diff {prompt_diff:.2e}");
    assert!(prompt_diff <= LOGIT_TOLERANCE, "{name}: prompt logits differ by {prompt_diff}");
    assert_eq!(generation.generated_ids, ids(tensor("generated_ids")), "{name}: greedy continuation");
    let step_diff = max_abs_diff(&generation.step_logits, &tensor("step_logits").values);
    eprintln!("{name}: step logits max abs diff {step_diff:.2e}");
    assert!(step_diff <= LOGIT_TOLERANCE, "{name}: step logits differ by {step_diff}");
    assert_eq!(tokenizer.decode(&generation.generated_ids).unwrap(), reference.metadata["text"], "{name}: decoded text");
}

#[test]
fn llama_with_gqa_and_llama3_rope_matches_transformers() {
    check_case(CASES[0]);
}

#[test]
fn qwen2_with_bias_and_tied_embeddings_matches_transformers() {
    check_case(CASES[1]);
}

#[test]
fn mistral_with_sliding_window_from_bf16_matches_transformers() {
    check_case(CASES[2]);
}

#[test]
fn cli_prints_the_continuation_and_dumps_logits() {
    for name in CASES {
        let dir = case_dir(name);
        let reference = read_tensors(&dir.join("reference.safetensors"));
        let max_new = reference.tensors["generated_ids"].values.len().to_string();
        let dump = scratch(&format!("llm-cli-{name}")).join("logits.safetensors");
        let output = cambrian(&[
            "llm",
            "--model",
            dir.to_str().unwrap(),
            "--prompt",
            &reference.metadata["prompt"],
            "--max-new-tokens",
            &max_new,
            "--dump-logits",
            dump.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout, format!("{}\n", reference.metadata["text"]), "{name}");
        let dumped = read_tensors(&dump);
        for key in ["prompt_ids", "generated_ids"] {
            assert_eq!(dumped.tensors[key].values, reference.tensors[key].values, "{name}: {key}");
        }
        for key in ["prompt_logits", "step_logits"] {
            assert_eq!(dumped.tensors[key].shape, reference.tensors[key].shape, "{name}: {key}");
            let diff = max_abs_diff(&dumped.tensors[key].values, &reference.tensors[key].values);
            assert!(diff <= LOGIT_TOLERANCE, "{name}: dumped {key} differ by {diff}");
        }
    }
}

#[test]
fn cli_applies_a_template() {
    let dir = case_dir("qwen2-bias-tied");
    let dump = scratch("llm-cli-template").join("logits.safetensors");
    let args = ["llm", "--model", dir.to_str().unwrap(), "--prompt", "the cat", "--max-new-tokens", "2"];
    let output = cambrian(&[&args[..], &["--template", "chatml", "--dump-logits", dump.to_str().unwrap()]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    let dumped = read_tensors(&dump);
    assert!(dumped.metadata["prompt"].ends_with("<|im_start|>user\nthe cat<|im_end|><|im_start|>assistant\n"));
    // <|im_start|> and <|im_end|> are single special tokens (ids 3 and 4) in the prompt.
    let prompt_ids = &dumped.tensors["prompt_ids"].values;
    assert_eq!(prompt_ids.iter().filter(|&&id| id == 3.0).count(), 3);
    assert_eq!(prompt_ids.iter().filter(|&&id| id == 4.0).count(), 2);
    let output = cambrian(&[&args[..], &["--template", "nonsense"]].concat());
    assert!(!output.status.success());
    assert!(stderr(&output).contains("vicuna_v1"), "{}", stderr(&output));
}

/// A copy of a fixture folder to break.
fn broken_copy(name: &str, case: &str) -> PathBuf {
    let dir = scratch(name);
    for entry in std::fs::read_dir(case_dir(case)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn llm_error(dir: &Path) -> String {
    let output = cambrian(&["llm", "--model", dir.to_str().unwrap(), "--prompt", "the cat", "--max-new-tokens", "1"]);
    assert!(!output.status.success(), "a broken model folder ran");
    stderr(&output)
}

#[test]
fn missing_config_is_named() {
    let dir = broken_copy("llm-no-config", "qwen2-bias-tied");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let err = llm_error(&dir);
    assert!(err.contains("config.json") && err.contains("No such file"), "{err}");
}

#[test]
fn unknown_model_type_is_named() {
    let dir = broken_copy("llm-gpt2", "qwen2-bias-tied");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), config.replace("\"qwen2\"", "\"gpt2\"")).unwrap();
    let err = llm_error(&dir);
    assert!(err.contains("model_type `gpt2` is not a supported LLM"), "{err}");
}

#[test]
fn unknown_rope_type_is_named() {
    let dir = broken_copy("llm-yarn", "llama-gqa-rope-llama3");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), config.replace("\"llama3\"", "\"yarn\"")).unwrap();
    let err = llm_error(&dir);
    assert!(err.contains("rope type `yarn` is not supported"), "{err}");
}

#[test]
fn wrong_tensor_shape_is_named() {
    // The config claims a wider MLP than the checkpoint holds.
    let dir = broken_copy("llm-shape", "qwen2-bias-tied");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), config.replace("\"intermediate_size\": 48", "\"intermediate_size\": 40")).unwrap();
    let err = llm_error(&dir);
    assert!(err.contains("model.layers.0.mlp.") && err.contains("has shape"), "{err}");
}

#[test]
fn missing_tokenizer_is_named() {
    let dir = broken_copy("llm-no-tokenizer", "qwen2-bias-tied");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let err = llm_error(&dir);
    assert!(err.contains("tokenizer.json") && err.contains("not found"), "{err}");
}
