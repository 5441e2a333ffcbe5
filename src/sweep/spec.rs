//! A sweep file (`sweeps/NAME.toml`): what to prepare (the synthetic data, a small LLM), the
//! named encoder choices, a `base` run config, the `axes` whose cartesian product makes the
//! runs, and the benchmarks every run is scored on. In paths, `{data}` stands for the sweep's
//! prepared-data folder (`RESULTS/SWEEP/data`); other relative paths are taken from the
//! sweep file's folder.
//!
//! Axes are dotted keys into the run config (`seed`, `connector.projector`,
//! `stage2.encoder_lr`, `stage1.samples`, ...) with a list of distinct values each ("none"
//! leaves the key out); the key `encoders` takes lists of names from `[encoders]` (one list per
//! run: several names concatenate). Expansion is deterministic: axes in key order, values in
//! the order given. An empty axis, a value given twice, or two cells making the same run are
//! errors. The sweep's `name` (default: the file's stem) names its folder under the results
//! folder, so it must be one plain folder name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SweepError;
use crate::data::benchmark::Category;
use crate::data::vision::ImageMode;
use crate::train::config::{RunConfig, canonical};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Default: the file's stem.
    pub name: Option<String>,
    #[serde(default)]
    pub prepare: Prepare,
    /// Encoder choices by name: `{ name = PRESET|SPEC, weights = PATH | init = "random"|"pretrained" }`.
    pub encoders: BTreeMap<String, toml::Value>,
    /// Everything of a run config but `encoders`.
    pub base: toml::Table,
    pub axes: Axes,
    pub benchmarks: Vec<BenchmarkSpec>,
}

/// One matrix (`[axes]`), or several expanded one after the other (`[[axes]]`), for a
/// study that is not one full product (the SVA run beside the concatenation runs, say).
/// Every axis has a list of distinct values, at least one.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct Axes(Vec<Matrix>);

/// Axis key → its values.
pub type Matrix = BTreeMap<String, Vec<toml::Value>>;

impl TryFrom<toml::Value> for Axes {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        let tables = match value {
            toml::Value::Table(table) => vec![table],
            toml::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    toml::Value::Table(table) => Ok(table),
                    other => Err(format!("each [[axes]] is a table of axes, not `{other}`")),
                })
                .collect::<Result<_, _>>()?,
            other => return Err(format!("[axes] is a table of axes, not `{other}`")),
        };
        if tables.is_empty() {
            return Err("no [[axes]]: a sweep needs at least one run".into());
        }
        tables.into_iter().map(matrix).collect::<Result<_, _>>().map(Axes)
    }
}

