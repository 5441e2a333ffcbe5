//! Parity of the encoders of the 2025 comparisons with their reference implementations, on
//! the tiny random-weight checkpoints that tools/reference/make_2025_fixtures.py made from
//! the libraries' own definitions, in the hub checkpoints' formats: AIMv2 (transformers
//! `Aimv2VisionModel`), Web-DINO (`Dinov2Model` with SwiGLU), Web-MAE (`ViTModel`) and the
//! aligned Perception Encoders (timm's `vit_pe_lang_*` and `vit_pe_spatial_*`) and
//! InternViT-300M (OpenGVLab's remote-code `InternVisionModel`).
//!
//! For each fixture: the reference pixels through our model give the reference tokens within
//! 1e-4; our preprocessing gives the reference pixels within 1e-5; `cambrian encode` on the
//! image files within 1e-3. Each preset must parse and describe the grid and width its
//! checkpoint has.

mod common;

use burn::tensor::{Device, Tensor};
use cambrian::encoders::eva::EvaVariant;
use cambrian::encoders::registry::{preset, presets};
use cambrian::encoders::{Architecture, Encoder, Family, WeightsSource};
use common::encoder_case::{Case, SAME_PIXELS_TOLERANCE, forward};
use common::max_abs_diff;

/// RMSNorm after the patch embedding and in the blocks, bias-free SwiGLU and attention, no
/// class token; the unused attention-pooling head is left in the file.
#[test]
fn aimv2_from_a_transformers_folder() {
    Case::open("aimv2").check();
}

/// `layer = 1` is `hidden_states[1]`: block 1's output without the final RMSNorm.
#[test]
fn aimv2_intermediate_layer() {
    let case = Case::open("aimv2");
    let device = Device::flex();
    let (ours, _) = forward(&case.encoder(&device), &case.reference.tensors["pixels"], Some(1), &device);
    let diff = max_abs_diff(&ours, &case.reference.tensors["features_layer1"].values);
    println!("aimv2: layer 1, max |Δ| = {diff:.2e}");
    assert!(diff <= SAME_PIXELS_TOLERANCE, "layer 1 differs by {diff}");
}

/// The position table is indexed by patch number: another input side is an error that
/// says so, not a silently resized table.
#[test]
fn aimv2_refuses_an_input_grid_it_was_not_trained_at() {
    let case = Case::open("aimv2");
    let device = Device::flex();
    let encoder = case.encoder(&device);
    let err = encoder.forward(Tensor::<4>::zeros([1, 3, 40, 40], &device), None).err().expect("a 5×5 grid must be refused");
    assert!(err.to_string().contains("fixed at a 4×4 grid"), "{err}");
}

/// Dinov2Model with the SwiGLU feed-forward at mlp_ratio 4 (its width rounded up to 8).
#[test]
fn web_dino_from_a_transformers_folder() {
    Case::open("webssl-dino").check();
}

#[test]
fn web_mae_from_a_transformers_folder() {
    Case::open("webssl-mae").check();
}

/// No final norm, LayerScale, a class token and the rope offset that leaves it position 0.
#[test]
fn perception_encoder_lang() {
    Case::open("pe-lang").check();
}

#[test]
fn perception_encoder_spatial() {
    Case::open("pe-spatial").check();
}

/// G/14: no class token (and so no rope offset), LayerScale.
#[test]
fn perception_encoder_spatial_g() {
    Case::open("pe-spatial-g").check();
}

/// InternViT-300M's `InternVisionModel`: LayerScale, no final norm, run at a 5×5 grid
/// against its trained 4×4 (the table resized by plain bicubic, as its `_get_pos_embed`).
#[test]
fn internvit_from_its_remote_code_checkpoint() {
    Case::open("internvit").check();
}

/// The variant decides the final norm: PE-Spatial's checkpoint, which has none, does not
/// load as PE-Core, and the error names the tensor.
#[test]
fn a_pe_spatial_checkpoint_does_not_load_as_pe_core() {
    let case = Case::open("pe-spatial");
    let mut spec = case.encoder(&Device::flex()).spec;
    let Architecture::Eva(eva) = &mut spec.architecture else { panic!("pe-spatial is an eva spec") };
    eva.variant = EvaVariant::PeCore;
    let weights = case.dir.join("model.safetensors");
    let err = Encoder::build(spec, WeightsSource::Path(&weights), &Device::flex()).err().expect("no final norm to load");
    let message = format!("{err:#}");
    assert!(message.contains("missing tensor `norm."), "{message}");
}

#[test]
fn presets_describe_their_checkpoints() {
    for (name, family, tokens, hidden, kind) in [
        ("aimv2-vit-l-14-224", Family::LanguageSupervised, 256, 1024, "aimv2"),
        ("aimv2-vit-l-14-448", Family::LanguageSupervised, 1024, 1024, "aimv2"),
        ("webssl-dino1b-full2b-224", Family::SelfSupervised, 256, 1536, "vit (hf-dinov2)"),
        ("webssl-dino7b-full8b-384", Family::SelfSupervised, 729, 4096, "vit (hf-dinov2)"),
        ("webssl-mae3b-full2b-224", Family::SelfSupervised, 256, 3072, "vit (hf-vit)"),
        ("pe-lang-vit-l-14-448", Family::LanguageSupervised, 1024, 1024, "eva (pe-lang)"),
        ("pe-spatial-vit-b-16-512", Family::LanguageSupervised, 1024, 768, "eva (pe-spatial)"),
        ("pe-spatial-vit-g-14-448", Family::LanguageSupervised, 1024, 1536, "eva (pe-spatial)"),
        ("internvit-300m-448", Family::LanguageSupervised, 1024, 1024, "vit (internvit)"),
    ] {
        let spec = preset(name).unwrap();
        assert_eq!((spec.family, spec.native_tokens(), spec.hidden_size()), (family, tokens, hidden), "{name}");
        assert_eq!(spec.architecture_name(), kind, "{name}");
        assert!(spec.hub.is_some() && spec.weights_file.is_some(), "{name}");
        assert!(spec.preprocess.pad_to_square, "{name}: Cambrian-1 pads to square");
    }
    assert!(presets().len() >= 40, "the registry lists {} presets", presets().len());
}
