//! The preset benchmarks: the TOML specs in `benchmarks/`, built into the binary, found by name.

use std::path::Path;

use super::SuiteError;
use super::spec::BenchmarkSpec;

/// Every preset spec, in the order `cambrian benchmarks` lists them: Cambrian-1's Table 2.
const PRESETS: &[(&str, &str)] = &[
    ("mme", include_str!("../../../benchmarks/mme.toml")),
    ("mmbench-en-dev", include_str!("../../../benchmarks/mmbench-en-dev.toml")),
    ("seed-image", include_str!("../../../benchmarks/seed-image.toml")),
    ("gqa", include_str!("../../../benchmarks/gqa.toml")),
    ("scienceqa-img", include_str!("../../../benchmarks/scienceqa-img.toml")),
    ("mmmu-val", include_str!("../../../benchmarks/mmmu-val.toml")),
    ("mathvista-testmini", include_str!("../../../benchmarks/mathvista-testmini.toml")),
    ("ai2d", include_str!("../../../benchmarks/ai2d.toml")),
    ("chartqa", include_str!("../../../benchmarks/chartqa.toml")),
    ("ocrbench", include_str!("../../../benchmarks/ocrbench.toml")),
    ("textvqa-val", include_str!("../../../benchmarks/textvqa-val.toml")),
    ("docvqa-val", include_str!("../../../benchmarks/docvqa-val.toml")),
    ("docvqa-test", include_str!("../../../benchmarks/docvqa-test.toml")),
    ("mmvp", include_str!("../../../benchmarks/mmvp.toml")),
    ("realworldqa", include_str!("../../../benchmarks/realworldqa.toml")),
    ("cv-bench", include_str!("../../../benchmarks/cv-bench.toml")),
];

/// All presets, parsed. A preset that does not parse is a bug the test suite catches.
pub fn presets() -> Vec<BenchmarkSpec> {
    PRESETS
        .iter()
        .map(|(name, text)| {
            BenchmarkSpec::from_toml(text, &format!("benchmarks/{name}.toml")).unwrap_or_else(|err| panic!("{err}"))
        })
        .collect()
}

pub fn preset(name: &str) -> Result<BenchmarkSpec, SuiteError> {
    presets().into_iter().find(|spec| spec.name == name).ok_or_else(|| SuiteError::Unknown {
        name: name.to_string(),
        closest: PRESETS
            .iter()
            .map(|(preset, _)| (strsim::jaro_winkler(name, preset), *preset))
            .filter(|(score, _)| *score > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, preset)| preset.to_string()),
    })
}

/// A benchmark as the user names it: a preset name, or a spec file (`.toml`).
pub fn resolve(name: &str) -> Result<BenchmarkSpec, SuiteError> {
    if name.ends_with(".toml") || Path::new(name).is_file() { BenchmarkSpec::from_file(Path::new(name)) } else { preset(name) }
}
