//! `--dtype bf16|f16`: weights and activations in half precision, against transformers running
//! the same fixtures in that dtype (tools/reference/make_half_fixtures.py). Each run is a
//! `cambrian` process, since a device's float type is set once per process.
//!
//! PyTorch's own half-precision outputs differ from its f32 ones by a relative norm of
//! 0.67–1.03% in bf16 and 0.08–0.14% in f16 on these fixtures; ours must stay within twice
//! that bound of the f32 reference and of PyTorch's half-precision output, and must differ
//! from f32 by more than f32 rounding (so the run really computed in half precision).

mod common;

use common::{TensorFile, cambrian, fixtures, read_tensors, scratch, stderr};

/// Relative norm ‖ours − reference‖ / ‖f32 reference‖ allowed, per dtype.
const TOLERANCE: [(&str, f64); 2] = [("bf16", 2e-2), ("f16", 3e-3)];
/// Below this, the run computed in f32 (f32 parity is within about 1e-6).
const AT_LEAST: f64 = 1e-4;

fn relative(ours: &[f32], reference: &[f32], scale: &[f32]) -> f64 {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    norm(&mut ours.iter().zip(reference).map(|(a, b)| f64::from(a - b))) / norm(&mut scale.iter().map(|&x| f64::from(x)))
}

/// Ours against the f32 reference and against PyTorch's run in `dtype`.
fn compare(name: &str, dtype: &str, tolerance: f64, ours: &[f32], f32_reference: &[f32], half: &TensorFile, key: &str) {
    let against_f32 = relative(ours, f32_reference, f32_reference);
    let against_torch = relative(ours, &half.tensors[&format!("{key}_{dtype}")].values, f32_reference);
    println!("{name} {dtype}: relative to f32 {against_f32:.2e}, to PyTorch {dtype} {against_torch:.2e}");
    assert!(against_f32 <= tolerance, "{name} {dtype}: {against_f32} from the f32 reference");
    assert!(against_torch <= tolerance, "{name} {dtype}: {against_torch} from PyTorch's {dtype} output");
    assert!(against_f32 >= AT_LEAST, "{name} {dtype}: equals f32 ({against_f32}): not computed in {dtype}");
}

#[test]
fn encoders_in_half_precision_match_transformers() {
    for name in ["hf-clip-vision", "hf-siglip", "hf-dinov2"] {
        let dir = fixtures().join("encoders").join(name);
        let reference = read_tensors(&dir.join("reference.safetensors"));
        let half = read_tensors(&dir.join("reference-half.safetensors"));
        let images: Vec<String> =
            reference.metadata["images"].split(',').map(|i| common::image(i).display().to_string()).collect();
        for (dtype, tolerance) in TOLERANCE {
            let out = scratch(&format!("half-{name}-{dtype}")).join("features.safetensors");
            let mut args = vec!["--dtype", dtype, "encode", "--weights", dir.to_str().unwrap(), "--out", out.to_str().unwrap()];
            args.extend(images.iter().map(String::as_str));
            let run = cambrian(&args);
            assert!(run.status.success(), "{name} {dtype}: {}", stderr(&run));
            let ours = &read_tensors(&out).tensors["features"];
            assert_eq!(ours.shape, reference.tensors["features"].shape, "{name}");
            compare(name, dtype, tolerance, &ours.values, &reference.tensors["features"].values, &half, "features");
        }
    }
}

#[test]
fn llms_in_half_precision_match_transformers() {
    for name in ["llama-gqa-rope-llama3", "qwen2-bias-tied"] {
        let dir = fixtures().join("llm").join(name);
        let reference = read_tensors(&dir.join("reference.safetensors"));
        let half = read_tensors(&dir.join("reference-half.safetensors"));
        for (dtype, tolerance) in TOLERANCE {
            let dump = scratch(&format!("half-{name}-{dtype}")).join("logits.safetensors");
            let args = ["--dtype", dtype, "llm", "--model", dir.to_str().unwrap(), "--prompt", &reference.metadata["prompt"]];
            let run = cambrian(&[&args[..], &["--max-new-tokens", "1", "--dump-logits", dump.to_str().unwrap()]].concat());
            assert!(run.status.success(), "{name} {dtype}: {}", stderr(&run));
            let dumped = read_tensors(&dump);
            assert_eq!(dumped.tensors["prompt_ids"].values, reference.tensors["prompt_ids"].values, "{name}");
            let logits = &dumped.tensors["prompt_logits"].values;
            compare(name, dtype, tolerance, logits, &reference.tensors["prompt_logits"].values, &half, "prompt_logits");
        }
    }
}

#[test]
fn training_refuses_half_precision() {
    let out = scratch("half-train").join("run");
    let run = cambrian(&["--dtype", "bf16", "train", "missing.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let message = stderr(&run);
    assert!(message.contains("`train` trains or writes weights: its precision is the run config's"), "{message}");
    assert!(!out.exists(), "nothing is written");
}
