//! The connectors against LLaVA's mm_projector and F.interpolate + torch.cat, on the fixture
//! from tools/reference/make_connector_fixtures.py: two encoders' maps (4×4×12, 6×6×8)
//! brought to 4×4, concatenated, projected to 16 channels.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::connectors::{ConcatConnector, Projector, ProjectorKind};
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
    let connector = ConcatConnector { projector, image_newline: None, grid: [4, 4] };
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
