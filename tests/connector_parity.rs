//! The connectors against LLaVA's mm_projector and F.interpolate + torch.cat, on the fixture
//! from tools/reference/make_connector_fixtures.py: two encoders' maps (4×4×12, 6×6×8)
//! brought to 4×4, concatenated, projected to 16 channels; and the token-reducing
//! connectors (C-Abstractor, pixel shuffle, Perceiver, LDP) against their projects' modules.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::connectors::ldp::LdpType;
use cambrian::connectors::perceiver::PerceiverResampler;
use cambrian::connectors::pixel_shuffle::PsVersion;
use cambrian::connectors::{
    CAbstractor, CAbstractorSettings, ConcatConnector, Connector, Ldp, LdpSettings, PerceiverSettings, PixelShuffle,
    PixelShuffleSettings, Projector, ProjectorKind,
};
use cambrian::encoders::Features;
use cambrian::weights::checkpoint::Checkpoint;
use common::{Array, fixtures, max_abs_diff, read_tensors};

const TOLERANCE: f32 = 1e-5;

fn tensor(array: &Array, device: &Device) -> Tensor<3> {
    let shape: [usize; 3] = array.shape.clone().try_into().unwrap();
    Tensor::from_data(TensorData::new(array.values.clone(), shape), device)
}

fn check(kind: ProjectorKind, name: &str) {
    let device = Device::flex();
    let reference = read_tensors(&fixtures().join("connectors/reference.safetensors"));
    let mut projector = Projector::new(kind, 20, 16, &device);
    let checkpoint = Checkpoint::open(&fixtures().join(format!("connectors/{name}/mm_projector.bin")), None).unwrap();
    projector.load(checkpoint).expect("load mm_projector.bin");
    let connector = ConcatConnector { projector, image_newline: None, grid: [4, 4], own_grid_budget: None };
    let features = vec![
        Features { tokens: tensor(&reference.tensors["a"], &device), grid: [4, 4] },
        Features { tokens: tensor(&reference.tensors["b"], &device), grid: [6, 6] },
    ];
    let out = connector.forward(features);
    let expected = &reference.tensors[name];
    assert_eq!(out.dims().to_vec(), expected.shape);
    let diff = max_abs_diff(&out.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), &expected.values);
    println!("{name}: max |Δ| = {diff:.2e}");
    assert!(diff <= TOLERANCE, "{name}: differs by {diff}");
}

#[test]
fn mlp2x_gelu_over_two_concatenated_encoders() {
    check(ProjectorKind::Mlp2xGelu, "mlp2x_gelu");
}

#[test]
fn linear_over_two_concatenated_encoders() {
    check(ProjectorKind::Linear, "linear");
}

#[test]
fn a_projector_of_the_wrong_width_names_the_tensor() {
    let device = Device::flex();
    let mut projector = Projector::new(ProjectorKind::Mlp2xGelu, 24, 16, &device);
    let checkpoint = Checkpoint::open(&fixtures().join("connectors/mlp2x_gelu/mm_projector.bin"), None).unwrap();
    let err = projector.load(checkpoint).unwrap_err().to_string();
    assert!(err.contains("model.mm_projector.0.weight") && err.contains("[16, 20]"), "{err}");
}

/// The token-reducing connectors against their own repositories' modules, each loaded from
/// the checkpoint its project writes (`tools/reference/make_connector_fixtures.py`).
const REDUCING_TOLERANCE: f32 = 1e-4;

fn reducing_case(connector: Connector, name: &str, grid: [usize; 2], output: &str) {
    let device = Device::flex();
    let reference = read_tensors(&fixtures().join("connectors").join(name).join("reference.safetensors"));
    let features = vec![Features { tokens: tensor(&reference.tensors["input"], &device), grid }];
    let (out, _) = connector.forward(features, &[]).expect("forward");
    let expected = &reference.tensors[output];
    assert_eq!(out.dims().to_vec(), expected.shape, "{name}");
    let diff = max_abs_diff(&out.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), &expected.values);
    println!("{name} ({output}): max |Δ| = {diff:.2e}");
    assert!(diff <= REDUCING_TOLERANCE, "{name}: differs by {diff}");
}

fn checkpoint(name: &str, file: &str) -> Checkpoint {
    Checkpoint::open(&fixtures().join("connectors").join(name).join(file), None).unwrap()
}

fn c_abstractor_settings() -> CAbstractorSettings {
    CAbstractorSettings { num_query_tokens: 16, depth: 2, mlp_depth: 2, hidden_size: 16, pos_emb: true }
}

