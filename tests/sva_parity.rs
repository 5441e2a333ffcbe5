//! The SVA against Cambrian-1's released code, on the fixtures of
//! tools/reference/make_sva_fixtures.py (which runs `vision_sampler.py`, `cambrian_arch.py`,
//! `cambrian_llama.py` and the padding masks of `train_fsdp.py`, training path):
//!
//! - `connector`: four encoders (m = 1, 2, 1, 1 on a 4×4 grid), two query groups (4×4 and
//!   2×2), depth 2, three images (square; wide with windows of padding alone; tall), loaded
//!   from the stage-1 `mm_projector.bin`;
//! - `in-llm`: two encoders, samplers after decoder layers 0 and 2 of a 3-layer Llama, loaded
//!   from a full Cambrian checkpoint (`model.safetensors` + `config.json`).

mod common;

use std::path::PathBuf;

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use cambrian::connectors::sva::aggregate::ImageSpan;
use cambrian::connectors::sva::{SvaConnector, SvaLayout, SvaSettings};
use cambrian::encoders::Features;
use cambrian::llm::{LlmConfig, LlmModel, keys};
use cambrian::weights::checkpoint::Checkpoint;
use common::{Array, TensorFile, fixtures, max_abs_diff, read_tensors};

/// Float32 against float32 on the same (bf16-rounded) weights.
const TOLERANCE: f32 = 1e-4;

fn case(name: &str) -> (PathBuf, TensorFile) {
    let dir = fixtures().join("sva").join(name);
    let reference = read_tensors(&dir.join("reference.safetensors"));
    (dir, reference)
}

