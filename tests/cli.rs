//! The command line as a user meets it: the registry listing, and bad input of every kind
//! giving a short error that names the cause, with a non-zero exit code.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{cambrian, cambrian_with_env, fixtures, image, scratch, stderr};
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

const PRESETS: &[&str] = &[
    "clip-vit-l-14-336",
    "siglip-so400m-14-384",
    "siglip-vit-l-16-384",
    "dinov2-vit-l-14-336",
    "dinov2-vit-l-14-518",
    "dinov2-vit-g-14-378",
    "mae-vit-l-16",
    "mae-vit-h-14",
    "supvit-l-16-in21k",
    "supvit-h-14-in21k",
    "dfn-clip-vit-l-14-224",
    "dfn-clip-vit-h-14-378",
];

#[test]
fn encoders_lists_every_preset_with_its_sizes() {
    let output = cambrian(&["encoders", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for preset in PRESETS {
        assert!(names.contains(preset), "{preset} missing from {names:?}");
    }
    let clip = rows.iter().find(|r| r["name"] == "clip-vit-l-14-336").unwrap();
    assert_eq!(clip["tokens"], 576);
    assert_eq!(clip["hidden_size"], 1024);
    assert_eq!(clip["family"], "language-supervised");
    let so400m = rows.iter().find(|r| r["name"] == "siglip-so400m-14-384").unwrap();
    assert_eq!((so400m["tokens"].as_u64(), so400m["hidden_size"].as_u64()), (Some(729), Some(1152)));

    let filtered = cambrian(&["encoders", "--family", "class-supervised"]);
    let text = String::from_utf8_lossy(&filtered.stdout);
    assert!(text.contains("supvit-l-16-in21k") && !text.contains("clip-vit-l-14-336"), "{text}");
}

fn encode(args: &[&str]) -> (Option<i32>, String, PathBuf) {
    let out = scratch(&format!("cli-{}", args.join("_").replace(['/', '.'], "-"))).join("f.safetensors");
    let mut full = vec!["encode", "--out", out.to_str().unwrap()];
    full.extend(args);
    let output = cambrian(&full);
    (output.status.code(), stderr(&output), out)
}

fn demo_image() -> String {
    image("scene-61x47.png").to_str().unwrap().to_string()
}

#[test]
fn an_unknown_encoder_name_is_an_error_with_a_suggestion() {
    let (code, err, out) = encode(&["--encoder", "clip-vit-l-14-337", "--init", "random", &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("unknown encoder `clip-vit-l-14-337`"), "{err}");
    assert!(err.contains("did you mean `clip-vit-l-14-336`"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_missing_weights_path_is_an_error() {
    let (code, err, _) = encode(&["--encoder", "mae-vit-l-16", "--weights", "/no/such/weights.safetensors", &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("weights not found: /no/such/weights.safetensors"), "{err}");
}

/// A copy of a fixture folder with tensor `key` removed and `added` (name, shape, bytes) added.
fn altered_checkpoint(name: &str, key: &str, added: Option<(&str, Vec<usize>, Vec<u8>)>) -> PathBuf {
    let source = fixtures().join("encoders/hf-siglip");
    let dir = scratch(name);
    for file in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    let bytes = std::fs::read(source.join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, TensorView)> = Vec::new();
    for (tensor_name, view) in file.tensors() {
        if tensor_name != key {
            tensors.push((tensor_name, view));
        }
    }
    if let Some((added_name, shape, data)) = &added {
        tensors.push((added_name.to_string(), TensorView::new(safetensors::Dtype::F32, shape.clone(), data).unwrap()));
    }
    safetensors::serialize_to_file(tensors, None::<HashMap<String, String>>, &dir.join("model.safetensors")).unwrap();
    dir
}

#[test]
fn a_wrongly_shaped_tensor_is_an_error_naming_the_key_and_both_shapes() {
    let key = "encoder.layers.1.mlp.fc1.weight";
    let dir = altered_checkpoint("wrong-shape", key, Some((key, vec![60, 32], vec![0u8; 60 * 32 * 4])));
    let (code, err, out) = encode(&["--weights", dir.to_str().unwrap(), &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("tensor `{key}` has shape [60, 32], the model expects [64, 32]")), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_missing_tensor_is_an_error_naming_it_and_the_closest_key() {
    let key = "encoder.layers.2.layer_norm2.bias";
    let misspelt = "encoder.layers.2.layer_norm2.bais";
    let dir = altered_checkpoint("missing-tensor", key, Some((misspelt, vec![32], vec![0u8; 32 * 4])));
    let (code, err, _) = encode(&["--weights", dir.to_str().unwrap(), &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("missing tensor `{key}`")), "{err}");
    assert!(err.contains(&format!("closest key in the checkpoint: `{misspelt}`")), "{err}");
}

#[test]
fn a_corrupt_image_is_an_error_naming_the_file() {
    let dir = scratch("corrupt-image");
    let bad = dir.join("broken.png");
    let mut bytes = std::fs::read(image("scene-61x47.png")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&bad, &bytes).unwrap();
    let (code, err, out) = encode(&["--encoder", "mae-vit-l-16", "--init", "random", &demo_image(), bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("cannot decode image {}", bad.display())), "{err}");
    assert!(!out.exists());
}

#[test]
fn an_unreadable_or_malformed_spec_is_an_error() {
    let dir = scratch("bad-spec");
    let missing = dir.join("absent.toml");
    let (code, err, _) = encode(&["--encoder", missing.to_str().unwrap(), "--init", "random", &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains(&format!("cannot read {}", missing.display())), "{err}");

    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("encoders/mae-vit-l-16.toml")).unwrap();
    let malformed = dir.join("malformed.toml");
    std::fs::write(&malformed, spec.replace("patch_size = 16\n", "")).unwrap();
    let (code, err, _) = encode(&["--encoder", malformed.to_str().unwrap(), "--init", "random", &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid encoder spec") && err.contains("missing field `patch_size`"), "{err}");

    let zero_patch = dir.join("zero-patch.toml");
    std::fs::write(&zero_patch, spec.replace("patch_size = 16\n", "patch_size = 0\n")).unwrap();
    let (code, err, _) = encode(&["--encoder", zero_patch.to_str().unwrap(), "--init", "random", &demo_image()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("patch_size = 0 is out of range: it must be 1..=64"), "{err}");
}

/// Sizes are checked where the spec is read: before `encode` preprocesses (a zero crop used to
/// panic in the resampler) and before anything is allocated (a huge width used to abort).
#[test]
fn out_of_range_sizes_in_a_spec_are_errors_naming_the_field() {
    let dir = scratch("bad-sizes");
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("encoders/mae-vit-l-16.toml")).unwrap();
    for (from, to, message) in [
        ("crop_size = 224", "crop_size = 0", "crop_size = 0 is out of range"),
        ("resize_size = 248", "resize_size = 0", "resize_size = 0 is out of range: it must be 224..=4096"),
        ("hidden_size = 1024", "hidden_size = 1000000000", "hidden_size = 1000000000 is out of range"),
        ("image_size = 224", "image_size = 4000000000", "image_size = 4000000000 is out of range"),
        ("act = \"gelu\"", "act = \"gelu\"\nregisters = 1000000000", "registers = 1000000000 is out of range"),
        ("act = \"gelu\"", "act = \"gelu\"\nnorm_eps = nan", "norm_eps = NaN must be finite and positive"),
        ("act = \"gelu\"", "act = \"gelu\"\nnorm_eps = -1e-6", "norm_eps = -0.000001 must be finite and positive"),
    ] {
        assert!(spec.contains(from), "{from}");
        let path = dir.join("spec.toml");
        std::fs::write(&path, spec.replacen(from, to, 1)).unwrap();
        let (code, err, out) = encode(&["--encoder", path.to_str().unwrap(), "--init", "random", &demo_image()]);
        assert_eq!(code, Some(1), "{to}: {err}");
        assert!(err.contains(&format!("invalid encoder spec {}", path.display())) && err.contains(message), "{to}: {err}");
        assert!(!out.exists());
    }
}

/// Finite weights whose products overflow used to give infinite features and exit 0 (a NaN in
/// the checkpoint itself is refused when it loads: tests/weights_bad_input.rs).
#[test]
fn non_finite_features_are_an_error_naming_the_encoder() {
    let huge: Vec<u8> = [f32::MAX; 32].iter().flat_map(|v| v.to_le_bytes()).collect();
    let dir = altered_checkpoint("nan-weights", "post_layernorm.weight", Some(("post_layernorm.weight", vec![32], huge)));
    let (code, err, out) = encode(&["--weights", dir.to_str().unwrap(), &demo_image()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("encoder `nan-weights` produced non-finite features"), "{err}");
    assert!(!out.exists());
}

#[test]
fn encoding_twice_writes_the_same_bytes() {
    let run = |name: &str| {
        let out = scratch(name).join("f.safetensors");
        let output =
            cambrian(&["encode", "--encoder", "mae-vit-l-16", "--init", "random", "--out", out.to_str().unwrap(), &demo_image()]);
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read(out).unwrap()
    };
    assert!(run("repeat-1") == run("repeat-2"), "two runs of the same encode differ");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = scratch("out-is-input");
    let picture = dir.join("picture.png");
    std::fs::copy(image("scene-61x47.png"), &picture).unwrap();
    let before = std::fs::read(&picture).unwrap();
    // The same file through another spelling of its path.
    let spelled = dir.join(".").join("picture.png");
    let output = cambrian(&[
        "encode",
        "--encoder",
        "mae-vit-l-16",
        "--init",
        "random",
        "--out",
        spelled.to_str().unwrap(),
        picture.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("is the input image"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&picture).unwrap(), before);

    let weights = altered_checkpoint("out-is-weights", "", None).join("model.safetensors");
    let before = std::fs::read(&weights).unwrap();
    let output = cambrian(&[
        "encode",
        "--weights",
        weights.parent().unwrap().to_str().unwrap(),
        "--out",
        weights.to_str().unwrap(),
        &demo_image(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("would overwrite the weights"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&weights).unwrap(), before);
}

/// A truncated JPEG used to decode silently (the missing rows grey; Pillow refuses it), and a
/// 60000×1 PNG (256 bytes) used to be padded to a square of 3.6 G pixels.
#[test]
fn unusable_images_are_errors_naming_the_file() {
    let dir = scratch("unusable-images");
    let half = dir.join("half.jpg");
    let bytes = std::fs::read(image("demo-96x72.jpg")).unwrap();
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let thin = dir.join("thin.png");
    image::RgbImage::new(60_000, 1).save(&thin).unwrap();
    for (path, message) in [
        (&half, format!("cannot decode image {}: truncated", half.display())),
        (&thin, format!("image {} is too large: 60000×1", thin.display())),
    ] {
        let (code, err, out) = encode(&["--encoder", "mae-vit-l-16", "--init", "random", path.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&message), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn preset_weights_missing_offline_say_how_to_get_them() {
    let home = scratch("empty-hf-home");
    let out = home.join("f.safetensors");
    let output = cambrian_with_env(
        &["encode", "--encoder", "mae-vit-l-16", "--out", out.to_str().unwrap(), &demo_image()],
        &[("HF_HOME", home.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(err.contains("timm/vit_large_patch16_224.mae/model.safetensors is not in the Hugging Face cache"), "{err}");
    assert!(err.contains("--weights"), "{err}");
}

#[test]
fn url_weights_missing_offline_say_where_they_go() {
    let home = scratch("empty-torch-home");
    let out = home.join("f.safetensors");
    let output = cambrian_with_env(
        &["encode", "--encoder", "ijepa-vit-h-14", "--out", out.to_str().unwrap(), &demo_image()],
        &[("TORCH_HOME", home.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(err.contains("IN22K-vit.h.14-900e.pth.tar is not in the torch.hub cache"), "{err}");
    assert!(err.contains(&format!("{}/hub/checkpoints", home.display())), "{err}");
}

#[test]
fn a_preset_without_published_weights_asks_for_them() {
    let out = scratch("no-weights").join("f.safetensors");
    let output = cambrian(&["encode", "--encoder", "moco-v3-vit-l-16", "--out", out.to_str().unwrap(), &demo_image()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("names no weights: pass --weights PATH or --init random"), "{}", stderr(&output));
}

#[test]
fn usage_errors_exit_with_code_2() {
    assert_eq!(cambrian(&["encode"]).status.code(), Some(2));
    assert_eq!(cambrian(&["no-such-command"]).status.code(), Some(2));
}

#[test]
#[cfg(not(feature = "wgpu"))]
fn a_backend_not_compiled_in_names_its_feature() {
    let output =
        cambrian(&["--device", "wgpu", "encode", "--encoder", "mae-vit-l-16", "--init", "random", "--out", "x", &demo_image()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("built without the `wgpu` backend; rebuild with `cargo build --release --features wgpu`"));
}

#[test]
fn random_init_encodes_a_bundled_image() {
    let out = scratch("random-init").join("demo.safetensors");
    let output = cambrian(&[
        "encode",
        "--encoder",
        "mae-vit-l-16",
        "--init",
        "random",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        image("demo-96x72.jpg").to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let file = common::read_tensors(&out);
    assert_eq!(file.tensors["features"].shape, vec![1, 196, 1024]);
    assert_eq!(file.tensors["grid"].values, vec![14.0, 14.0]);
    assert!(file.tensors["features"].values.iter().all(|v| v.is_finite()));
}

#[test]
fn bench_encoders_measures_ours_in_a_child_process() {
    let output =
        cambrian(&["bench", "encoders", "--encoder", "moco-v3-vit-b-16", "--iters", "1", "--warmup", "0", "--no-reference"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    let row = stdout.lines().find(|l| l.starts_with("moco-v3-vit-b-16")).expect("a row for the encoder");
    let fields: Vec<&str> = row.split_whitespace().collect();
    let images_per_sec: f64 = fields[2].parse().expect("images/s");
    assert!(images_per_sec > 0.0, "{row}");
    assert!(stdout.contains("torch: not run (--no-reference)"), "{stdout}");
}

/// A native-resolution encoder is timed on images of two aspect ratios (two grids) at once.
#[test]
fn bench_encoders_times_a_native_encoder_on_mixed_aspect_ratios() {
    let args = ["bench", "encoders", "--encoder", "siglip2-b-16-naflex", "--batch-size", "2", "--iters", "1", "--warmup", "0"];
    let output = cambrian(&[&args[..], &["--no-reference"]].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    let row = stdout.lines().find(|l| l.starts_with("siglip2-b-16-naflex")).expect("a row for the encoder");
    let images_per_sec: f64 = row.split_whitespace().nth(2).unwrap().parse().expect("images/s");
    assert!(images_per_sec > 0.0, "{row}");
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// An output path that is a FIFO, or a symlink to a device, is refused and left as it is:
/// renaming a new file over it would silently replace it.
#[test]
fn outputs_that_are_not_regular_files_are_refused() {
    let dir = scratch("cli-special-outputs");
    let fifo = dir.join("logits.fifo");
    mkfifo(&fifo);
    let model = fixtures().join("llm/qwen2-bias-tied");
    let args = ["llm", "--model", model.to_str().unwrap(), "--prompt", "the cat", "--max-new-tokens", "2"];
    let output = cambrian(&[&args[..], &["--dump-logits", fifo.to_str().unwrap()]].concat());
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("--dump-logits {}", fifo.display())) && message.contains("not a regular file"),
        "{message}"
    );
    assert!(output.stdout.is_empty(), "refused before generating: {}", String::from_utf8_lossy(&output.stdout));
    assert!(!std::fs::symlink_metadata(&fifo).unwrap().is_file(), "the FIFO was replaced");

    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).unwrap();
    let report = plots.join("report.md");
    std::os::unix::fs::symlink("/dev/null", &report).unwrap();
    let study = fixtures().join("results/study");
    let output = cambrian(&["plot", study.to_str().unwrap(), "--out", plots.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&format!("writing {}", report.display())), "{}", stderr(&output));
    assert_eq!(std::fs::read_link(&report).unwrap(), Path::new("/dev/null"), "the link was replaced");

    let script = dir.join("array.fifo");
    mkfifo(&script);
    let spec = fixtures().join("sweeps/tiny.toml");
    let output = cambrian(&["sweep", spec.to_str().unwrap(), "--emit-slurm", script.to_str().unwrap(), "--shards", "2"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("not a regular file"), "{}", stderr(&output));
    assert!(!std::fs::symlink_metadata(&script).unwrap().is_file(), "the FIFO was replaced");
}
