//! The compute device, chosen at run time with `--device`. GPU backends exist only in
//! binaries built with their Cargo feature; asking for one that is not compiled in names the
//! feature to build with; `--device cuda` without an NVIDIA driver names the missing driver.

pub mod kernel_cache;

use burn::tensor::{DType, Device, FloatDType};

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
pub enum OpenError {
    #[error("this cambrian was built without the `{0}` backend; rebuild with `cargo build --release --features {0}`")]
    NotCompiled(&'static str),
    #[error(
        "--device cuda: no NVIDIA driver on this machine (libcuda.so could not be loaded); install the driver or add its folder to LD_LIBRARY_PATH, or use --device cpu"
    )]
    NoCudaDriver,
}

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

/// The float type of weights and activations for inference, chosen with `--dtype`. Training
/// takes its precision from the run config instead (`crate::nn::precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    F32,
    Bf16,
    F16,
}

impl DtypeArg {
    pub fn name(self) -> &'static str {
        match self {
            DtypeArg::F32 => "f32",
            DtypeArg::Bf16 => "bf16",
            DtypeArg::F16 => "f16",
        }
    }

    fn float(self) -> FloatDType {
        match self {
            DtypeArg::F32 => FloatDType::F32,
            DtypeArg::Bf16 => FloatDType::BF16,
            DtypeArg::F16 => FloatDType::F16,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DtypeError {
    #[error("the {device} backend does not compute in {dtype} on this machine{hint}; use --dtype f32")]
    Unsupported { device: &'static str, dtype: &'static str, hint: &'static str },
    #[error(
        "`{command}` trains or writes weights: its precision is the run config's `precision` (f32, bf16-mixed, bf16); --dtype {dtype} is for encode, llm and the inference benchmarks"
    )]
    TrainingIsF32 { command: &'static str, dtype: &'static str },
    #[error("setting the {device} device's float type to {dtype}: {message}")]
    Configure { device: &'static str, dtype: &'static str, message: String },
}

/// The device, computing in `dtype`: every float tensor it makes from here on (weights as
/// they load or initialise, activations) has that type. Reductions inside norms and
/// softmax are burn's and ours (RMSNorm widens to f32, as transformers does).
pub fn open_in(arg: DeviceArg, dtype: DtypeArg) -> anyhow::Result<Device> {
    let mut device = open(arg)?;
    if dtype == DtypeArg::F32 {
        return Ok(device);
    }
    let float = dtype.float();
    if !device.supports_dtype(DType::from(float)) {
        let hint = match (arg, dtype) {
            (DeviceArg::Wgpu | DeviceArg::Vulkan, DtypeArg::Bf16) => {
                " (burn 0.22's wgpu and Vulkan backends store bf16 but have no bf16 arithmetic; f16 may work)"
            }
            _ => "",
        };
        return Err(DtypeError::Unsupported { device: arg.name(), dtype: dtype.name(), hint }.into());
    }
    device.configure(float).map_err(|err| DtypeError::Configure {
        device: arg.name(),
        dtype: dtype.name(),
        message: format!("{err:?}"),
    })?;
    Ok(device)
}

/// Refuses half precision for a command that trains or writes weights.
pub fn require_f32(dtype: DtypeArg, command: &'static str) -> Result<(), DtypeError> {
    match dtype {
        DtypeArg::F32 => Ok(()),
        _ => Err(DtypeError::TrainingIsF32 { command, dtype: dtype.name() }),
    }
}

/// The device for a command that trains or writes weights: f32 only.
pub fn open_f32(arg: DeviceArg, dtype: DtypeArg, command: &'static str) -> anyhow::Result<Device> {
    require_f32(dtype, command)?;
    Ok(open(arg)?)
}

/// The device for training a run in `precision` (the caller has refused a `--dtype`, see
/// [`require_f32`]): a pure bf16 run's device makes bf16 tensors, set once per process
/// before any tensor exists.
pub fn open_for_training(arg: DeviceArg, precision: crate::nn::precision::Precision) -> anyhow::Result<Device> {
    match precision {
        crate::nn::precision::Precision::Bf16 => open_in(arg, DtypeArg::Bf16),
        _ => Ok(open(arg)?),
    }
}

/// The device; for a CubeCL backend (every one but the CPU), its kernel cache is first rooted
/// in cambrian's folder (`kernel_cache`).
pub fn open(arg: DeviceArg) -> Result<Device, OpenError> {
    if arg != DeviceArg::Cpu {
        kernel_cache::install();
    }
    match arg {
        DeviceArg::Cpu => Ok(Device::flex()),
        DeviceArg::Wgpu => wgpu(),
        DeviceArg::Vulkan => vulkan(),
        DeviceArg::Cuda => cuda(),
        DeviceArg::Metal => metal(),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device, OpenError> {
    Ok(Device::wgpu(Default::default()))
}
#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device, OpenError> {
    Err(OpenError::NotCompiled("wgpu"))
}

#[cfg(feature = "vulkan")]
fn vulkan() -> Result<Device, OpenError> {
    Ok(Device::vulkan(Default::default()))
}
#[cfg(not(feature = "vulkan"))]
fn vulkan() -> Result<Device, OpenError> {
    Err(OpenError::NotCompiled("vulkan"))
}

/// cudarc loads the driver on the device's first use, on a device thread, and panics there
/// when it is missing: ask first, with cudarc's own list of library names.
#[cfg(feature = "cuda")]
fn cuda() -> Result<Device, OpenError> {
    // SAFETY: only opens and closes the driver library (`dlopen`), running no code of its own
    // beyond the library's initialisers, as the device's first use would.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(OpenError::NoCudaDriver);
    }
    Ok(Device::cuda(0))
}
#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device, OpenError> {
    Err(OpenError::NotCompiled("cuda"))
}

#[cfg(feature = "metal")]
fn metal() -> Result<Device, OpenError> {
    Ok(Device::metal(Default::default()))
}
#[cfg(not(feature = "metal"))]
fn metal() -> Result<Device, OpenError> {
    Err(OpenError::NotCompiled("metal"))
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

#[cfg(all(test, feature = "cuda"))]
mod tests {
    use super::*;

    /// `--device cuda` opens exactly when cudarc finds the driver, and is otherwise the
    /// one-line error rather than cudarc's panic on the device thread.
    #[test]
    fn cuda_opens_only_with_a_driver() {
        // SAFETY: as in `cuda`.
        let driver = unsafe { cudarc::driver::sys::is_culib_present() };
        match (open(DeviceArg::Cuda), driver) {
            (Ok(_), true) => {}
            (Err(err @ OpenError::NoCudaDriver), false) => assert!(err.to_string().contains("libcuda.so")),
            (other, _) => panic!("driver present: {driver}, open gave {:?}", other.map(|_| ())),
        }
    }
}