fn matrix(table: toml::Table) -> Result<Matrix, String> {
    let mut matrix = Matrix::new();
    for (key, values) in table {
        let toml::Value::Array(values) = values else {
            return Err(format!("axis `{key}`: its values must be a list (`{key} = [{values}]` for one value)"));
        };
        if values.is_empty() {
            return Err(format!("axis `{key}` has no values: a sweep needs at least one run"));
        }
        if let Some(value) = values.iter().enumerate().find_map(|(i, value)| values[..i].contains(value).then_some(value)) {
            return Err(format!("axis `{key}` lists `{value}` twice"));
        }
        matrix.insert(key, values);
    }
    Ok(matrix)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prepare {
    /// `cambrian synth` into `{data}/synth`.
    pub synth: Option<SynthPrepare>,
    /// `cambrian init-llm` into `{data}/llm`.
    pub llm: Option<LlmPrepare>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthPrepare {
    pub samples: u64,
    pub train_samples: u64,
    /// Open-ended benchmark items per task (`synth --open-samples`; default: `samples`).
    #[serde(default)]
    pub open_samples: Option<u64>,
    /// Open-ended training items per task (`synth --open-train-samples`; default: a
    /// twentieth of `train_samples`).
    #[serde(default)]
    pub open_train_samples: Option<u64>,
    pub size: u32,
    #[serde(default)]
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmPrepare {
    /// Text files whose words make the vocabulary.
    pub corpus: Vec<String>,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    #[serde(default)]
    pub seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSpec {
    pub name: String,
    /// A preset (`cambrian benchmarks`) or a benchmark spec (`.toml`); or give `path`.
    pub preset: Option<String>,
    /// For a preset: a folder with the dataset repository's layout instead of the HF cache.
    pub data: Option<String>,
    /// A folder with a `benchmark.toml` and its data, a CV-Bench folder or a multiple-choice
    /// JSONL; or give `preset`.
    pub path: Option<String>,
    /// For a JSONL (a CV-Bench folder is vision-centric): "General", "Knowledge",
    /// "OCR & Chart" or "Vision-Centric".
    pub category: Option<Category>,
    /// Image modes to evaluate with; `no-image` gives the vision-disabled scores.
    #[serde(default = "image_only")]
    pub vision: Vec<ImageMode>,
    /// Tokens generated per answer; default: the preset's, else 16.
    pub max_new_tokens: Option<usize>,
    /// Score even when more than 1% of the questions lose tokens at max_length (`eval
    /// --allow-degraded`).
    #[serde(default)]
    pub allow_degraded: bool,
    /// Questions asked at once (`eval --batch-size`); the scores do not depend on it.
    pub batch_size: Option<usize>,
}

fn image_only() -> Vec<ImageMode> {
    vec![ImageMode::Image]
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    pub id: String,
    /// Encoder choice names, in order.
    pub encoders: Vec<String>,
    pub config: RunConfig,
}

/// Where `{data}` and relative paths point.
pub struct Paths<'a> {
    pub spec_dir: &'a Path,
    pub data_dir: &'a Path,
}

impl Paths<'_> {
    /// `{data}/rest` → the data folder's `rest`; another relative path → from the sweep file's
    /// folder; an absolute path as it is; each made [`canonical`], so that a sweep resumed from
    /// another working folder, or with its paths spelled otherwise, names the same files.
    pub fn resolve(&self, text: &str) -> PathBuf {
        canonical(&match text.strip_prefix("{data}") {
            Some(rest) => self.data_dir.join(rest.trim_start_matches('/')),
            None => self.spec_dir.join(text),
        })
    }
}

impl SweepSpec {
    pub fn from_file(path: &Path) -> Result<Self, SweepError> {
        let text = std::fs::read_to_string(path).map_err(SweepError::io(path))?;
        let mut spec: SweepSpec = toml::from_str(&text).map_err(|err| SweepError::spec(path, err.to_string()))?;
        let field = if spec.name.is_some() { "name" } else { "name (the file's stem, when `name` is not given)" };
        let name =
            spec.name.get_or_insert_with(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        if !plain_folder_name(name) {
            return Err(SweepError::spec(
                path,
                format!("{field} `{name}` is not one folder name: letters, digits, `-`, `_` and `.`, not starting with `.`"),
            ));
        }
        if spec.benchmarks.is_empty() {
            return Err(SweepError::spec(path, "no [[benchmarks]]"));
        }
        if let Some(b) = spec.benchmarks.iter().find(|b| !b.vision.contains(&ImageMode::Image)) {
            let message = format!("benchmark `{}`: `vision` must include \"image\", whose scores results.csv holds", b.name);
            return Err(SweepError::spec(path, message));
        }
        if let Some(b) = spec.benchmarks.iter().find(|b| b.preset.is_some() == b.path.is_some()) {
            return Err(SweepError::spec(path, format!("benchmark `{}`: give one of `preset` and `path`", b.name)));
        }
        if spec.axes.0.iter().any(|m| !m.contains_key("encoders")) {
            return Err(SweepError::spec(path, "every [axes] needs `encoders`: the encoder sets to compare"));
        }
        Ok(spec)
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("sweep")
    }

    /// Every run of the matrices, in order; each config checked and its paths resolved. `data`
    /// is the prepared data's identity, part of every run id. Two cells that make the same run
    /// are an error.
    pub fn cells(&self, paths: &Paths, origin: &Path, data: Option<&str>) -> Result<Vec<Cell>, SweepError> {
        let mut cells: Vec<Cell> = Vec::new();
        for matrix in &self.axes.0 {
            for cell in self.expand(matrix, paths, origin, data)? {
                if let Some(first) = cells.iter().position(|c| c.id == cell.id) {
                    let message = format!(
                        "runs {} and {} are the same run `{}`: two axis values or [[axes]] tables give one config",
                        first + 1,
                        cells.len() + 1,
                        cell.id
                    );
                    return Err(SweepError::spec(origin, message));
                }
                cells.push(cell);
            }
        }
        Ok(cells)
    }

    fn expand(&self, matrix: &Matrix, paths: &Paths, origin: &Path, data: Option<&str>) -> Result<Vec<Cell>, SweepError> {
        let bad = |message: String| SweepError::spec(origin, message);
        let mut cells = Vec::new();
        let axes: Vec<(&String, &Vec<toml::Value>)> = matrix.iter().collect();
        let total: usize = axes.iter().map(|(_, values)| values.len()).product();
        for index in 0..total {
            let mut table = self.base.clone();
            let mut rest = index;
            let mut encoders = Vec::new();
            for (key, values) in axes.iter().rev() {
                let value = &values[rest % values.len()];
                rest /= values.len();
                match key.as_str() {
                    "encoders" => encoders = encoder_names(value).map_err(&bad)?,
                    _ => set_dotted(&mut table, key, value.clone()).map_err(&bad)?,
                }
            }
            let mut choices = Vec::new();
            for name in &encoders {
                let choice = self
                    .encoders
                    .get(name)
                    .ok_or_else(|| bad(format!("axes.encoders names `{name}`, which [encoders] lacks")))?;
                choices.push(choice.clone());
            }
            table.insert("encoders".into(), toml::Value::Array(choices));
            let mut config: RunConfig =
                toml::Value::Table(table).try_into().map_err(|err: toml::de::Error| bad(format!("run {index}: {err}")))?;
            config.validate().map_err(|message| bad(format!("run {index}: {message}")))?;
            // The id comes from the config as the sweep file writes it, so that it does not
            // depend on where the checkout or the results folder are.
            let id = run_id(&encoders, &config, data);
            config.for_each_path(|path| *path = paths.resolve(&path.to_string_lossy()));
            cells.push(Cell { id, encoders, config });
        }
        Ok(cells)
    }
}

/// One path component a sweep's folder can be named by: no separators, no `..`, not hidden.
fn plain_folder_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    !name.is_empty() && !name.starts_with('.') && name.chars().all(allowed)
}

fn encoder_names(value: &toml::Value) -> Result<Vec<String>, String> {
    let names: Option<Vec<String>> = match value {
        toml::Value::String(name) => Some(vec![name.clone()]),
        toml::Value::Array(items) => items.iter().map(|v| v.as_str().map(str::to_string)).collect(),
        _ => None,
    };
    names.filter(|n| !n.is_empty()).ok_or_else(|| format!("axes.encoders: {value} is not a name or a list of names"))
}

/// Sets `a.b.c = value` in `table`, creating tables on the way; the string "none" removes
/// the key instead (`"stage2.encoder_lr" = ["none", 1e-5]`: frozen, then unfrozen).
fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().ok_or_else(|| format!("empty axis key `{key}`"))?;
    let mut at = table;
    for part in parts {
        at = at
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("axis `{key}`: `{part}` is not a table"))?;
    }
    match value.as_str() {
        Some("none") => at.remove(last),
        _ => at.insert(last.into(), value),
    };
    Ok(())
}