#[test]
fn honeybee_c_abstractor_from_its_checkpoint() {
    let mut abstractor = CAbstractor::new(&c_abstractor_settings(), [6, 6], 12, 24, false, &Device::flex());
    abstractor.load(checkpoint("c-abstractor", "pytorch_model.bin")).expect("load pytorch_model.bin");
    assert_eq!(abstractor.image_tokens(), 16);
    reducing_case(Connector::CAbstractor(abstractor), "c-abstractor", [6, 6], "output");
}

#[test]
fn a_c_abstractor_of_another_width_names_the_tensor() {
    let settings = CAbstractorSettings { hidden_size: 8, ..c_abstractor_settings() };
    let mut abstractor = CAbstractor::new(&settings, [6, 6], 12, 24, false, &Device::flex());
    let err = abstractor.load(checkpoint("c-abstractor", "pytorch_model.bin")).unwrap_err().to_string();
    assert!(err.contains("abstractor.net.0.b1.") && err.contains("16"), "{err}");
}

/// Honeybee's end-of-image tokens and input LayerNorm are not built: a checkpoint with
/// either is refused by name, not loaded without it.
#[test]
fn a_c_abstractor_checkpoint_with_eos_tokens_or_a_prenorm_is_refused() {
    for key in ["abstractor.eos_tokens", "abstractor.prenorm.weight"] {
        let mut abstractor = CAbstractor::new(&c_abstractor_settings(), [6, 6], 12, 24, false, &Device::flex());
        let mut extended = checkpoint("c-abstractor", "pytorch_model.bin");
        let tensor = extended.tensors["abstractor.pos_emb"].clone();
        extended.tensors.insert(key.to_string(), tensor);
        let err = abstractor.load(extended).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains("no place in the model"), "{err}");
    }
}

#[test]
fn internvl_pixel_shuffle_from_its_checkpoint_in_both_versions() {
    for (version, output) in [(PsVersion::V2, "output"), (PsVersion::V1, "output_v1")] {
        let settings = PixelShuffleSettings { downsample_ratio: 0.5, ps_version: version };
        let mut shuffle = PixelShuffle::new(&settings, [6, 6], 8, 16, false, &Device::flex()).unwrap();
        shuffle
            .load(Checkpoint::open(&fixtures().join("connectors/pixel-shuffle"), None).unwrap())
            .expect("load model.safetensors");
        assert_eq!(shuffle.image_tokens(), 9);
        reducing_case(Connector::PixelShuffle(shuffle), "pixel-shuffle", [6, 6], output);
    }
}

#[test]
fn open_flamingo_perceiver_from_its_checkpoint() {
    let device = Device::flex();
    let settings = PerceiverSettings { depth: 2, dim_head: 4, heads: 3, num_latents: 5, ff_mult: 2 };
    let mut resampler = PerceiverResampler::new(&settings, 12, &device);
    resampler.load(checkpoint("perceiver", "checkpoint.pt")).expect("load checkpoint.pt");
    let reference = read_tensors(&fixtures().join("connectors/perceiver/reference.safetensors"));
    let out = resampler.forward(tensor(&reference.tensors["input"], &device));
    let expected = &reference.tensors["output"];
    assert_eq!(out.dims().to_vec(), expected.shape);
    let diff = max_abs_diff(&out.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), &expected.values);
    println!("perceiver: max |Δ| = {diff:.2e}");
    assert!(diff <= REDUCING_TOLERANCE, "perceiver: differs by {diff}");
}

#[test]
fn mobilevlm_ldp_from_its_checkpoints() {
    for (kind, name, side) in [(LdpType::Ldpnet, "ldp", 5), (LdpType::Ldpnetv2, "ldp-v2", 6)] {
        let settings = LdpSettings { mm_projector_type: kind };
        let mut ldp = Ldp::new(&settings, [side, side], 12, 16, false, &Device::flex()).unwrap();
        ldp.load(checkpoint(name, "mm_projector.bin")).expect("load mm_projector.bin");
        reducing_case(Connector::Ldp(ldp), name, [side, side], "output");
    }
}

#[test]
fn an_ldp_checkpoint_of_the_other_version_is_refused_by_its_layout() {
    let settings = LdpSettings { mm_projector_type: LdpType::Ldpnet };
    let mut ldp = Ldp::new(&settings, [6, 6], 12, 16, false, &Device::flex()).unwrap();
    let err = ldp.load(checkpoint("ldp-v2", "mm_projector.bin")).unwrap_err().to_string();
    assert!(err.contains("model.mlp.1.weight") && err.contains("ldpnet"), "{err}");
}
