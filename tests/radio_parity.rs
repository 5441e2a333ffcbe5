//! Parity of RADIO (`kind = "radio"`) with NVIDIA's own code, on the tiny random models that
//! tools/reference/make_radio_fixtures.py built with NVlabs/RADIO (`hf_model.RADIOModel`,
//! `hubconf.radio_model`) in both release formats: a Hugging Face folder (`radio-hf`: config.json
//! read for the spec, a FeatureNormalizer, no final norm) and a torch.hub `.pth.tar`
//! (`radio-pth`: sizes from a spec, `state_dict_ema` preferred over a spectral-reparametrized
//! `state_dict`, the final norm kept). Both have an 8 × 8 position table resized CPE-style to
//! the 4 × 4 and 3 × 5 input grids, 2 class tokens and 2 registers.
//!
//! Each: the reference's conditioned pixels through our model give its features within 1e-4
//! (measured here: 2.9e-6 for radio-hf, 1.4e-6 for radio-pth at 32 × 32; 2.9e-6 and 9.5e-7 at
//! 24 × 40); our preprocessing gives its pixels within 1e-5 (measured 0, bit for bit);
//! `cambrian encode` on the image files within 1e-3 (measured 2.9e-6 and 1.4e-6).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::registry::{preset, presets};
use cambrian::encoders::{Architecture, Encoder, EncoderSpec, Family, WeightsSource};
use common::encoder_case::{Case, SAME_PIXELS_TOLERANCE, forward};
use common::max_abs_diff;

/// The non-square input (24 × 40 px, a 3 × 5 grid): the table is resized to 5 × 5 and cropped.
fn check_wide(case: &Case) {
    let device = Device::flex();
    let (ours, shape) = forward(&case.encoder(&device), &case.reference.tensors["pixels_wide"], None, &device);
    let expected = &case.reference.tensors["features_wide"];
    assert_eq!(shape, expected.shape, "{}: wide feature shape", case.name);
    let diff = max_abs_diff(&ours, &expected.values);
    println!("{}: 24 × 40 input, max |Δ| = {diff:.2e}", case.name);
    assert!(diff <= SAME_PIXELS_TOLERANCE, "{}: wide input differs by {diff}", case.name);
}

/// The Hugging Face release: the spec from config.json (`args`, `preferred_resolution`,
/// `feature_normalizer_config`), the FeatureNormalizer applied, no final norm.
#[test]
fn radio_from_a_hugging_face_folder() {
    let case = Case::open("radio-hf");
    let encoder = case.check();
    let Architecture::Radio(radio) = &encoder.spec.architecture else { panic!("not a radio spec") };
    assert_eq!((radio.cls_tokens, radio.registers, radio.cpe_max_size), (2, 2, 64));
    assert_eq!((radio.final_norm, radio.feature_normalizer), (Some(false), Some(true)));
    check_wide(&case);
}

/// The torch.hub release: a pickle whose `args` (an argparse.Namespace) cannot be read
/// without Python, so the sizes come from the spec; `state_dict_ema` is taken.
#[test]
fn radio_from_a_torch_hub_checkpoint() {
    let case = Case::open("radio-pth");
    case.check();
    check_wide(&case);
}

fn pth_spec(case: &Case) -> EncoderSpec {
    EncoderSpec::from_file(case.spec.as_ref().unwrap()).unwrap()
}

fn build_error(spec: EncoderSpec, weights: &std::path::Path) -> String {
    match Encoder::build(spec, WeightsSource::Path(weights), &Device::flex()) {
        Ok(_) => panic!("the checkpoint should be refused"),
        Err(err) => format!("{err:#}"),
    }
}

/// The same file's non-EMA `state_dict` is under spectral reparametrization: refused, naming
/// a parametrized key, not loaded with its `original` weights taken as the real ones.
#[test]
fn a_spectral_reparametrized_state_dict_is_refused_by_name() {
    let case = Case::open("radio-pth");
    let mut spec = pth_spec(&case);
    spec.weights_key = Some("state_dict".into());
    let err = build_error(spec, &case.dir.join("radio-tiny.pth.tar"));
    assert!(err.contains(".parametrizations.") && err.contains("spectral reparametrization"), "{err}");
}

