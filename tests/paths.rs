//! A run folder and a sweep are found by what their paths mean, not by how they are spelled:
//! `train` resumes, and `eval --run` loads, from another working folder, through an absolute
//! path, through a symlink, and after the run folder has moved (its inputs staying put); a
//! sweep resumed from elsewhere finds the same run ids and the runs it had started.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::colour_task::{Ask, write_task};
use common::{fixtures, init_llm, losses, scratch, stderr};
use serde_json::Value;

/// `cambrian ARGS` run in `cwd`; it must succeed.
fn cambrian_in(cwd: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_cambrian")).args(args).current_dir(cwd).output().unwrap();
    assert!(output.status.success(), "in {}: cambrian {args:?}: {}", cwd.display(), stderr(&output));
    output
}

/// The colour task, its LLM and its encoder spec in `dir/inputs`, and `run.toml` there naming
/// them all by relative paths.
fn inputs(dir: &Path) -> PathBuf {
    let inputs = dir.join("inputs");
    write_task(&inputs, Ask::Colour, 16, 8);
    init_llm(&inputs, &["captions.json", "questions.json", "bench.jsonl"]);
    std::fs::copy(fixtures().join("mllm/tiny-vit.toml"), inputs.join("tiny-vit.toml")).unwrap();
    let text = r#"seed = 3
llm = "llm"
max_length = 256

[[encoders]]
name = "tiny-vit.toml"
init = "random"

[connector]

[stage1]
data = "captions.json"
images = "."
batch_size = 8
lr = 1e-3

[stage2]
data = "questions.json"
images = "."
batch_size = 8
lr = 2e-3
"#;
    std::fs::write(inputs.join("run.toml"), text).unwrap();
    inputs
}

/// `eval --run RUN` in `cwd` on the task's benchmark; the report it wrote into the run.
fn evaluate(cwd: &Path, run: &str, bench: &Path) -> Value {
    let bench = bench.display().to_string();
    cambrian_in(cwd, &["-q", "eval", "--run", run, "--benchmark", &bench, "--category", "vision-centric"]);
    serde_json::from_slice(&std::fs::read(cwd.join(run).join("eval/bench.image.json")).unwrap()).unwrap()
}

#[test]
fn a_run_folder_resumes_and_evaluates_from_anywhere() {
    let dir = scratch("paths-run");
    let inputs = inputs(&dir);
    let bench = inputs.join("bench.jsonl");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // trained with relative paths from the inputs' folder
    cambrian_in(&inputs, &["-q", "train", "run.toml", "--out", "../runs/run"]);
    let run = dir.join("runs/run");
    let whole = losses(&run);
    let report = evaluate(&inputs, "../runs/run", &bench);

    // stage 2 lost: resumed from another folder, through absolute paths
    std::fs::remove_dir_all(run.join("stage2")).unwrap();
    let config = inputs.join("run.toml").display().to_string();
    cambrian_in(&elsewhere, &["-q", "train", &config, "--out", &run.display().to_string()]);
    assert_eq!(losses(&run), whole, "the resumed run trained otherwise");
    assert_eq!(evaluate(&elsewhere, &run.display().to_string(), &bench), report);

    // moved away from its inputs, and reached through a symlink
    std::fs::rename(&run, elsewhere.join("moved")).unwrap();
    assert_eq!(evaluate(&elsewhere, "moved", &bench), report);
    std::os::unix::fs::symlink(elsewhere.join("moved"), dir.join("link")).unwrap();
    assert_eq!(evaluate(&dir, "link", &bench), report);
    cambrian_in(&dir, &["-q", "train", "inputs/run.toml", "--out", "link"]);

    // a different config is still refused
    std::fs::write(
        inputs.join("other.toml"),
        std::fs::read_to_string(inputs.join("run.toml")).unwrap().replace("seed = 3", "seed = 4"),
    )
    .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_cambrian"))
        .args(["-q", "train", "inputs/other.toml", "--out", "link"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("different configuration"), "{}", stderr(&refused));
}

/// The run ids a dry run lists in `cwd`.
fn run_ids(cwd: &Path, spec: &str, results: &str) -> Vec<String> {
    let listing = cambrian_in(cwd, &["sweep", spec, "--results", results, "--dry-run"]);
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    text.lines().skip(1).map(|line| line.split_whitespace().nth(1).unwrap().to_string()).collect()
}

#[test]
fn a_sweep_resumed_from_another_folder_finds_its_runs() {
    let dir = scratch("paths-sweep");
    let spec = fixtures().join("sweeps/tiny.toml").display().to_string();
    let ids = run_ids(&dir, &spec, "results");
    cambrian_in(&dir, &["-q", "sweep", &spec, "--results", "results", "--no-plots"]);
    let sweep = dir.join("results/tiny");
    let finished = std::fs::read_to_string(sweep.join("results.csv")).unwrap();

    // the sweep file and the results named otherwise, from the sweep file's folder
    let (cwd, results) = (fixtures().join("sweeps"), dir.join("results").display().to_string());
    assert_eq!(run_ids(&cwd, "tiny.toml", &results), ids);
    // every run unfinished: each is claimed again, its config compared with the one it holds
    for id in &ids {
        std::fs::remove_file(sweep.join(id).join("done")).unwrap();
    }
    cambrian_in(&cwd, &["-q", "sweep", "tiny.toml", "--results", &results, "--no-plots"]);
    assert!(ids.iter().all(|id| sweep.join(id).join("done").is_file()));
    let folders = std::fs::read_dir(&sweep).unwrap().flatten().filter(|e| e.path().is_dir()).count();
    assert_eq!(folders, ids.len() + 1, "the runs and data only");
    let rows = |text: &str| text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect::<Vec<_>>();
    assert_eq!(rows(&std::fs::read_to_string(sweep.join("results.csv")).unwrap()), rows(&finished));
}
