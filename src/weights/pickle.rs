//! What is checked in a PyTorch pickle around burn's reader.
//!
//! Before: the zip container `torch.save` writes (PyTorch 1.6 and later) is looked at through
//! its central directory, which states every entry's size without decompressing anything.
//! Parsing a pickle costs burn's reader about 90 bytes of memory per byte of pickle (10 MB of
//! `NONE` opcodes took 0.9 GB), and it accepts a `data.pkl` of up to 100 MiB, so the pickle is
//! held to what a state dict can be: a few hundred bytes a tensor. Tensor bytes are bounded
//! elsewhere: a tensor is read only once its shape is known to be its parameter's (`load`).
//! The legacy container (PyTorch 0.1.10 to 1.5) and plain pickles are parsed straight off the
//! file and have no size to check ahead.
//!
//! After: globals the pickle names that are not tensor data (`posix.system`,
//! `builtins.eval`, ...) are reported. The pickle is parsed, never executed, so they do
//! nothing here, but a checkpoint that carries them was not written by `torch.save` of a
//! state dict.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use burn::store::pytorch_reader::{PickleValue, PytorchReader};
use tracing::warn;
use zip::ZipArchive;

use super::WeightsError;

/// A pickle up to this size is accepted whatever the file's size (a small checkpoint's
/// pickle can be most of it).
const PICKLE_FLOOR_BYTES: u64 = 1 << 20;
/// No pickle is accepted beyond this: about 100 000 tensors' worth, and 1.5 GB to parse.
const PICKLE_CAP_BYTES: u64 = 16 << 20;

/// Globals outside `torch` that checkpoints hold as plain data: training arguments, and numpy
/// scalars, arrays and their dtypes (numpy 1 and 2 spell the module differently); and `int`,
/// burn's name for an integer wider than 64 bits.
const DATA_GLOBALS: &[&str] = &[
    "int",
    "argparse.Namespace",
    "numpy.dtype",
    "numpy.core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar",
    "numpy._core.multiarray._reconstruct",
];

fn read_error(path: &Path, message: impl std::fmt::Display) -> WeightsError {
    WeightsError::Read { path: path.to_path_buf(), message: message.to_string() }
}

/// Refuses a zip checkpoint whose `data.pkl` declares more bytes than the file can hold
/// (a deflated pickle that expands past its file is a bomb), counting at least
/// [`PICKLE_FLOOR_BYTES`] and never more than [`PICKLE_CAP_BYTES`]. Other files pass.
pub(super) fn check_container(path: &Path) -> Result<(), WeightsError> {
    let mut file = File::open(path).map_err(|err| read_error(path, err))?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || !matches!(&magic, b"PK\x03\x04" | b"PK\x05\x06") {
        return Ok(());
    }
    let file_len = file.metadata().map_err(|err| read_error(path, err))?.len();
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(|err| read_error(path, err))?;
    let names: Vec<String> =
        archive.file_names().map(|name| name.map(String::from)).collect::<Result<_, _>>().map_err(|err| read_error(path, err))?;
    // The entry burn reads: `data.pkl` under the shortest root folder.
    let Some(pickle) = names
        .into_iter()
        .filter(|name| name.strip_suffix("data.pkl").is_some_and(|root| root.is_empty() || root.ends_with('/')))
        .min_by_key(String::len)
    else {
        return Ok(()); // burn's reader says what is missing
    };
    let index = archive.index_for_name(&pickle).ok_or_else(|| read_error(path, format!("no zip entry `{pickle}`")))?;
    let declared = archive.by_index_raw(index).map_err(|err| read_error(path, err))?.size();
    let limit = file_len.clamp(PICKLE_FLOOR_BYTES, PICKLE_CAP_BYTES);
    if declared > limit {
        return Err(read_error(
            path,
            format!(
                "its pickle `{pickle}` declares {declared} bytes, more than the {limit} a state dict's can have here \
                 (the file's size, {file_len} bytes, taken as at least {PICKLE_FLOOR_BYTES} and at most {PICKLE_CAP_BYTES})"
            ),
        ));
    }
    Ok(())
}

/// Warns about the globals the pickle at `path` names that are not tensor data.
pub(super) fn warn_about_globals(path: &Path) -> Result<(), WeightsError> {
    let root = PytorchReader::read_pickle_data(path, None).map_err(|err| read_error(path, err))?;
    let mut globals = BTreeSet::new();
    collect_globals(&root, &mut globals);
    if !globals.is_empty() {
        let names: Vec<String> = globals.iter().map(|name| format!("`{name}`")).collect();
        warn!(
            "{}: the pickle names {}: not tensor data, ignored (the pickle is parsed, never executed)",
            path.display(),
            names.join(", ")
        );
    }
    Ok(())
}

/// The globals in `value` that are neither torch's nor in [`DATA_GLOBALS`]. burn's reader
/// turns every call it does not interpret into an `Unsupported` value naming its callable.
fn collect_globals<'v>(value: &'v PickleValue, globals: &mut BTreeSet<&'v str>) {
    match value {
        PickleValue::Unsupported(name) if !name.starts_with("torch.") && !DATA_GLOBALS.contains(&name.as_str()) => {
            globals.insert(name);
        }
        PickleValue::List(items) => items.iter().for_each(|item| collect_globals(item, globals)),
        PickleValue::Dict(entries) => entries.values().for_each(|item| collect_globals(item, globals)),
        _ => {}
    }
}
