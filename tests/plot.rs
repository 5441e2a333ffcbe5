//! `cambrian plot` as a user meets it: every figure drawn from a small fixture sweep as real
//! PNG and SVG files with text in them, a report that ranks by average and embeds them, a
//! sweep still running plotted with notes, and bad results files named in the error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use cambrian::data::benchmark::Category;
use cambrian::results::{ResultRow, read_results};
use common::{cambrian, fixtures, scratch, stderr};

/// Every figure the fixture supports, with its size in pixels.
const FIGURES: [(&str, (u32, u32)); 6] = [
    ("encoders", (1600, 642)),
    ("combinations", (1600, 680)),
    ("recipes", (1600, 900)),
    ("vision", (1600, 672)),
    ("benchmarks", (1600, 900)),
    ("training", (1600, 530)),
];

fn study() -> PathBuf {
    fixtures().join("results/study")
}

fn plot(sweep: &Path, out: &Path) -> Output {
    cambrian(&["plot", sweep.to_str().unwrap(), "--out", out.to_str().unwrap()])
}

/// The fixture sweep plotted into a fresh folder `name`; the plot must succeed.
fn plot_study(name: &str) -> (PathBuf, Output) {
    let out = scratch(name);
    let output = plot(&study(), &out);
    assert!(output.status.success(), "{}", stderr(&output));
    (out, output)
}

/// The PNG decodes, has the expected size, is not blank, and has dark text pixels in its
/// title (top left), which only the bundled font can have drawn.
fn check_png(path: &Path, size: (u32, u32)) {
    let image = image::open(path).unwrap_or_else(|err| panic!("{}: {err}", path.display())).to_rgb8();
    assert_eq!(image.dimensions(), size, "{}", path.display());
    let drawn = image.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let share = drawn as f64 / (size.0 * size.1) as f64;
    assert!(share > 0.03, "{}: only {:.1}% of pixels drawn", path.display(), 100.0 * share);
    let title_ink =
        (24..400).flat_map(|x| (14..44).map(move |y| (x, y))).filter(|&(x, y)| image.get_pixel(x, y).0[0] < 90).count();
    assert!(title_ink > 300, "{}: no title text ({title_ink} dark pixels)", path.display());
}

fn check_svg(path: &Path, title: &str) {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(svg.trim_start().starts_with("<svg"), "{}", path.display());
    assert!(svg.trim_end().ends_with("</svg>"), "{}", path.display());
    assert!(svg.contains("<text") && svg.contains(title), "{}: no title text", path.display());
}

#[test]
fn every_figure_renders_from_the_fixture() {
    let (out, output) = plot_study("plot-study");
    let titles = [
        "Vision encoders by family",
        "Encoder combinations against their members",
        "Recipe axes, paired per encoder",
        "Which benchmarks need vision",
        "Benchmark clustering",
        "Training curves",
    ];
    for ((name, size), title) in FIGURES.iter().zip(titles) {
        check_png(&out.join(format!("{name}.png")), *size);
        check_svg(&out.join(format!("{name}.svg")), title);
    }
    let listed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(listed.lines().count(), FIGURES.len() + 1, "{listed}");
    assert!(stderr(&output).is_empty(), "the full fixture needs no notes: {}", stderr(&output));
}