/// Readable prefix (encoders, connector, seed) + the first 8 hex digits of the SHA-256 of
/// the config and, when the sweep prepares data, of that data's identity.
fn run_id(encoders: &[String], config: &RunConfig, data: Option<&str>) -> String {
    use sha2::Digest;
    let mut text = toml::to_string(config).expect("a run config serializes");
    if let Some(data) = data {
        text.push_str(&format!("\n# prepared data {data}\n"));
    }
    let digest = sha2::Sha256::digest(text.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}_{}_s{}-{hash}", encoders.join("+"), config.connector.label(), config.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = include_str!("../../tests/fixtures/sweeps/tiny.toml");
    const AXES: &str = r#"encoders = [["vit"], ["clip"], ["vit", "clip"]]"#;

    /// The tiny fixture sweep with `from` replaced by `to`, expanded; the error as text.
    fn cells(test: &str, from: &str, to: &str) -> Result<Vec<Cell>, String> {
        assert!(TINY.contains(from), "{from}");
        let path = std::env::temp_dir().join(format!("cambrian-spec-{test}-{}.toml", std::process::id()));
        std::fs::write(&path, TINY.replace(from, to)).unwrap();
        let dir = std::env::temp_dir();
        let expanded = SweepSpec::from_file(&path)
            .and_then(|spec| spec.cells(&Paths { spec_dir: &dir, data_dir: &dir.join("data") }, &path, Some("0123")));
        std::fs::remove_file(&path).unwrap();
        expanded.map_err(|err| err.to_string())
    }

    #[test]
    fn the_fixture_expands_to_three_runs() {
        assert_eq!(cells("fixture", AXES, AXES).unwrap().len(), 3);
    }

    #[test]
    fn precision_is_an_axis_of_its_own_runs() {
        use crate::nn::precision::Precision;
        let expanded = cells("precision", AXES, &format!("{AXES}\nprecision = [\"f32\", \"bf16-mixed\"]")).unwrap();
        let precisions: Vec<Precision> = expanded.iter().map(|c| c.config.precision).collect();
        assert_eq!(precisions.iter().filter(|&&p| p == Precision::Bf16Mixed).count(), 3, "{precisions:?}");
        let ids: std::collections::HashSet<&str> = expanded.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 6, "each precision its own run id");
        let err = cells("precision-bad", AXES, &format!("{AXES}\nprecision = [\"fp16\"]")).unwrap_err();
        assert!(err.contains("fp16") && err.contains("bf16-mixed"), "{err}");
    }

    #[test]
    fn an_axis_without_values_is_an_error() {
        let err = cells("empty", AXES, "encoders = []").unwrap_err();
        assert!(err.contains("axis `encoders` has no values"), "{err}");
        let err = cells("empty-seed", AXES, &format!("{AXES}\nseed = []")).unwrap_err();
        assert!(err.contains("axis `seed` has no values"), "{err}");
    }

    #[test]
    fn a_value_given_twice_is_an_error_naming_the_axis_and_value() {
        let err = cells("twice", AXES, &format!("{AXES}\nseed = [1, 2, 1]")).unwrap_err();
        assert!(err.contains("axis `seed` lists `1` twice"), "{err}");
        let err = cells("twice-encoders", AXES, r#"encoders = [["vit"], ["vit"]]"#).unwrap_err();
        assert!(err.contains(r#"axis `encoders` lists `["vit"]` twice"#), "{err}");
    }

    #[test]
    fn two_cells_making_one_run_are_an_error() {
        let err = cells("same-run", AXES, r#"encoders = ["vit", ["vit"]]"#).unwrap_err();
        assert!(err.contains("runs 1 and 2 are the same run `vit_mlp2x_gelu_s0-"), "{err}");
    }

    #[test]
    fn a_scalar_axis_asks_for_a_list() {
        let err = cells("scalar", AXES, &format!("{AXES}\nseed = 3")).unwrap_err();
        assert!(err.contains("axis `seed`: its values must be a list (`seed = [3]` for one value)"), "{err}");
    }

    #[test]
    fn a_name_must_be_one_plain_folder_name() {
        for bad in ["../../x", "/abs", ".hidden", "a/b", "", "a b"] {
            let err = cells("bad-name", r#"name = "tiny""#, &format!("name = {bad:?}")).unwrap_err();
            assert!(err.contains(&format!("name `{bad}` is not one folder name")), "{bad}: {err}");
        }
        assert!(cells("good-name", r#"name = "tiny""#, r#"name = "tiny-2_b.v1""#).is_ok());
    }

    /// Every path of a run, the feature cache included, is resolved: `{data}` from the data
    /// folder, the rest from the sweep file's folder, each made canonical.
    #[test]
    fn a_cell_names_its_files_by_canonical_paths() {
        let text = r#"
[encoders]
vit = { name = "specs/../specs/vit.toml", init = "random" }
[base]
llm = "{data}/llm"
feature_cache = "{data}/cache"
[base.connector]
[base.stage1]
data = "data.json"
images = "."
batch_size = 1
lr = 1e-3
[axes]
encoders = [["vit"]]
[[benchmarks]]
name = "b"
path = "{data}/b"
"#;
        let spec: SweepSpec = toml::from_str(text).unwrap();
        let paths = Paths { spec_dir: Path::new("sweeps/."), data_dir: Path::new("results/study/data") };
        let cells = spec.cells(&paths, Path::new("study.toml"), None).unwrap();
        let config = &cells[0].config;
        let here = std::env::current_dir().unwrap();
        assert_eq!(config.llm, here.join("results/study/data/llm"));
        assert_eq!(config.feature_cache.as_deref(), Some(here.join("results/study/data/cache").as_path()));
        assert_eq!(config.encoders[0].name, here.join("sweeps/specs/vit.toml").to_string_lossy());
        let stage = config.stage1.as_ref().unwrap();
        assert_eq!(
            (stage.data.as_path(), stage.images.as_path()),
            (here.join("sweeps/data.json").as_path(), here.join("sweeps").as_path())
        );
        assert!(cells[0].id.starts_with("vit_mlp2x_gelu_s0-"), "{}", cells[0].id);
    }
}
