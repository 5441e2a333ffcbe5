//! `cambrian sweep` on a three-run study (tests/fixtures/sweeps/tiny.toml): the matrix, the
//! Slurm script, results.csv, and the promises a long study relies on: killed at random
//! moments and restarted it ends with the results of an uninterrupted sweep; shards (run at
//! the same time, on one folder) together give the same results as one process; nothing
//! stale counts as done (new prepared data means new runs, an edited benchmark is evaluated
//! again); a narrower sweep file keeps the rows of runs finished before; a run busy in another
//! process makes the sweep fail.

mod common;

use std::fs::File;
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

/// The run ids a dry run of the sweep file at `path` lists.
fn run_ids(path: &str, results: &Path) -> Vec<String> {
    let out = cambrian(&["sweep", path, "--results", &results.display().to_string(), "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    listing.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap().to_string()).collect()
}

/// The tiny sweep file with `from` replaced by `to`, written as `dir/sweeps/tiny.toml`: at the
/// fixture's depth, so that its relative paths read the same (the run ids hash them as written).
fn edited_spec(dir: &Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(spec()).unwrap();
    assert!(text.contains(from), "{from}");
    let path = dir.join("sweeps/tiny.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path.display().to_string()
}

/// The folder of the uninterrupted sweep.
const WHOLE: &str = "sweep-whole";

/// The results of one uninterrupted sweep, shared by the tests that compare with it.
fn uninterrupted() -> &'static Vec<String> {
    static RESULTS: OnceLock<Vec<String>> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let dir = scratch(WHOLE);
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
    // The paths typed relative to this folder are absolute in the script, whose tasks may start elsewhere.
    let results = std::env::current_dir().unwrap().join("shared/results");
    assert!(text.contains(&format!("--results '{}'", results.display())), "{text}");

    let rows = uninterrupted();
    assert_eq!(
        rows[0],
        "sweep,run,encoder,family,weights,connector,stage1_samples,stage2_samples,encoder_trainable,llm,seed,benchmark,category,questions,unreadable,degraded,chance,generation,generation_low,generation_high,paper_score,likelihood,generation_blind,likelihood_blind"
    );
    assert_eq!(rows.len(), 1 + 3, "{rows:?}");
    assert!(rows[3].starts_with("tiny,vit+clip_mlp2x_gelu_s0-"), "{}", rows[3]);
    // Stage 2: the 32 multiple-choice conversations and 6 open-ended ones (one item per task, existence asked twice).
    assert!(rows[3].contains(",tiny-vit-test+tiny-vit-clip,self-supervised+language-supervised,random+random,mlp2x_gelu,32,38,false,llm,0,synth,Vision-Centric,16,"), "{}", rows[3]);
}

fn runs_matching(sweep_dir: &Path, check: impl Fn(&Path) -> bool) -> usize {
    std::fs::read_dir(sweep_dir).map(|entries| entries.flatten().filter(|e| check(&e.path())).count()).unwrap_or(0)
}

/// When to kill: a condition on the sweep's folder.
type Moment<'a> = Box<dyn Fn() -> bool + 'a>;

#[test]
fn a_sweep_killed_at_random_moments_restarts_to_the_same_results() {
    let dir = scratch("sweep-killed");
    let sweep_dir = dir.join("tiny");
    let moments: [(&str, Moment); 4] = [
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
    for (file, runs) in [
        ("quickstart.toml", 10),
        ("cambrian-encoders.toml", 23),
        ("cambrian-combos.toml", 8),
        ("connectors.toml", 24),
        ("encoders-2025.toml", 24),
        ("cambrian-encoders-1b.toml", 23),
    ] {
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

/// Editing `[prepare]` gives other runs: none of them is "done" on data it was not trained on.
#[test]
fn other_prepared_data_means_other_runs() {
    let dir = scratch("sweep-prepare-edit");
    let edited = edited_spec(&dir, "samples = 16", "samples = 17");
    let (before, after) = (run_ids(&spec(), &dir), run_ids(&edited, &dir));
    assert_eq!(before.len(), 3);
    assert!(before.iter().all(|id| !after.contains(id)), "{before:?} {after:?}");
}

#[test]
fn the_slurm_script_refuses_an_output_that_is_not_a_file() {
    let dir = scratch("sweep-slurm-special");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = dir.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    for target in [&fifo, &link] {
        let target = target.display().to_string();
        let out = cambrian(&["sweep", &spec(), "--results", "unused", "--emit-slurm", &target, "--shards", "2"]);
        assert!(!out.status.success(), "{target}");
        assert!(stderr(&out).contains(&format!("writing {target}: not a regular file")), "{}", stderr(&out));
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is left as it was");
}

/// On the uninterrupted sweep's folder, one after the other: a sweep file with one of the three
/// runs keeps all three rows; with a run's lock held elsewhere and the benchmark edited, the
/// sweep evaluates the two others again and fails naming the busy one; released, it ends with
/// every row on the edited benchmark.
#[test]
fn narrower_sweeps_keep_rows_edited_benchmarks_are_evaluated_again_and_busy_runs_fail() {
    let all = uninterrupted();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(WHOLE);
    let narrow =
        edited_spec(&scratch("sweep-narrow"), r#"encoders = [["vit"], ["clip"], ["vit", "clip"]]"#, r#"encoders = [["vit"]]"#);
    let out = Command::new(env!("CARGO_BIN_EXE_cambrian"))
        .args(["-q", "sweep", &narrow, "--results", &dir.display().to_string(), "--no-plots"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(&results(&dir), all, "the rows of the runs the narrower file leaves out stay");

    let ids = run_ids(&spec(), &dir);
    let lock =
        File::options().create(true).truncate(false).write(true).open(dir.join("tiny").join(&ids[0]).join("lock")).unwrap();
    lock.try_lock().unwrap();
    let benchmark = dir.join("tiny/data/synth/test_3d.jsonl");
    let text = std::fs::read_to_string(&benchmark).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&benchmark, kept[..kept.len() - 1].join("\n") + "\n").unwrap();
    let questions = |row: &str| row.split(',').nth(13).unwrap().to_string();

    let out = sweep_command(&dir, &[]).output().unwrap();
    assert!(!out.status.success(), "a busy run fails the sweep");
    assert!(stderr(&out).contains(&format!("another process holds them ({})", ids[0])), "{}", stderr(&out));
    let rows = results(&dir);
    assert_eq!(rows.len(), 1 + 2, "the busy run has no report on the benchmark as it is now: {rows:?}");
    assert!(rows[1..].iter().all(|row| questions(row) == "15" && !row.contains(&ids[0])), "{rows:?}");

    drop(lock);
    sweep(&dir, &[]);
    let rows = results(&dir);
    assert_eq!(rows.len(), 1 + 3, "{rows:?}");
    assert!(rows[1..].iter().all(|row| questions(row) == "15"), "{rows:?}");
}
