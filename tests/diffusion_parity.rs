//! Parity of the Stable Diffusion encoder with diffusers + transformers, on the tiny
//! random-weight diffusers folder that tools/reference/make_diffusion_fixtures.py made
//! (VAE and UNet stored in f16, text encoder in f32, SD 2.1's tokenizer files).
//!
//! Each stage is checked on its own: the empty-prompt embedding, the VAE latents, the seeded
//! noise, then the concatenated up-block features from the reference pixels (1e-4), and
//! `cambrian encode` from the image files (1e-3, through our preprocessing).

mod common;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::diffusion::StableDiffusion;
use cambrian::encoders::registry::{preset, resolve};
use cambrian::encoders::{Encoder, EncoderModel, WeightsSource};
use common::{Array, cambrian, fixtures, image, max_abs_diff, read_tensors, scratch, stderr};

const TOLERANCE: f32 = 1e-4;
const FROM_FILE_TOLERANCE: f32 = 1e-3;
const PIXEL_TOLERANCE: f32 = 1e-5;

fn case_dir() -> PathBuf {
    fixtures().join("encoders/diffusers-sd2")
}

fn spec_path() -> PathBuf {
    case_dir().join("spec.toml")
}

fn load(dir: &std::path::Path, device: &Device) -> Result<Encoder, cambrian::encoders::EncoderError> {
    let resolved = resolve(Some(spec_path().to_str().unwrap()), None)?;
    Encoder::build(resolved.spec, WeightsSource::Path(&dir.join("model_index.json")), device)
}

fn model(encoder: &Encoder) -> &StableDiffusion {
    match &encoder.model {
        EncoderModel::Diffusion(sd) => sd,
        other => panic!("not a Stable Diffusion model: {other:?}"),
    }
}

