//! Malformed and hostile checkpoints, met through the command line and the public API: each is
//! a short error naming the cause, with exit code 1 and no panic, refused before anything large
//! is read; a pickle that names harmful globals still loads, with a warning naming them.
//!
//! The .pth files are written here: the tiny MoCo v3 fixture's tensors in `torch.save`'s zip
//! layout, with one thing changed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cambrian::weights::checkpoint::Checkpoint;
use common::{cambrian, cambrian_with_env, fixtures, image, scratch, stderr};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const PREFIX: &str = "module.base_encoder.";
/// What a refusal may take: parsing the spec and building the tiny model, nothing read.
const QUICK: Duration = Duration::from_secs(10);

/// A state-dict entry: its key, the storage type `torch.save` names, the element count the
/// pickle declares for the storage, the tensor's shape, and the bytes its zip entry holds.
struct Entry {
    name: String,
    storage: &'static str,
    numel: usize,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Entry {
    fn f32(name: &str, shape: &[usize], values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Entry { name: name.to_string(), storage: "FloatStorage", numel: values.len(), shape: shape.to_vec(), bytes }
    }
}

/// The MoCo v3 fixture's `state_dict`, as entries.
fn moco_state_dict() -> Vec<Entry> {
    let path = fixtures().join("encoders/moco-v3-pth-tar/vit-tiny.pth.tar");
    let checkpoint = Checkpoint::open(&path, Some("state_dict")).unwrap();
    checkpoint
        .tensors
        .into_iter()
        .map(|(name, tensor)| {
            assert_eq!(tensor.dtype, burn::tensor::DType::F32, "{name}");
            let bytes = tensor.to_bytes().unwrap().to_vec();
            Entry { name, storage: "FloatStorage", numel: bytes.len() / 4, shape: tensor.shape.to_vec(), bytes }
        })
        .collect()
}

/// The fixture's state dict with `changed` in place of (or beside) its entries of the same names.
fn moco_with(changed: Vec<Entry>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = moco_state_dict().into_iter().filter(|e| changed.iter().all(|c| c.name != e.name)).collect();
    entries.extend(changed);
    entries
}

/// A protocol-2 pickle, written opcode by opcode as `torch.save` writes a state dict.
#[derive(Default)]
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, ops: &[u8]) -> &mut Self {
        self.0.extend_from_slice(ops);
        self
    }
    fn str(&mut self, text: &str) -> &mut Self {
        self.op(b"X").op(&(text.len() as u32).to_le_bytes()).op(text.as_bytes())
    }
    fn int(&mut self, value: usize) -> &mut Self {
        self.op(b"J").op(&i32::try_from(value).unwrap().to_le_bytes())
    }
    fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.op(b"c").op(format!("{module}\n{name}\n").as_bytes())
    }
    fn ints(&mut self, values: &[usize]) -> &mut Self {
        self.op(b"(");
        values.iter().for_each(|v| _ = self.int(*v));
        self.op(b"t")
    }
    /// `torch._utils._rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())`.
    fn tensor(&mut self, entry: &Entry, key: &str) -> &mut Self {
        let strides: Vec<usize> = (0..entry.shape.len()).map(|d| entry.shape[d + 1..].iter().product()).collect();
        self.global("torch._utils", "_rebuild_tensor_v2").op(b"(");
        self.op(b"(").str("storage").global("torch", entry.storage).str(key).str("cpu").int(entry.numel).op(b"tQ");
        self.int(0).ints(&entry.shape).ints(&strides).op(b"\x89");
        self.global("collections", "OrderedDict").op(b")R").op(b"tR")
    }
}

/// A call `module.name(argument)`, as a pickle spells one.
type Call<'a> = (&'a str, &'a str, &'a str);

/// `{"state_dict": {entries}}`, and beside it `"extra": module.name(argument)` if given.
fn state_dict_pickle(entries: &[Entry], extra_call: Option<Call>) -> Vec<u8> {
    let mut pickle = Pickle::default();
    pickle.op(b"\x80\x02}").str("state_dict").op(b"}(");
    for (i, entry) in entries.iter().enumerate() {
        pickle.str(&entry.name).tensor(entry, &i.to_string());
    }
    pickle.op(b"us");
    if let Some((module, name, argument)) = extra_call {
        pickle.str("extra").global(module, name).op(b"(").str(argument).op(b"tRs");
    }
    pickle.op(b".").0.clone()
}

/// A zip checkpoint in `torch.save`'s layout, with the given pickle and storages.
fn write_pth(path: &Path, pickle: &[u8], compression: CompressionMethod, storages: &[&[u8]]) {
    let mut zip = ZipWriter::new(std::fs::File::create(path).unwrap());
    let mut put = |name: &str, bytes: &[u8], method| {
        zip.start_file(format!("archive/{name}"), SimpleFileOptions::default().compression_method(method)).unwrap();
        zip.write_all(bytes).unwrap();
    };
    put("data.pkl", pickle, compression);
    put("byteorder", b"little", CompressionMethod::Stored);
    for (i, bytes) in storages.iter().enumerate() {
        put(&format!("data/{i}"), bytes, CompressionMethod::Stored);
    }
    zip.finish().unwrap();
}

