//! `cambrian sweep` on a three-run study (tests/fixtures/sweeps/tiny.toml): the matrix, the
//! Slurm script, results.csv, and the promises a long study relies on: killed at random
//! moments and restarted it ends with the results of an uninterrupted sweep; shards (run at
//! the same time, on one folder) together give the same results as one process.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;

use common::{cambrian, fixtures, kill_when, scratch, stderr};

fn spec() -> String {
    fixtures().join("sweeps/tiny.toml").display().to_string()
}

fn sweep_command(results: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cambrian"));
    command.args(["-q", "sweep", &spec(), "--results", &results.display().to_string(), "--no-plots"]).args(extra);
    command
}

fn sweep(results: &Path, extra: &[&str]) {
    let out = sweep_command(results, extra).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// results.csv without the timing column (train_secs, the last).
fn results(results: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(results.join("tiny/results.csv")).unwrap();
    text.lines().map(|line| line.rsplit_once(',').unwrap().0.to_string()).collect()
}

/// The results of one uninterrupted sweep, shared by the tests that compare with it.
fn uninterrupted() -> &'static Vec<String> {
    static RESULTS: OnceLock<Vec<String>> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let dir = scratch("sweep-whole");
        sweep(&dir, &[]);
        results(&dir)
    })
}

#[test]
fn the_matrix_results_and_slurm_script() {
    let dir = scratch("sweep-matrix");
    let dry = cambrian(&["sweep", &spec(), "--results", &dir.display().to_string(), "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let listing = String::from_utf8_lossy(&dry.stdout);
    assert!(listing.starts_with("3 runs of sweep `tiny`"), "{listing}");
    assert!(listing.contains("vit+clip_mlp2x_gelu_s0-"), "{listing}");

    let script = dir.join("array.sbatch");
    let emitted = cambrian(&[
        "sweep",
        &spec(),
        "--results",
        "shared/results",
        "--emit-slurm",
        &script.display().to_string(),
        "--shards",
        "3",
    ]);
    assert!(emitted.status.success(), "{}", stderr(&emitted));
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-2"), "{text}");
    assert!(text.contains("--shard \"${SLURM_ARRAY_TASK_ID}/3\""), "{text}");

    let rows = uninterrupted();
    assert_eq!(
        rows[0],
        "sweep,run,encoder,family,connector,stage1_samples,stage2_samples,encoder_trainable,llm,seed,benchmark,category,questions,chance,generation,likelihood,generation_blind,likelihood_blind"
    );
    assert_eq!(rows.len(), 1 + 3, "{rows:?}");
    assert!(rows[3].starts_with("tiny,vit+clip_mlp2x_gelu_s0-"), "{}", rows[3]);
    assert!(rows[3].contains(",tiny-vit-test+tiny-vit-clip,self-supervised+language-supervised,mlp2x_gelu,32,32,false,llm,0,synth,Vision-Centric,16,"), "{}", rows[3]);
}

fn runs_matching(sweep_dir: &Path, check: impl Fn(&Path) -> bool) -> usize {
    std::fs::read_dir(sweep_dir).map(|entries| entries.flatten().filter(|e| check(&e.path())).count()).unwrap_or(0)
}

#[test]
fn a_sweep_killed_at_random_moments_restarts_to_the_same_results() {
    let dir = scratch("sweep-killed");
    let sweep_dir = dir.join("tiny");
    let moments: [(&str, Box<dyn Fn() -> bool>); 4] = [
        ("while preparing", Box::new(|| true)),
        ("in a run's first stage", Box::new(|| runs_matching(&sweep_dir, |run| run.join("checkpoints").is_dir()) > 0)),
        ("after a run finished", Box::new(|| runs_matching(&sweep_dir, |run| run.join("done").is_file()) > 0)),
        ("in a later run's evaluation", Box::new(|| runs_matching(&sweep_dir, |run| run.join("eval").is_dir()) > 1)),
    ];
    for (when, ready) in &moments {
        let mut child = sweep_command(&dir, &[]).spawn().unwrap();
        assert!(kill_when(&mut child, ready), "the sweep had finished before the kill {when}");
        println!("killed {when}");
    }
    sweep(&dir, &[]);
    assert_eq!(&results(&dir), uninterrupted());
    let locks = runs_matching(&sweep_dir, |run| run.join("lock").exists());
    assert_eq!(locks, 0, "no lock outlives its process");
}

#[test]
fn shards_run_together_give_the_results_of_one_process() {
    // A relative results folder, as the README's command uses: from the working directory.
    let dir = scratch("sweep-shards");
    let shard = |s: &str| sweep_command(Path::new("results"), &["--shard", s]).current_dir(&dir).spawn().unwrap();
    let mut shards: Vec<Child> = ["0/2", "1/2"].into_iter().map(shard).collect();
    for child in &mut shards {
        assert!(child.wait().unwrap().success());
    }
    // Each shard wrote results.csv when it ended; one more pass collects both.
    let dir = dir.join("results");
    sweep(&dir, &[]);
    assert_eq!(&results(&dir), uninterrupted());
}

#[test]
fn a_run_folder_from_another_config_is_refused() {
    let dir = scratch("sweep-refuse");
    let listing = cambrian(&["sweep", &spec(), "--results", &dir.display().to_string(), "--dry-run"]);
    let first_run =
        String::from_utf8_lossy(&listing.stdout).lines().nth(1).unwrap().split_whitespace().nth(1).unwrap().to_string();
    let run: PathBuf = dir.join("tiny").join(first_run);
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("config.toml"), "seed = 99\n").unwrap();
    let out = sweep_command(&dir, &[]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("different configuration"), "{}", stderr(&out));
}

/// The shipped studies expand: the quick-start, the 23-encoder comparison, the combinations
/// (each with its SVA run beside the concatenations).
#[test]
fn the_shipped_sweeps_expand() {
    let dir = scratch("sweep-shipped");
    let sweeps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps");
    for (file, runs) in [("quickstart.toml", 10), ("cambrian-encoders.toml", 23), ("cambrian-combos.toml", 8)] {
        let out =
            cambrian(&["sweep", &sweeps.join(file).display().to_string(), "--results", &dir.display().to_string(), "--dry-run"]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.starts_with(&format!("{runs} runs of sweep")), "{file}: {listing}");
    }
}

/// An axis value "none" leaves the key out: frozen and unfrozen runs from one axis.
#[test]
fn a_none_axis_value_leaves_the_key_out() {
    let dir = scratch("sweep-none-axis");
    let text = std::fs::read_to_string(fixtures().join("sweeps/tiny.toml")).unwrap();
    let spec = text.replace(
        r#"encoders = [["vit"], ["clip"], ["vit", "clip"]]"#,
        "encoders = [[\"vit\"]]\n\"stage2.encoder_lr\" = [\"none\", 1e-5]",
    );
    let spec = spec.replace("../mllm/", &format!("{}/", fixtures().join("mllm").display()));
    let spec = spec.replace("../../../sweeps/", &format!("{}/sweeps/", env!("CARGO_MANIFEST_DIR")));
    let path = dir.join("frozen-unfrozen.toml");
    std::fs::write(&path, spec).unwrap();
    let out = cambrian(&["sweep", &path.display().to_string(), "--results", &dir.display().to_string(), "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<&str> = listing.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(ids.len(), 2, "{listing}");
    assert_ne!(ids[0], ids[1], "the two configs differ");
}