fn tensor<const D: usize>(array: &Array, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = array.shape.clone().try_into().unwrap();
    Tensor::from_data(TensorData::new(array.values.clone(), shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> (Vec<f32>, Vec<usize>) {
    let dims = t.dims().to_vec();
    (t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), dims)
}

fn compare(what: &str, (ours, shape): (Vec<f32>, Vec<usize>), expected: &Array, tolerance: f32) {
    assert_eq!(shape, expected.shape, "{what}: shape");
    let diff = max_abs_diff(&ours, &expected.values);
    println!("{what}: max |Δ| = {diff:.2e}");
    assert!(diff <= tolerance, "{what}: differs by {diff}");
}

#[test]
fn empty_prompt_embedding_latents_and_noise_match_the_reference() {
    let device = Device::flex();
    let encoder = load(&case_dir(), &device).expect("load fixture");
    let sd = model(&encoder);
    let reference = read_tensors(&case_dir().join("reference.safetensors"));
    compare("prompt embedding", values(sd.prompt_embeds()), &reference.tensors["prompt_embeds"], TOLERANCE);
    let pixels = tensor::<4>(&reference.tensors["pixels"], &device);
    compare("VAE latents", values(sd.latents(pixels)), &reference.tensors["latents"], TOLERANCE);
    let noise = &reference.tensors["noise"];
    let shape: [usize; 3] = noise.shape.clone().try_into().unwrap();
    // Same generator on both sides; f64 libm differences can only move the last f32 bit.
    compare("seeded noise", values(sd.noise(shape, &device)), noise, 1e-6);
}

#[test]
fn features_match_the_reference() {
    let device = Device::flex();
    let encoder = load(&case_dir(), &device).expect("load fixture");
    let reference = read_tensors(&case_dir().join("reference.safetensors"));
    let pixels = tensor::<4>(&reference.tensors["pixels"], &device);
    let expected = &reference.tensors["features"];
    let out = encoder.forward(pixels.clone(), None).expect("forward");
    assert_eq!(out.grid, [4, 4]);
    compare("features (seeded noise)", values(out.tokens), expected, TOLERANCE);
    // The reference's own noise tensor through the explicit-noise entry point.
    let noise = tensor::<3>(&reference.tensors["noise"], &device);
    let (tokens, _) = model(&encoder).forward_with_noise(pixels, noise).expect("forward with noise");
    compare("features (given noise)", values(tokens), expected, TOLERANCE);
}

#[test]
fn cambrian_encode_from_image_files_matches_the_reference() {
    let device = Device::flex();
    let encoder = load(&case_dir(), &device).expect("load fixture");
    let reference = read_tensors(&case_dir().join("reference.safetensors"));
    let images: Vec<PathBuf> = reference.metadata["images"].split(',').map(image).collect();
    let ours = cambrian::encoders::encode::preprocess_files(&encoder.spec.preprocess, &images).unwrap();
    let diff = max_abs_diff(&common::pixel_values(&ours), &reference.tensors["pixels"].values);
    println!("preprocessing: max |Δ| = {diff:.2e}");
    assert!(diff <= PIXEL_TOLERANCE, "preprocessing differs by {diff}");

    let out = scratch("diffusion-encode").join("features.safetensors");
    let spec = spec_path();
    let mut args = vec!["encode", "--encoder", spec.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let paths: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let output = cambrian(&args);
    assert!(output.status.success(), "cambrian encode failed: {}", stderr(&output));
    let file = read_tensors(&out);
    let expected = &reference.tensors["features"];
    compare(
        "cambrian encode",
        (file.tensors["features"].values.clone(), file.tensors["features"].shape.clone()),
        expected,
        FROM_FILE_TOLERANCE,
    );
    assert_eq!(file.tensors["grid"].values, [4.0, 4.0]);
}

#[test]
fn a_layer_is_refused() {
    let device = Device::flex();
    let encoder = load(&case_dir(), &device).expect("load fixture");
    let pixels = Tensor::<4>::zeros([1, 3, 64, 64], &device);
    let err = encoder.forward(pixels, Some(-2)).err().expect("a layer must be refused");
    assert!(err.to_string().contains("no layer -2 to select"), "{err}");
}

/// A folder whose config disagrees with the spec is refused, naming the field.
#[test]
fn a_folder_unlike_the_spec_is_refused() {
    let dir = scratch("diffusion-mismatch");
    copy_dir(&case_dir(), &dir);
    let config_path = dir.join("unet/config.json");
    let config =
        std::fs::read_to_string(&config_path).unwrap().replace("\"cross_attention_dim\": 8", "\"cross_attention_dim\": 16");
    std::fs::write(&config_path, config).unwrap();
    let err = load(&dir, &Device::flex()).err().expect("a mismatched folder must be refused");
    assert!(err.to_string().contains("`cross_attention_dim` is 16, the spec's [architecture.unet] says 8"), "{err}");

    let vae_path = dir.join("unet/config.json");
    let config = std::fs::read_to_string(&vae_path)
        .unwrap()
        .replace("\"cross_attention_dim\": 16", "\"cross_attention_dim\": 8")
        .replace("\"use_linear_projection\": true", "\"use_linear_projection\": false");
    std::fs::write(&vae_path, config).unwrap();
    let err = load(&dir, &Device::flex()).err().expect("a conv projection must be refused");
    assert!(err.to_string().contains("`use_linear_projection` is false"), "{err}");
}

/// Rewrites a safetensors file with renamed keys, plus extra tensors.
fn rewrite(path: &std::path::Path, rename: impl Fn(&str) -> String, extra: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut views: Vec<(String, safetensors::tensor::TensorView)> =
        file.tensors().into_iter().map(|(name, view)| (rename(&name), view)).collect();
    for (name, dtype, shape, data) in extra {
        views.push((name.to_string(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap()));
    }
    let out = safetensors::serialize(views, None).unwrap();
    std::fs::write(path, out).unwrap();
}

/// Checkpoints saved by older libraries, as the stabilityai repository's are: the VAE's
/// mid-block attention as `query`/`key`/`value`/`proj_attn`, the text encoder under
/// `text_model.` with its `position_ids` buffer.
#[test]
fn older_checkpoint_key_names_load() {
    let dir = scratch("diffusion-legacy-keys");
    copy_dir(&case_dir(), &dir);
    let legacy = |key: &str| {
        key.replace("attentions.0.to_q", "attentions.0.query")
            .replace("attentions.0.to_k", "attentions.0.key")
            .replace("attentions.0.to_v", "attentions.0.value")
            .replace("attentions.0.to_out.0", "attentions.0.proj_attn")
    };
    rewrite(&dir.join("vae/diffusion_pytorch_model.safetensors"), legacy, &[]);
    let positions: Vec<u8> = (0..12i64).flat_map(i64::to_le_bytes).collect();
    rewrite(
        &dir.join("text_encoder/model.safetensors"),
        |key| format!("text_model.{key}"),
        &[("text_model.embeddings.position_ids", safetensors::Dtype::I64, vec![1, 12], positions)],
    );
    let device = Device::flex();
    let encoder = load(&dir, &device).expect("load legacy names");
    let reference = read_tensors(&case_dir().join("reference.safetensors"));
    let pixels = tensor::<4>(&reference.tensors["pixels"], &device);
    compare("legacy features", values(encoder.forward(pixels, None).unwrap().tokens), &reference.tensors["features"], TOLERANCE);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_sd21_preset_describes_cambrians_tower() {
    let spec = preset("sd-2.1").expect("preset");
    assert_eq!(spec.resolution(), 512);
    assert_eq!(spec.native_grid(), [32, 32]);
    assert_eq!(spec.native_tokens(), 1024);
    assert_eq!(spec.hidden_size(), 3520);
}
