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

/// The accelerator's own name (`NVIDIA H100 80GB HBM3`), `None` on the CPU.
#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda", feature = "metal"))]
pub fn accelerator_name(device: &Device) -> Option<String> {
    device.identity().filter(|identity| identity.physical.is_some()).map(|identity| identity.name)
}
#[cfg(not(any(feature = "wgpu", feature = "vulkan", feature = "cuda", feature = "metal")))]
pub fn accelerator_name(_device: &Device) -> Option<String> {
    None
}

/// Bytes the device allocator holds (live tensors and the pages it keeps for reuse), in MiB;
/// `None` on a backend that does not report it (flex).
pub fn allocator_reserved_mib(device: &Device) -> Option<f64> {
    device.memory_pool_usage().map(|usage| usage.bytes_reserved as f64 / (1024.0 * 1024.0))
}