#[test]
fn the_report_ranks_by_average_and_embeds_every_figure() {
    let (out, _) = plot_study("plot-report");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for (name, _) in FIGURES {
        assert!(report.contains(&format!("]({name}.png)")), "{name} not embedded:\n{report}");
    }
    let rows: Vec<Vec<&str>> = report
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains('`'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    // 9 single encoders and 2 combinations under the main recipe, 7 other recipes
    assert_eq!(rows.len(), 18, "{report}");
    let averages: Vec<f64> = rows.iter().map(|r| r.last().unwrap().split(' ').next().unwrap().parse().unwrap()).collect();
    assert!(averages.windows(2).all(|w| w[0] >= w[1]), "not ranked by average: {averages:?}");
    // the SVA above the same three encoders concatenated, as in Cambrian-1's Table 1
    assert_eq!(rows[0][1], "`siglip-so400m-14-384+dinov2-vit-l-14-518+convnext-xxl-1024`");
    assert_eq!((rows[0][3], rows[1][1], rows[1][3]), ("sva", rows[0][1], "main"));
    assert_eq!(rows.last().unwrap()[1], "`sam-vit-h-1024`");
    // the header names the categories and the average, in the study's order
    assert!(report.contains("| General | Knowledge | OCR & Chart | Vision-Centric | Average |"), "{report}");
    // two seeds: mean ± s.d.
    let siglip = rows.iter().find(|r| r[1] == "`siglip-so400m-14-384`" && r[3] == "main").unwrap();
    assert_eq!(siglip[4], "2");
    assert!(siglip.last().unwrap().contains(" ± "), "{siglip:?}");
}

/// Names come from results.csv: one with a newline, backticks, HTML and a pipe stays inside its
/// code span and its table cell, and a sweep name with a newline stays in the title.
#[test]
fn names_that_look_like_markdown_stay_names() {
    let sweep = copy_study("plot-markdown", |row| row.seed == 0);
    let evil = "sam`x\n<img src=x onerror=alert(1)>|``b";
    let rows: Vec<ResultRow> = read_results(&sweep.join("results.csv"))
        .unwrap()
        .into_iter()
        .map(|row| ResultRow {
            sweep: "study\n# injected".into(),
            encoder: if row.encoder == "sam-vit-h-1024" { evil.into() } else { row.encoder.clone() },
            ..row
        })
        .collect();
    let mut writer = csv::Writer::from_path(sweep.join("results.csv")).unwrap();
    rows.iter().for_each(|row| writer.serialize(row).unwrap());
    writer.flush().unwrap();
    let out = scratch("plot-markdown-out");
    let output = plot(&sweep, &out);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(report.lines().next(), Some("# Sweep `study\\n# injected`"), "{report}");
    assert!(!report.lines().any(|l| l.starts_with("<img") || l.starts_with("# injected")), "{report}");
    // every table line has the header's cells, and the name is one cell: one code span whose
    // fence is longer than its backtick runs, its pipe escaped for the table
    let table: Vec<&str> = report.lines().filter(|l| l.starts_with('|')).collect();
    let cells = |line: &str| line.replace("\\|", "").matches('|').count();
    assert!(table.iter().all(|l| cells(l) == cells(table[0])), "{report}");
    let row = table.iter().find(|l| l.contains("onerror")).unwrap_or_else(|| panic!("{report}"));
    assert_eq!(row.split(" | ").nth(1), Some("```sam`x\\n<img src=x onerror=alert(1)>\\|``b```"), "{row}");
}

/// The SVA run of three encoders sits in one group with their concatenation, each named by
/// its connector, above the members trained alone (with the projector).
#[test]
fn a_combination_groups_its_connectors_over_its_members() {
    let (out, _) = plot_study("plot-combinations");
    let svg = std::fs::read_to_string(out.join("combinations.svg")).unwrap();
    let labels: Vec<&str> =
        svg.split("<text").skip(1).filter_map(|t| t.split_once('>')?.1.split_once("</text>").map(|(l, _)| l.trim())).collect();
    let heading = "siglip-so400m-14-384 + dinov2-vit-l-14-518 + convnext-xxl-1024";
    assert_eq!(labels.iter().filter(|l| **l == heading).count(), 1, "one group for both connectors: {labels:?}");
    // the row labels, top to bottom (the headings are drawn after them)
    let group = [
        "combination, mlp2x_gelu",
        "combination, sva",
        "siglip-so400m-14-384, mlp2x_gelu",
        "dinov2-vit-l-14-518, mlp2x_gelu",
        "convnext-xxl-1024, mlp2x_gelu",
    ];
    assert!(labels.windows(group.len()).any(|w| w == group), "{labels:?}");
}

#[test]
fn the_default_output_folder_is_plots_and_the_sweep_name() {
    let dir = scratch("plot-default-out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cambrian"))
        .args(["plot", study().to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.join("plots/study/report.md").is_file());
    assert!(dir.join("plots/study/encoders.svg").is_file());
}

/// A copy of the fixture sweep with `keep` deciding which results rows stay.
fn copy_study(name: &str, keep: impl Fn(&ResultRow) -> bool) -> PathBuf {
    let sweep = scratch(name).join("study");
    std::fs::create_dir_all(&sweep).unwrap();
    for entry in std::fs::read_dir(study()).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_dir() {
            let run = sweep.join(entry.file_name());
            std::fs::create_dir_all(&run).unwrap();
            std::fs::copy(entry.path().join("metrics.csv"), run.join("metrics.csv")).unwrap();
        }
    }
    let rows = read_results(&study().join("results.csv")).unwrap();
    let mut writer = csv::Writer::from_path(sweep.join("results.csv")).unwrap();
    for row in rows.iter().filter(|r| keep(r)) {
        writer.serialize(row).unwrap();
    }
    writer.flush().unwrap();
    sweep
}

