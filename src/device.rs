//! The compute device, chosen at run time with `--device`. GPU backends exist only in
//! binaries built with their Cargo feature; asking for one that is not compiled in names the
//! feature to build with.

use burn::tensor::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    /// burn's flex CPU backend (always built).
    Cpu,
    Wgpu,
    Vulkan,
    Cuda,
    Metal,
}

#[derive(Debug, thiserror::Error)]
#[error("this cambrian was built without the `{0}` backend; rebuild with `cargo build --release --features {0}`")]
pub struct NotCompiled(&'static str);

impl DeviceArg {
    /// The name `--device` takes.
    pub fn name(self) -> &'static str {
        match self {
            DeviceArg::Cpu => "cpu",
            DeviceArg::Wgpu => "wgpu",
            DeviceArg::Vulkan => "vulkan",
            DeviceArg::Cuda => "cuda",
            DeviceArg::Metal => "metal",
        }
    }
}

pub fn open(arg: DeviceArg) -> Result<Device, NotCompiled> {
    match arg {
        DeviceArg::Cpu => Ok(Device::flex()),
        DeviceArg::Wgpu => wgpu(),
        DeviceArg::Vulkan => vulkan(),
        DeviceArg::Cuda => cuda(),
        DeviceArg::Metal => metal(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device, NotCompiled> {
    Ok(Device::wgpu(Default::default()))
}
#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device, NotCompiled> {
    Err(NotCompiled("wgpu"))
}

#[cfg(feature = "vulkan")]
fn vulkan() -> Result<Device, NotCompiled> {
    Ok(Device::vulkan(Default::default()))
}
#[cfg(not(feature = "vulkan"))]
fn vulkan() -> Result<Device, NotCompiled> {
    Err(NotCompiled("vulkan"))
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device, NotCompiled> {
    Ok(Device::cuda(0))
}
#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device, NotCompiled> {
    Err(NotCompiled("cuda"))
}

#[cfg(feature = "metal")]
fn metal() -> Result<Device, NotCompiled> {
    Ok(Device::metal(Default::default()))
}
#[cfg(not(feature = "metal"))]
fn metal() -> Result<Device, NotCompiled> {
    Err(NotCompiled("metal"))
}
