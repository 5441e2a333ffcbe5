//! Where the CubeCL backends (cuda, wgpu, vulkan, metal) keep what they learn about kernels:
//! autotune decisions, compiled kernels, throughput measurements, one database per CubeCL
//! environment (`<folder>/<name>.db`, cubecl-environment 0.11). Left to itself, cubecl roots
//! that folder in the `target/environment` of the outermost `Cargo.toml` above the working
//! directory, or the user cache when there is none, so the same study started from another
//! folder tunes every kernel again. cambrian roots it in one folder per user:
//! `$CAMBRIAN_KERNEL_CACHE`, else `$XDG_CACHE_HOME/cambrian/cubecl`, else
//! `~/.cache/cambrian/cubecl`. A `cubecl.toml` (or `burn.toml`'s `[cubecl]`) that names its
//! own `[environment] path` keeps it, unless `CAMBRIAN_KERNEL_CACHE` is set.

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable naming the folder explicitly.
pub const FOLDER_VAR: &str = "CAMBRIAN_KERNEL_CACHE";

/// Where the cache goes and whether that was asked for explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub path: PathBuf,
    pub explicit: bool,
}

/// The folder from the process environment; `None` when not even `HOME` is set.
pub fn folder() -> Option<Folder> {
    folder_from(std::env::var_os(FOLDER_VAR), std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// The folder from the three variables' values. Empty values count as unset, and so does a
/// relative `XDG_CACHE_HOME` (the XDG base-directory rule).
fn folder_from(explicit: Option<OsString>, xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<Folder> {
    let set = |value: Option<OsString>| value.filter(|value| !value.is_empty()).map(PathBuf::from);
    if let Some(path) = set(explicit) {
        return Some(Folder { path, explicit: true });
    }
    let cache = set(xdg_cache_home).filter(|path| path.is_absolute()).or_else(|| set(home).map(|home| home.join(".cache")))?;
    Some(Folder { path: cache.join("cambrian").join("cubecl"), explicit: false })
}

/// Installs cubecl's configuration with the environment rooted in [`folder`], before any
/// device reads it: cubecl's own loading (`cubecl.toml`, `CUBECL_*` variables) first, then the
/// folder over its default. Once per process; a later call changes nothing.
#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda", feature = "metal"))]
pub fn install() {
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        match folder() {
            Some(folder) if folder.explicit || matches!(config.environment.path, CacheConfig::Target) => {
                config.environment.path = CacheConfig::Directory(folder.path);
            }
            Some(_) => {}
            None => tracing::warn!("neither {FOLDER_VAR} nor HOME is set: cubecl keeps its kernel cache where it chooses"),
        }
        let root = config.environment.path.root();
        if CubeClRuntimeConfig::try_set(config) {
            tracing::info!(folder = %root.display(), "CubeCL kernel cache (autotune, compiled kernels)");
        } else {
            tracing::warn!("cubecl's configuration was read before cambrian set it: the kernel cache stays where cubecl put it");
        }
    });
}
#[cfg(not(any(feature = "wgpu", feature = "vulkan", feature = "cuda", feature = "metal")))]
pub fn install() {}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(value: &str) -> Option<OsString> {
        Some(OsString::from(value))
    }

    #[test]
    fn the_variable_wins_then_xdg_then_home() {
        let folder = |a, b, c| folder_from(a, b, c).map(|folder| (folder.path, folder.explicit));
        assert_eq!(folder(os("/tune"), os("/xdg"), os("/home/u")), Some((PathBuf::from("/tune"), true)));
        assert_eq!(folder(None, os("/xdg"), os("/home/u")), Some((PathBuf::from("/xdg/cambrian/cubecl"), false)));
        assert_eq!(folder(None, None, os("/home/u")), Some((PathBuf::from("/home/u/.cache/cambrian/cubecl"), false)));
        assert_eq!(folder(None, None, None), None);
    }

    /// Empty values are unset; a relative XDG_CACHE_HOME is ignored, as the XDG rule says.
    #[test]
    fn empty_and_relative_values_are_skipped() {
        let path = |a, b, c| folder_from(a, b, c).map(|folder| folder.path);
        assert_eq!(path(os(""), os("cache"), os("/home/u")), Some(PathBuf::from("/home/u/.cache/cambrian/cubecl")));
        assert_eq!(path(None, os(""), os("")), None);
    }
}