/// Strict loading: a part the spec requires and the checkpoint lacks is a missing tensor
/// named as the file would name it; a part the checkpoint has and the spec excludes (the
/// FeatureNormalizer) is an error naming its key, never silently skipped.
#[test]
fn optional_parts_must_agree_with_the_checkpoint() {
    let case = Case::open("radio-hf");
    let spec = cambrian::encoders::registry::resolve(None, Some(&case.dir)).unwrap().spec;

    let mut with_norm = spec.clone();
    let Architecture::Radio(radio) = &mut with_norm.architecture else { panic!() };
    radio.final_norm = Some(true);
    let err = build_error(with_norm, &case.dir);
    assert!(err.contains("missing tensor `radio_model.model.norm."), "{err}");

    let mut without_normalizer = spec;
    let Architecture::Radio(radio) = &mut without_normalizer.architecture else { panic!() };
    radio.feature_normalizer = Some(false);
    let err = build_error(without_normalizer, &case.dir);
    assert!(err.contains("`radio_model.feature_normalizer."), "{err}");
}

/// The checkpoint's input conditioner must be the spec's normalisation.
#[test]
fn a_spec_normalising_otherwise_than_the_checkpoint_is_refused() {
    let case = Case::open("radio-pth");
    let mut spec = pth_spec(&case);
    spec.preprocess.mean = [0.485, 0.456, 0.406];
    let err = build_error(spec, &case.dir.join("radio-tiny.pth.tar"));
    assert!(err.contains("`input_conditioner.norm_mean`"), "{err}");
}

/// A spec whose sizes do not match the file is refused naming the tensor; so is a side that
/// is not a multiple of the patch size (RADIOModel.forward raises there too).
#[test]
fn wrong_sizes_and_inputs_are_refused() {
    let case = Case::open("radio-pth");
    let mut spec = pth_spec(&case);
    let Architecture::Radio(radio) = &mut spec.architecture else { panic!() };
    radio.registers = 4;
    let err = build_error(spec, &case.dir.join("radio-tiny.pth.tar"));
    assert!(err.contains("`base_model.patch_generator.cls_token.token`") && err.contains("[4, 32]"), "{err}");

    let device = Device::flex();
    let encoder = case.encoder(&device);
    let pixels = Tensor::<4>::from_data(TensorData::new(vec![0.0f32; 3 * 36 * 32], [1, 3, 36, 32]), &device);
    let err = encoder.forward(pixels, None).err().expect("36 px is not a multiple of 8").to_string();
    assert!(err.contains("multiples of the patch size 8"), "{err}");
}

#[test]
fn presets_describe_their_checkpoints() {
    for (name, tokens, hidden) in [
        ("c-radiov3-b-16-512", 1024, 768),
        ("c-radiov3-l-16-512", 1024, 1024),
        ("c-radiov3-h-16-512", 1024, 1280),
        ("c-radiov3-g-16-512", 1024, 1536),
        ("radio-v2.5-b-16-768", 2304, 768),
        ("radio-v2.5-l-16-768", 2304, 1024),
        ("radio-v2.5-h-16-768", 2304, 1280),
        ("radio-v2.5-g-14-896", 4096, 1536),
    ] {
        let spec = preset(name).unwrap();
        assert_eq!(
            (spec.family, spec.native_tokens(), spec.hidden_size()),
            (Family::LanguageSupervised, tokens, hidden),
            "{name}"
        );
        assert_eq!(spec.architecture_name(), "radio", "{name}");
        assert!(spec.hub.is_some() && spec.weights_file.is_some() && spec.preprocess.pad_to_square, "{name}");
    }
    assert!(presets().iter().filter(|spec| spec.architecture_name() == "radio").count() == 8);
}
