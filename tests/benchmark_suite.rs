//! The benchmark presets against the fixture cache (tests/fixtures/benchmarks/, written by
//! tools/reference/make_benchmark_fixtures.py): every preset loads offline from a Hugging Face
//! hub cache with the fixture's questions, its prompts equal those Cambrian's own eval code
//! builds for the same rows (prompts.json), its truths are the rows' own, its images decode;
//! a dataset missing offline, a file without a column and a bad spec are errors that say so.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

use cambrian::data::suite::{self, BenchmarkSpec, Dataset, Question, SuiteError};
use cambrian::eval::score::Truth;
use cambrian::llm::chat::Template;
use common::{cambrian_with_env, fixtures, scratch, stderr};
use serde::Deserialize;

fn fixture_dir() -> PathBuf {
    fixtures().join("benchmarks")
}

/// Every test reads the fixture cache offline; the variables are set once, before any reads.
fn offline_fixture_cache() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        // SAFETY: set once, before any test of this binary reads the environment through the
        // loader, and to the same values for all of them.
        unsafe {
            std::env::set_var("HF_HUB_CACHE", fixture_dir().join("hub"));
            std::env::set_var("HF_HUB_OFFLINE", "1");
        }
    });
}

#[derive(Deserialize)]
struct Reference {
    presets: BTreeMap<String, ReferencePreset>,
}

#[derive(Deserialize)]
struct ReferencePreset {
    max_new_tokens: Option<usize>,
    rows: usize,
    questions: Vec<ReferenceQuestion>,
}

/// What Cambrian's eval script built for one row: `qs`, its vicuna_v1 prompt, the truth.
#[derive(Deserialize)]
struct ReferenceQuestion {
    index: usize,
    qs: String,
    prompt: String,
    truth: Truth,
}

fn reference() -> Reference {
    let path = fixture_dir().join("prompts.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn questions(spec: BenchmarkSpec, data: Option<&Path>) -> Result<(Dataset, Vec<Question>), SuiteError> {
    offline_fixture_cache();
    let dataset = Dataset::open(spec, data)?;
    let questions = dataset.questions()?.collect::<Result<_, _>>()?;
    Ok((dataset, questions))
}

#[test]
fn every_preset_has_a_fixture_and_cambrians_generation_budget() {
    let reference = reference();
    let names: Vec<String> = suite::presets().into_iter().map(|spec| spec.name).collect();
    assert_eq!(names.iter().collect::<std::collections::BTreeSet<_>>(), reference.presets.keys().collect());
    assert_eq!(names.len(), 16);
    for spec in suite::presets() {
        // The script's --max_new_tokens default; CV-Bench has no script: Cambrian's 512 for the others.
        let budget = reference.presets[&spec.name].max_new_tokens.unwrap_or(512);
        assert_eq!(spec.max_new_tokens, budget, "{}", spec.name);
    }
}

#[test]
fn every_preset_loads_from_the_cache_with_cambrians_prompts_and_truths() {
    let reference = reference();
    for spec in suite::presets() {
        let name = spec.name.clone();
        let expected = &reference.presets[&name];
        let (_, questions) = questions(spec, None).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(questions.len(), expected.questions.len(), "{name}: questions of {} rows", expected.rows);
        for (question, cambrian) in questions.iter().zip(&expected.questions) {
            let at = format!("{name}, row {}", cambrian.index);
            assert_eq!(question.index, cambrian.index, "{at}");
            let qs = if question.has_image { format!("<image>\n{}", question.prompt) } else { question.prompt.clone() };
            assert_eq!(qs, cambrian.qs, "{at}");
            assert_eq!(Template::VicunaV1.prompt(&qs), cambrian.prompt, "{at}");
            assert_eq!(question.truth, Truth { index: cambrian.index, ..cambrian.truth.clone() }, "{at}");
            assert!(question.images.len() <= 1, "{at}: Cambrian shows one image");
        }
    }
}

#[test]
fn every_image_decodes_from_the_cache() {
    for spec in suite::presets() {
        let name = spec.name.clone();
        let (dataset, questions) = questions(spec, None).unwrap_or_else(|err| panic!("{err}"));
        for question in &questions {
            for image in &question.images {
                let rgb = image.decode(dataset.root()).unwrap_or_else(|err| panic!("{name}, row {}: {err}", question.index));
                assert_eq!(rgb.dimensions(), (8, 8), "{name}, row {}", question.index);
            }
        }
    }
}

#[test]
fn rows_cambrian_skips_keep_their_index() {
    // SEED's video question (row 2) and ScienceQA's text-only rows (0 and 2) are not asked.
    let indices = |name: &str| {
        let (_, questions) = questions(suite::preset(name).unwrap(), None).unwrap();
        questions.iter().map(|q| q.index).collect::<Vec<_>>()
    };
    assert_eq!(indices("seed-image"), [0, 1, 3]);
    assert_eq!(indices("scienceqa-img"), [1, 3]);
    // MME's six rows over four shards, in file-name order: the pairs stay adjacent.
    assert_eq!(indices("mme"), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_dataset_missing_offline_names_the_repository_and_the_download_command() {
    let mut spec = suite::preset("chartqa").unwrap();
    spec.hub = "lmms-lab/NotCached".into();
    let err = questions(spec, None).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("lmms-lab/NotCached"), "{err}");
    assert!(err.contains("hf download lmms-lab/NotCached --repo-type dataset"), "{err}");
    assert!(err.contains("chartqa"), "{err}");
}

#[test]
fn a_file_without_a_column_names_the_column_the_file_and_the_preset() {
    let data = fixture_dir().join("without-column/ChartQA");
    let err = questions(suite::preset("chartqa").unwrap(), Some(&data)).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("`type`"), "{err}");
    assert!(err.contains("test-00000-of-00001.parquet"), "{err}");
    assert!(err.contains("chartqa"), "{err}");
}

#[test]
fn a_data_folder_with_the_repository_layout_replaces_the_cache() {
    offline_fixture_cache();
    let snapshots = fixture_dir().join("hub/datasets--lmms-lab--MME/snapshots");
    let snapshot = std::fs::read_dir(&snapshots).unwrap().next().unwrap().unwrap().path();
    let (dataset, questions) = questions(suite::preset("mme").unwrap(), Some(&snapshot)).unwrap();
    assert_eq!(questions.len(), 6);
    assert!(dataset.files().iter().all(|file| file.starts_with(&snapshot)), "{:?}", dataset.files());
}

#[test]
fn a_user_spec_file_is_accepted_where_a_preset_name_is() {
    let dir = scratch("benchmark-specs");
    let text = include_str!("../benchmarks/gqa.toml").replace("name = \"gqa\"", "name = \"my-gqa\"");
    let path = dir.join("my-gqa.toml");
    std::fs::write(&path, text).unwrap();
    let spec = suite::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(spec.name, "my-gqa");
    assert_eq!(questions(spec, None).unwrap().1.len(), 3);
}

#[test]
fn a_bad_spec_names_the_file_and_the_field() {
    let dir = scratch("bad-benchmark-specs");
    let cases = [
        ("unknown.toml", include_str!("../benchmarks/mme.toml").replace("[columns]", "[columns]\nqestion = \"q\""), "qestion"),
        ("category.toml", include_str!("../benchmarks/mme.toml").replace("\"general\"", "\"generic\""), "generic"),
        ("no-answer.toml", include_str!("../benchmarks/mme.toml").replace("answer = \"answer\"\n", ""), "columns.answer"),
        (
            "no-split-files.toml",
            include_str!("../benchmarks/mme.toml").replace("files = [\"data/test-*.parquet\"]\n", ""),
            "files",
        ),
    ];
    for (file, text, field) in cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let err = suite::resolve(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains(file) && err.contains(field), "{file}: {err}");
    }
    let err = suite::resolve("mmvb").unwrap_err().to_string();
    assert!(err.contains("did you mean `mmvp`"), "{err}");
}