#[test]
fn a_sweep_still_running_plots_what_exists_with_notes() {
    let out = scratch("plot-running-out");
    // an earlier full plot into the same folder leaves combination figures behind
    assert!(plot(&study(), &out).status.success());
    // no combination has finished; DINOv2 has only its General benchmarks so far
    let sweep = copy_study("plot-running", |row| {
        !row.encoder.contains('+') && (row.encoder != "dinov2-vit-l-14-518" || row.category == Category::General)
    });
    // a run that is training and one whose log is cut mid-line
    std::fs::create_dir_all(sweep.join("mae-vit-h-14_mlp2x_gelu-00000000")).unwrap();
    std::fs::write(
        sweep.join("mae-vit-h-14_mlp2x_gelu-00000000/metrics.csv"),
        "stage,step,loss,lr,grad_norm,tokens_per_sec,secs\n1,0,6.1,1e-4,1.2,2000,0\n1,4,4.9,5e-4,1.1,2100,8.4\n",
    )
    .unwrap();
    let clip = sweep.join("clip-vit-l-14-336_mlp2x_gelu-338ac373");
    std::fs::write(clip.join("metrics.csv"), "stage,step,loss,lr,grad_norm,tokens_per_sec,secs\n1,0,6.1,1e-4\n").unwrap();

    let output = plot(&sweep, &out);
    let notes = stderr(&output);
    assert!(output.status.success(), "{notes}");
    assert!(
        notes.contains("note: Encoder combinations against their members (combinations) skipped: no encoder combinations"),
        "{notes}"
    );
    assert!(notes.contains("has no results yet for 6 of 8 benchmarks"), "{notes}");
    assert!(
        notes.contains("Training curve of run clip-vit-l-14-336_mlp2x_gelu-338ac373 left out:") && notes.contains("line 2"),
        "{notes}"
    );
    assert!(!out.join("combinations.png").exists() && !out.join("combinations.svg").exists(), "stale figure kept");
    for (name, size) in FIGURES.iter().filter(|(name, _)| *name != "combinations") {
        check_png(&out.join(format!("{name}.png")), *size);
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Notes") && report.contains("no encoder combinations"), "{report}");
    assert!(!report.contains("combinations.png"), "{report}");
    // DINOv2 has a General score but no average
    let dinov2 = report.lines().find(|l| l.contains("`dinov2-vit-l-14-518` | self-supervised | main")).unwrap();
    assert!(dinov2.ends_with("| – | – | – | – |"), "{dinov2}");
}

#[test]
fn figures_that_do_not_apply_are_skipped_with_a_note() {
    // three single encoders, one recipe, two categories, no blind scores, no training logs
    let main = read_results(&study().join("results.csv")).unwrap()[0].recipe();
    let sweep = copy_study("plot-small", |row| {
        row.seed == 0
            && ["clip-vit-l-14-336", "mae-vit-l-16", "sam-vit-h-1024"].contains(&row.encoder.as_str())
            && row.recipe() == main
            && [Category::General, Category::VisionCentric].contains(&row.category)
    });
    let rows: Vec<ResultRow> = read_results(&sweep.join("results.csv"))
        .unwrap()
        .into_iter()
        .map(|row| ResultRow { generation_blind: None, likelihood_blind: None, ..row })
        .collect();
    let mut writer = csv::Writer::from_path(sweep.join("results.csv")).unwrap();
    rows.iter().for_each(|row| writer.serialize(row).unwrap());
    writer.flush().unwrap();
    for entry in std::fs::read_dir(&sweep).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        }
    }
    let out = scratch("plot-small-out");
    let output = plot(&sweep, &out);
    let notes = stderr(&output);
    assert!(output.status.success(), "{notes}");
    for skipped in ["combinations", "recipes", "vision", "training"] {
        assert!(notes.contains(&format!("({skipped}) skipped")), "{skipped}: {notes}");
        assert!(!out.join(format!("{skipped}.png")).exists());
    }
    assert!(notes.contains("No Knowledge or OCR & Chart benchmarks"), "{notes}");
    check_png(&out.join("encoders.png"), (1600, 480));
    check_png(&out.join("benchmarks.png"), (1600, 900));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| General | Vision-Centric | Average |"), "{report}");
}