fn tensor<const D: usize>(array: &Array, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = array.shape.clone().try_into().unwrap();
    Tensor::from_data(TensorData::new(array.values.clone(), shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Each encoder's features; the maps are square.
fn features(reference: &TensorFile, encoders: usize, device: &Device) -> Vec<Features> {
    (0..encoders)
        .map(|i| {
            let tokens: Tensor<3> = tensor(&reference.tensors[&format!("features_{i}")], device);
            let side = (tokens.dims()[1] as f64).sqrt() as usize;
            Features { tokens, grid: [side, side] }
        })
        .collect()
}

fn sizes(reference: &TensorFile) -> Vec<[usize; 2]> {
    reference.tensors["image_sizes"].values.chunks(2).map(|s| [s[0] as usize, s[1] as usize]).collect()
}

fn compare(name: &str, found: Vec<f32>, expected: &Array) {
    let diff = max_abs_diff(&found, &expected.values);
    println!("{name}: max |Δ| = {diff:.2e}");
    assert!(diff <= TOLERANCE, "{name}: differs by {diff}");
}

/// The released masks (1 where the image is) against the connector's.
fn compare_masks(reference: &TensorFile, masks: &[Tensor<3, Bool>]) {
    for (i, mask) in masks.iter().enumerate() {
        let expected = &reference.tensors[&format!("masks_{i}")];
        assert_eq!(mask.dims().to_vec(), expected.shape, "masks_{i}");
        let found: Vec<f32> =
            mask.clone().into_data().try_to_vec::<bool>().unwrap().into_iter().map(|m| f32::from(u8::from(m))).collect();
        assert_eq!(found, expected.values, "masks_{i}");
    }
}

fn connector_settings() -> SvaSettings {
    SvaSettings {
        image_token_len: 16,
        num_query_group: 2,
        query_num_list: Some(vec![16, 4]),
        connector_depth: 2,
        vision_hidden_size: 32,
        ..SvaSettings::default()
    }
}

const CONNECTOR_GRIDS: [[usize; 2]; 4] = [[4, 4], [8, 8], [4, 4], [4, 4]];

fn connector(channels: &[usize], device: &Device) -> SvaConnector {
    let layout = SvaLayout::new(&connector_settings(), &CONNECTOR_GRIDS, 1).unwrap();
    SvaConnector::new(layout, channels, 32, device)
}

#[test]
fn four_encoders_two_query_groups_and_padding_masks() {
    let device = Device::flex();
    let (dir, reference) = case("connector");
    let mut sva = connector(&[24, 16, 20, 12], &device);
    sva.load(Checkpoint::open(&dir.join("mm_projector.bin"), None).unwrap()).expect("load mm_projector.bin");
    let (embeds, context) = sva.forward(features(&reference, 4, &device), &sizes(&reference)).unwrap();
    compare_masks(&reference, &context.masks);
    assert_eq!(embeds.dims().to_vec(), reference.tensors["image_embeds"].shape);
    compare("connector image embeddings", values(embeds), &reference.tensors["image_embeds"]);
}

#[test]
fn an_encoder_of_the_wrong_width_names_the_tensor() {
    let device = Device::flex();
    let (dir, _) = case("connector");
    let mut sva = connector(&[25, 16, 20, 12], &device);
    let err = sva.load(Checkpoint::open(&dir.join("mm_projector.bin"), None).unwrap()).unwrap_err().to_string();
    assert!(err.contains("model.mm_projector_aux_0.0.weight") && err.contains("[32, 24]") && err.contains("[32, 25]"), "{err}");
}

/// The full checkpoint's LLM and SVA, with the SVA settings read from its config.json.
fn in_llm_model(device: &Device, adjust: impl FnOnce(&mut SvaSettings)) -> (LlmModel, SvaConnector, Result<(), String>) {
    let (dir, _) = case("in-llm");
    let llm_config = LlmConfig::from_dir(&dir).unwrap();
    let mut llm = LlmModel::new(&llm_config, device);
    keys::load(&mut llm, Checkpoint::open(&dir, None).unwrap()).expect("the LLM loads from the Cambrian checkpoint");
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let mut settings = SvaSettings::from_cambrian_config(&text).unwrap();
    adjust(&mut settings);
    let layout = SvaLayout::new(&settings, &[[4, 4], [8, 8]], llm_config.layers).unwrap();
    let mut sva = SvaConnector::new(layout, &[24, 16], llm_config.hidden_size, device);
    let loaded = sva.load(Checkpoint::open(&dir, None).unwrap()).map_err(|e| e.to_string());
    (llm, sva, loaded)
}

#[test]
fn the_sva_inside_the_llm_matches_cambrian_llama() {
    let device = Device::flex();
    let (_, reference) = case("in-llm");
    let (llm, sva, loaded) = in_llm_model(&device, |_| ());
    loaded.expect("every SVA tensor of the Cambrian checkpoint loads");
    assert_eq!(sva.layout.llm_layers, [0, 2]);

    let sizes = sizes(&reference);
    let (image, context) = sva.forward(features(&reference, 2, &device), &sizes).unwrap();
    compare_masks(&reference, &context.masks);
    compare("in-llm image embeddings", values(image.clone()), &reference.tensors["image_embeds"]);

    let ids = |name: &str| {
        let array = &reference.tensors[name];
        let ids: Vec<i64> = array.values.iter().map(|&v| v as i64).collect();
        llm.embed(Tensor::<2, Int>::from_data(TensorData::new(ids, [array.shape[0], array.shape[1]]), &device))
    };
    let before = ids("text_before");
    let start = before.dims()[1];
    let embeds = Tensor::cat(vec![before, image, ids("text_after")], 1);
    let spans: Vec<ImageSpan> = (0..sizes.len()).map(|b| ImageSpan { row: b, start, image: b }).collect();
    let hook = sva.aggregation(&context, &spans).expect("connector_only is false");
    let logits = llm.logits(llm.decode_hooked(embeds.clone(), &mut llm.new_cache(), Some(&hook)));
    compare("logits with the in-LLM SVA", values(logits), &reference.tensors["logits"]);

    // Without the in-LLM samplers the logits are far off: the hook is what matches.
    let plain = values(llm.logits(llm.decode(embeds, &mut llm.new_cache())));
    assert!(max_abs_diff(&plain, &reference.tensors["logits"].values) > 1e-2);
}

#[test]
fn the_checkpoint_must_hold_every_in_llm_sampler_the_settings_ask_for() {
    let device = Device::flex();
    let (_, _, loaded) = in_llm_model(&device, |s| {
        s.num_of_vision_sampler_layers = 3;
        s.stride_of_vision_sampler_layers = 1;
    });
    let err = loaded.unwrap_err();
    assert!(err.contains("missing tensor `model.vision_sampler_layers.2.layers.0."), "{err}");

    let (_, _, loaded) = in_llm_model(&device, |s| s.connector_only = true);
    let err = loaded.unwrap_err();
    assert!(err.contains("model.vision_sampler_layers.") && err.contains("no place in the model"), "{err}");
}