#[test]
fn benchmarks_lists_the_presets_with_their_cached_questions() {
    let hub = fixture_dir().join("hub");
    let output =
        cambrian_with_env(&["benchmarks", "--json"], &[("HF_HUB_CACHE", hub.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let reference = reference();
    assert_eq!(rows.len(), 16);
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        assert_eq!(row["questions"], reference.presets[name].questions.len(), "{name}");
    }
    let mme = rows.iter().find(|row| row["name"] == "mme").unwrap();
    assert_eq!(mme["category"], "general");
    assert_eq!(mme["hub"], "lmms-lab/MME");
    assert_eq!(mme["split"], "test");
    assert_eq!(mme["scorer"], "mme");
    let empty = scratch("empty-hub");
    let output =
        cambrian_with_env(&["benchmarks", "--json"], &[("HF_HUB_CACHE", empty.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(rows.iter().all(|row| row["questions"].is_null()), "nothing is cached: {rows:?}");
}

#[test]
fn docvqa_test_writes_the_submission_the_server_scores() {
    let spec = suite::preset("docvqa-test").unwrap();
    let submission = spec.submission.expect("docvqa-test has hidden answers");
    let (_, questions) = questions(spec, None).unwrap();
    let path = scratch("docvqa-submission").join("submission.json");
    submission.write(&path, &questions, &[Some("$1.2 million".into()), None]).unwrap();
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // docvqa_test.py: {"questionId": int(questionId), "answer": data.get('answer', '')}
    let expected = serde_json::json!([{"questionId": 57344, "answer": "$1.2 million"}, {"questionId": 57345, "answer": ""}]);
    assert_eq!(written, expected);
    let err = submission.write(&path, &questions, &[None]).unwrap_err().to_string();
    assert!(err.contains("1 answers for 2 questions"), "{err}");
}