#[test]
fn an_empty_results_csv_is_an_error_naming_the_file() {
    let sweep = scratch("plot-empty");
    let results = sweep.join("results.csv");
    std::fs::write(&results, "").unwrap();
    let output = plot(&sweep, &sweep.join("plots"));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("{} is empty", results.display())), "{message}");

    std::fs::write(&results, cambrian::results::RESULT_COLUMNS.join(",") + "\n").unwrap();
    let message = stderr(&plot(&sweep, &sweep.join("plots")));
    assert!(message.contains(&format!("{} has a header row but no results", results.display())), "{message}");

    std::fs::remove_file(&results).unwrap();
    let message = stderr(&plot(&sweep, &sweep.join("plots")));
    assert!(message.contains(&results.display().to_string()), "{message}");
    assert!(!sweep.join("plots").exists(), "no output for a failed plot");
}

#[test]
fn a_malformed_results_csv_names_the_file_line_and_column() {
    let sweep = scratch("plot-malformed");
    let results = sweep.join("results.csv");
    let text = std::fs::read_to_string(study().join("results.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut percent: Vec<&str> = lines[2].split(',').collect();
    percent[17] = "65.26";
    let cases = [
        // an unknown category on line 3
        (lines[2].replace(",General,", ",Generic,"), "line 3: unknown variant `Generic`, expected one of `General`"),
        // a row cut short
        (lines[2].rsplit_once(',').unwrap().0.to_string(), "line 3: 24 fields where the header has 25"),
        // a score in percent
        (percent.join(","), "line 3: column `generation`: 65.26 is not a score in [0, 1]"),
    ];
    for (bad, expected) in cases {
        std::fs::write(&results, format!("{}\n{}\n{bad}\n", lines[0], lines[1])).unwrap();
        let output = plot(&sweep, &sweep.join("plots"));
        assert_eq!(output.status.code(), Some(1));
        let message = stderr(&output);
        assert!(message.contains(&format!("{}, {expected}", results.display())), "{message}");
    }
    std::fs::write(&results, lines[0].replace(",train_secs", "") + "\n").unwrap();
    let message = stderr(&plot(&sweep, &sweep.join("plots")));
    assert!(message.contains("line 1: missing column(s) train_secs"), "{message}");
}