/// `entries` as `torch.save` would write them, in a fresh folder `name`.
fn write_state_dict(name: &str, entries: &[Entry], extra_call: Option<Call>) -> PathBuf {
    let path = scratch(name).join("weights.pth");
    write_pth(&path, &state_dict_pickle(entries, extra_call), CompressionMethod::Stored, &storages(entries));
    path
}

fn storages(entries: &[Entry]) -> Vec<&[u8]> {
    entries.iter().map(|e| e.bytes.as_slice()).collect()
}

struct Run {
    code: Option<i32>,
    stderr: String,
    secs: f64,
}

/// `cambrian [global] encode` with the MoCo v3 fixture's spec and `weights`.
fn encode(global: &[&str], weights: &Path) -> Run {
    let spec = fixtures().join("encoders/moco-v3-pth-tar/spec.toml").display().to_string();
    let out = weights.with_extension("features.safetensors").display().to_string();
    let (weights, img) = (weights.display().to_string(), image("scene-61x47.png").display().to_string());
    let mut args = global.to_vec();
    args.extend(["encode", "--encoder", &spec, "--weights", &weights, "--out", &out, &img]);
    let start = Instant::now();
    let output = cambrian(&args);
    Run { code: output.status.code(), stderr: stderr(&output), secs: start.elapsed().as_secs_f64() }
}

/// A refusal: exit code 1, quick, and a message holding every one of `parts`.
fn assert_refused(run: &Run, parts: &[&str]) {
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    for part in parts {
        assert!(run.stderr.contains(part), "`{part}` not in: {}", run.stderr);
    }
    assert!(run.secs < QUICK.as_secs_f64(), "took {:.1} s: {}", run.secs, run.stderr);
}

#[test]
fn the_writer_here_makes_checkpoints_that_load() {
    let path = write_state_dict("pth-intact", &moco_state_dict(), None);
    let run = encode(&[], &path);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn a_deflated_pickle_that_expands_past_its_file_is_refused_unread() {
    // 2 MiB of NONE opcodes deflate to a few kilobytes; parsing them would cost ~200 MB
    // (the reported 99 MB one, 9 GB).
    let pickle: Vec<u8> = [&b"\x80\x02"[..], &vec![b'N'; 2 << 20], b"}."].concat();
    let path = scratch("pth-pickle-bomb").join("weights.pth");
    write_pth(&path, &pickle, CompressionMethod::Deflated, &[]);
    let file_len = std::fs::metadata(&path).unwrap().len();
    assert!(file_len < 64 << 10, "{file_len}");
    let declared = format!("its pickle `archive/data.pkl` declares {} bytes", pickle.len());
    assert_refused(&encode(&[], &path), &[&path.display().to_string(), &declared, &format!("the file's size, {file_len} bytes")]);
}

#[test]
fn a_pickle_beyond_the_cap_is_refused_even_when_stored() {
    // A real state dict's pickle, then padding after its STOP: burn's reader would stop at the
    // STOP, so only the declared size says what the file is.
    let entries = moco_state_dict();
    let mut pickle = state_dict_pickle(&entries, None);
    pickle.resize((16 << 20) + 1, 0);
    let path = scratch("pth-pickle-cap").join("weights.pth");
    write_pth(&path, &pickle, CompressionMethod::Stored, &storages(&entries));
    let declared = format!("declares {} bytes", pickle.len());
    assert_refused(&encode(&[], &path), &[&declared, &format!("more than the {} a state dict's can have", 16 << 20)]);
}

#[test]
fn a_tensor_claiming_two_to_the_29_elements_is_refused_before_it_is_read() {
    // The pickle declares 2^29 f64 (4.3 GB); the zip entry holds 8 bytes. Nothing of it may
    // be read: its shape is not the parameter's.
    let key = format!("{PREFIX}pos_embed");
    let huge = Entry { name: key.clone(), storage: "DoubleStorage", numel: 1 << 29, shape: vec![1 << 29], bytes: vec![0; 8] };
    let path = write_state_dict("pth-huge-tensor", &moco_with(vec![huge]), None);
    assert_refused(&encode(&[], &path), &[&format!("tensor `{key}` has shape [536870912], the model expects [17, 32]")]);
}

#[test]
fn shape_errors_name_the_checkpoint_key_of_a_norm_parameter() {
    let key = format!("{PREFIX}norm.bias");
    let path = write_state_dict("pth-norm-shape", &moco_with(vec![Entry::f32(&key, &[5], &[0.0; 5])]), None);
    assert_refused(&encode(&[], &path), &[&format!("tensor `{key}` has shape [5], the model expects [32]")]);
}

#[test]
fn dtype_errors_name_the_checkpoint_key_of_a_norm_parameter() {
    let key = format!("{PREFIX}norm.weight");
    let long = Entry { name: key.clone(), storage: "LongStorage", numel: 32, shape: vec![32], bytes: vec![0; 32 * 8] };
    let path = write_state_dict("pth-norm-dtype", &moco_with(vec![long]), None);
    assert_refused(&encode(&[], &path), &[&format!("tensor `{key}`: is stored as I64")]);
}

#[test]
fn a_storage_shorter_than_its_tensor_is_an_error_naming_the_key() {
    let key = format!("{PREFIX}norm.weight");
    let mut short = Entry::f32(&key, &[32], &[1.0; 32]);
    short.bytes.truncate(16);
    let path = write_state_dict("pth-short-storage", &moco_with(vec![short]), None);
    assert_refused(&encode(&[], &path), &[&format!("tensor `{key}`"), "only 4 are available"]);
}

#[test]
fn non_finite_values_are_an_error_naming_the_key_and_the_count() {
    let key = format!("{PREFIX}norm.weight");
    let mut values = [1.0f32; 32];
    values[3] = f32::NAN;
    values[7] = f32::INFINITY;
    let path = write_state_dict("pth-nan", &moco_with(vec![Entry::f32(&key, &[32], &values)]), None);
    assert_refused(&encode(&[], &path), &[&format!("tensor `{key}`: 2 of its 32 values are NaN or infinite (as F32")]);
}

#[test]
fn a_value_beyond_half_precision_is_an_error_when_loading_in_f16() {
    let key = format!("{PREFIX}norm.weight");
    let mut values = [1.0f32; 32];
    values[0] = 1e5;
    let path = write_state_dict("pth-f16-overflow", &moco_with(vec![Entry::f32(&key, &[32], &values)]), None);
    assert_refused(
        &encode(&["--dtype", "f16"], &path),
        &[&format!("tensor `{key}`: 1 of its 32 values are NaN or infinite (as F16")],
    );
}

#[test]
fn harmful_globals_in_the_pickle_are_named_in_a_warning_and_never_run() {
    let marker = std::env::temp_dir().join(format!("cambrian-pwned-{}", std::process::id()));
    let command = format!("touch {}", marker.display());
    let path = write_state_dict("pth-harmful-global", &moco_state_dict(), Some(("posix", "system", &command)));
    let run = encode(&[], &path);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("WARN"), "{}", run.stderr);
    assert!(run.stderr.contains("the pickle names `posix.system`"), "{}", run.stderr);
    assert!(run.stderr.contains("never executed"), "{}", run.stderr);
    assert!(!marker.exists());
}

/// A sharded index in `dir` whose one entry names `shard`.
fn shard_index(dir: &Path, shard: &str) -> PathBuf {
    let path = dir.join("model.safetensors.index.json");
    std::fs::write(&path, serde_json::json!({ "weight_map": { "w": shard } }).to_string()).unwrap();
    path
}

#[test]
fn a_shard_outside_the_index_folder_is_refused_naming_the_entry() {
    let dir = scratch("shards-escape");
    for shard in ["../../x.safetensors", "/x.safetensors", "a/../../x.safetensors"] {
        let err = Checkpoint::open(&shard_index(&dir, shard), None).err().expect(shard).to_string();
        assert!(err.contains(&format!("weight_map entry `w`: `{shard}` is not a file inside the index's folder")), "{err}");
    }
}

#[test]
fn a_shard_outside_the_snapshot_is_not_fetched_from_the_hub() {
    let dir = scratch("shards-hub");
    let snapshot = dir.join("hub/models--org--repo/snapshots/abc");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(dir.join("hub/models--org--repo/refs")).unwrap();
    std::fs::write(dir.join("hub/models--org--repo/refs/main"), "abc").unwrap();
    shard_index(&snapshot, "../../../nowhere.safetensors");
    let moco = std::fs::read_to_string(fixtures().join("encoders/moco-v3-pth-tar/spec.toml")).unwrap();
    let spec_text: String = moco.lines().filter(|line| !line.starts_with("weights_")).map(|line| format!("{line}\n")).collect();
    let spec = dir.join("spec.toml");
    std::fs::write(
        &spec,
        spec_text
            .replace("[architecture]", "hub = \"org/repo\"\nweights_file = \"model.safetensors.index.json\"\n\n[architecture]"),
    )
    .unwrap();
    let (spec, out, img) =
        (spec.display().to_string(), dir.join("f.safetensors").display().to_string(), image("scene-61x47.png"));
    let cache = dir.join("hub").display().to_string();
    let output = cambrian_with_env(
        &["encode", "--encoder", &spec, "--out", &out, &img.display().to_string()],
        &[("HF_HUB_CACHE", &cache), ("HF_HUB_OFFLINE", "1")],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("weight_map entry `w`: `../../../nowhere.safetensors` is not a file inside the index's folder"),
        "{err}"
    );
}
