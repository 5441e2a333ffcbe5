//! CV-Bench: the builder on hand-made COCO-, ADE20K- and Omni3D-format fixtures gives the
//! questions the paper's rules call for and counts what it skips; the loader reads the
//! released schema and the generic JSONL; the scoring rules and random baselines match hand
//! computation; vision-disabled images are what they claim.

mod common;

use std::path::{Path, PathBuf};

use cambrian::data::benchmark::{Benchmark, Category, Scoring};
use cambrian::data::cvbench::build::{Inputs, Options, Report, build};
use cambrian::data::cvbench::load;
use cambrian::data::cvbench::schema::Record;
use cambrian::data::vision::ImageMode;
use cambrian::eval::answer::read_answer;
use common::{cambrian, scratch, stderr};

fn dir() -> PathBuf {
    common::fixtures().join("cvbench")
}

fn inputs() -> Inputs {
    Inputs {
        images: dir().join("images"),
        coco: vec![dir().join("coco.json")],
        ade20k: vec![dir().join("ade20k.json")],
        omni3d: vec![dir().join("omni3d.json")],
    }
}

fn built(name: &str) -> (PathBuf, Report, Vec<Record>) {
    let out = scratch(name).join("bench");
    let options = Options { zero_count_rate: 1.0, ..Options::default() };
    let report = build(&inputs(), &options, &out).unwrap();
    let mut records = Vec::new();
    for file in ["test_2d.jsonl", "test_3d.jsonl"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        records.extend(text.lines().map(|l| serde_json::from_str::<Record>(l).unwrap()));
    }
    (out, report, records)
}

fn find<'a>(records: &'a [Record], question: &str) -> &'a Record {
    records.iter().find(|r| r.question == question).unwrap_or_else(|| {
        let all: Vec<&str> = records.iter().map(|r| r.question.as_str()).collect();
        panic!("no question {question:?} among {all:#?}")
    })
}

/// The choice text the record's answer letter points at.
fn answer(r: &Record) -> &str {
    let index = (r.answer.as_bytes()[1] - b'A') as usize;
    &r.choices[index]
}

#[test]
fn coco_format_gives_count_zero_count_and_relation() {
    let (out, _, records) = built("cvbench-coco");
    let chairs = find(&records, "How many chairs are in the image?");
    assert_eq!((chairs.task.as_str(), chairs.kind.as_str(), chairs.source.as_str()), ("Count", "2D", "COCO"));
    assert_eq!(answer(chairs), "3");
    let mut sorted: Vec<u32> = chairs.choices.iter().map(|c| c.parse().unwrap()).collect();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 4, 5], "choices cluster on the count");
    assert_eq!(chairs.target_class.as_deref(), Some("chair"));
    assert_eq!(chairs.source_filename, "coco-1.png");
    assert_eq!(chairs.source_dataset, "fixture COCO-format instances");
    assert!(chairs.prompt.starts_with("How many chairs are in the image? Select from the following choices.\n(A) "));

    let buses: Vec<&Record> = records.iter().filter(|r| r.question == "How many buses are in the image?").collect();
    assert_eq!(buses.len(), 2, "one zero-count item per COCO image with questions");
    assert!(buses.iter().all(|r| answer(r) == "0" && r.choices.len() == 5));

    let dogs = find(&records, "How many dogs are in the image?");
    assert_eq!((answer(dogs), dogs.source_filename.as_str()), ("1", "coco-2.png"));

    let relation = find(
        &records,
        "Considering the relative positions of the cat (annotated by the red box) and the dog (annotated by the blue box) \
         in the image provided, where is the cat (annotated by the red box) located with respect to the dog (annotated \
         by the blue box)?",
    );
    assert_eq!(answer(relation), "left");
    assert_eq!(relation.choices.len(), 2);
    assert!(relation.choices.contains(&"right".to_string()));
    assert_eq!(relation.bbox, Some(serde_json::json!([[4.0, 8.0, 16.0, 24.0], [40.0, 10.0, 56.0, 30.0]])));

    // The boxes are drawn around the objects on the copy: red just outside the cat's corner,
    // blue outside the dog's; the objects themselves stay as they were.
    let img = image::open(out.join(&relation.filename)).unwrap().to_rgb8();
    let source = image::open(dir().join("images/coco-1.png")).unwrap().to_rgb8();
    assert_eq!(img.get_pixel(3, 7).0, [255, 0, 0]);
    assert_eq!(img.get_pixel(56, 30).0, [0, 0, 255]);
    assert_eq!(img.get_pixel(4, 8), source.get_pixel(4, 8));
    assert_ne!(source.get_pixel(3, 7).0, [255, 0, 0]);
    assert!(relation.filename.starts_with("img/2D/relation/"));
}

#[test]
fn ade20k_format_decides_above_below() {
    let (_, _, records) = built("cvbench-ade");
    let cushion = find(
        &records,
        "Considering the relative positions of the cushion (annotated by the red box) and the sofa (annotated by the \
         blue box) in the image provided, where is the cushion (annotated by the red box) located with respect to the \
         sofa (annotated by the blue box)?",
    );
    assert_eq!((answer(cushion), cushion.source.as_str()), ("above", "ADE20K"));
    let mut choices = cushion.choices.clone();
    choices.sort();
    assert_eq!(choices, ["above", "below"]);
}

#[test]
fn omni3d_format_gives_depth_and_distance_by_the_corner_rule() {
    let (_, _, records) = built("cvbench-omni");
    let depth: Vec<&Record> = records.iter().filter(|r| r.task == "Depth").collect();
    assert_eq!(depth.len(), 1, "the second image's pair is within the margin");
    let d = depth[0];
    assert_eq!((d.kind.as_str(), d.source.as_str(), answer(d)), ("3D", "Omni3D", "chair"));
    let (first, second) = (&d.choices[0], &d.choices[1]);
    assert_eq!(
        d.question,
        format!(
            "Which object is closer to the camera taking this photo, the {first} (highlighted by a red box) or the \
             {second} (highlighted by a blue box)?"
        )
    );
    let box_of = |name: &str| match name {
        "chair" => serde_json::json!([5.0, 20.0, 20.0, 40.0]),
        "table" => serde_json::json!([35.0, 10.0, 55.0, 25.0]),
        "lamp" => serde_json::json!([22.0, 5.0, 32.0, 18.0]),
        other => panic!("{other}"),
    };
    assert_eq!(d.bbox, Some(serde_json::json!([box_of(first), box_of(second)])), "red then blue, in mention order");
    assert!(!d.prompt.contains("Select from the following choices."));
    assert_eq!(d.source_dataset, "Omni3D fixture");

    let dist: Vec<&Record> = records.iter().filter(|r| r.task == "Distance").collect();
    assert_eq!(dist.len(), 1);
    let r = dist[0];
    assert_eq!(answer(r), "lamp");
    let (a, b) = (&r.choices[0], &r.choices[1]);
    assert_eq!(
        r.question,
        format!(
            "Estimate the real-world distances between objects in this image. Which object is closer to the chair \
             (highlighted by a red box), the {a} (highlighted by a blue box) or the {b} (highlighted by a green box)?"
        )
    );
    assert_eq!(r.bbox, Some(serde_json::json!([box_of("chair"), box_of(a), box_of(b)])));
}

#[test]
fn bad_input_is_skipped_and_counted_with_its_reason() {
    let (_, report, records) = built("cvbench-skips");
    let skipped = |reason: &str| report.skipped.get(reason).copied().unwrap_or(0);
    assert_eq!(skipped("image: box outside the image"), 1);
    assert_eq!(skipped("image: file missing"), 1);
    assert_eq!(skipped("image: annotation with an unknown category id"), 1);
    assert_eq!(skipped("count: class with a crowd annotation"), 1);
    assert_eq!(skipped("count: class with an instance too small"), 1);
    assert_eq!(skipped("relation: fewer than two classes present once"), 1);
    assert_eq!(skipped("object: box outside the image"), 1);
    assert_eq!(skipped("object: no valid 3D box in front of the camera"), 1);
    assert_eq!(skipped("depth: no pair apart by the margin"), 1);
    let total: usize = report.questions.values().sum();
    assert_eq!(total, records.len());
    assert_eq!(report.questions.get("Count"), Some(&5), "chairs, dogs, two buses, ADE's sofa/cushion count");
    assert_eq!(report.questions.get("Relation"), Some(&2));
    assert_eq!(report.questions.get("Depth"), Some(&1));
    assert_eq!(report.questions.get("Distance"), Some(&1));
}

#[test]
fn built_folder_loads_and_is_deterministic() {
    let (out, _, records) = built("cvbench-load");
    let bench = load::cvbench(&out, "CV-Bench fixture").unwrap();
    assert_eq!(bench.items.len(), records.len());
    assert_eq!(bench.scoring, Scoring::CvBench);
    assert_eq!(bench.category, Category::VisionCentric);
    let (_, _, again) = built("cvbench-load-again");
    assert_eq!(records, again, "same inputs and seed, same benchmark");
}

#[test]
fn cli_builds_refuses_an_existing_folder_and_leaves_nothing_on_bad_input() {
    let root = scratch("cvbench-cli");
    let out = root.join("bench");
    let fixture = |f: &str| dir().join(f).to_string_lossy().into_owned();
    let images = fixture("images");
    let args = ["cvbench", "build", "--coco", &fixture("coco.json"), "--images", &images, "--out"];
    let ok = cambrian(&[&args[..], &[out.to_str().unwrap()]].concat());
    assert!(ok.status.success(), "{}", stderr(&ok));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("image: file missing"), "{stdout}");
    let again = cambrian(&[&args[..], &[out.to_str().unwrap()]].concat());
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));

    let broken = root.join("broken.json");
    std::fs::write(&broken, "{\"images\": [").unwrap();
    let bad_out = root.join("bad");
    let bad = cambrian(&[
        "cvbench",
        "build",
        "--coco",
        broken.to_str().unwrap(),
        "--images",
        &images,
        "--out",
        bad_out.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("broken.json: not valid JSON"), "{}", stderr(&bad));
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!bad_out.exists() && left.len() == 2, "nothing half-written: {left:?}");
}

fn released() -> Benchmark {
    load::cvbench(&dir().join("released"), "CV-Bench").unwrap()
}

#[test]
fn loader_reads_the_released_schema() {
    let bench = released();
    assert_eq!(bench.items.len(), 5);
    let coco = &bench.items[2];
    assert_eq!(coco.choices, ["3", "0", "1", "2", "4"], "numeric choices read as text");
    assert_eq!((coco.answer, coco.source.as_str(), coco.kind.as_str()), (1, "COCO", "2D"));
    assert!(coco.image.ends_with("img/2D/count/coco_2.png") && coco.image.is_file());
    assert!(coco.full_prompt().ends_with("(E) 4\nAnswer with the option's letter from the given choices directly."));
    let depth = &bench.items[3];
    assert_eq!((depth.task.as_str(), depth.kind.as_str(), depth.answer), ("Depth", "3D", 0));
}

#[test]
fn cv_bench_formula_and_random_baseline() {
    let bench = released();
    // ADE20K: 1 of 2 right; COCO: 1 of 1; Omni3D: 1 of 2.
    let score = bench.score(&[Some(2), Some(1), Some(1), Some(0), None]).unwrap();
    let part = |name: &str| score.parts.iter().find(|(n, _)| n == name).unwrap().1;
    assert!((part("2D ADE20K") - 0.5).abs() < 1e-12);
    assert!((part("2D COCO") - 1.0).abs() < 1e-12);
    assert!((part("2D") - 0.75).abs() < 1e-12, "2D is the mean of the sources, not of the items");
    assert!((part("3D") - 0.5).abs() < 1e-12);
    assert!((score.value - 0.625).abs() < 1e-12);
    // Random: ADE (1/4 + 1/2)/2, COCO 1/5, Omni3D 1/2.
    let random = bench.random_baseline();
    assert!((random.value - ((0.375 + 0.2) / 2.0 + 0.5) / 2.0).abs() < 1e-12, "{random:?}");
    assert!(bench.score(&[None; 4]).is_err(), "prediction count must match");
}

#[test]
fn generic_jsonl_with_pair_accuracy() {
    let path = dir().join("mmvp/questions.jsonl");
    let bench = load::jsonl(&path, "MMVP", Category::VisionCentric, Scoring::PairAccuracy).unwrap();
    assert_eq!(bench.items.len(), 4);
    assert_eq!(bench.items[3].answer, 1, "bare letters read too");
    assert_eq!(bench.items[0].prompt, "Is the dog facing left or right?\n(A) left\n(B) right");
    // Pair 1 both right, pair 2 one wrong: 1 of 2 pairs; plain accuracy would say 3/4.
    let score = bench.score(&[Some(0), Some(1), Some(0), Some(0)]).unwrap();
    assert!((score.value - 0.5).abs() < 1e-12);
    assert!((bench.random_baseline().value - 0.25).abs() < 1e-12, "each pair right with (1/2)^2");
    let plain = load::jsonl(&path, "MMVP", Category::VisionCentric, Scoring::Accuracy).unwrap();
    assert!((plain.score(&[Some(0), Some(1), Some(0), Some(0)]).unwrap().value - 0.75).abs() < 1e-12);
}

#[test]
fn bad_benchmark_files_name_the_cause() {
    let root = scratch("cvbench-bad-load");
    let line = |answer: &str, image: &str| {
        format!(r#"{{"id": 1, "image": "{image}", "question": "q", "choices": ["a", "b"], "answer": "{answer}"}}"#)
    };
    std::fs::copy(dir().join("images/coco-1.png"), root.join("a.png")).unwrap();
    let cases = [
        (line("C", "a.png"), "answer is not one of the choices"),
        (line("yes", "a.png"), "is not a letter"),
        (line("A", "nope.png"), "1 of 1 images missing"),
        ("{\"id\": 1".to_string(), "line 1"),
    ];
    for (text, expected) in cases {
        let path = root.join("q.jsonl");
        std::fs::write(&path, text).unwrap();
        let err = load::jsonl(&path, "x", Category::General, Scoring::Accuracy).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected:?}");
    }
    // A valid file whose items have no `group`: only pair accuracy refuses it.
    std::fs::write(root.join("q.jsonl"), line("A", "a.png")).unwrap();
    let err = load::jsonl(&root.join("q.jsonl"), "x", Category::General, Scoring::PairAccuracy).unwrap_err();
    assert!(err.to_string().contains("pair accuracy needs a `group`"), "{err}");
    let none = load::cvbench(&root, "x").unwrap_err().to_string();
    assert!(none.contains("not a CV-Bench folder"), "{none}");
}

/// A line the loader cannot take whole names its file and line: too many choices to letter,
/// a byte that is not UTF-8, a CV-Bench `filename` leading out of the folder; a byte-order
/// mark is read past.
#[test]
fn bad_lines_are_named_and_a_byte_order_mark_is_allowed() {
    let root = scratch("cvbench-bad-lines");
    std::fs::copy(dir().join("images/coco-1.png"), root.join("a.png")).unwrap();
    let line = |choices: usize, image: &str| {
        let choices: Vec<String> = (0..choices).map(|i| format!("c{i}")).collect();
        serde_json::json!({"id": 1, "image": image, "question": "q", "choices": choices, "answer": "A"}).to_string()
    };
    let load = |bytes: &[u8]| {
        std::fs::write(root.join("q.jsonl"), bytes).unwrap();
        load::jsonl(&root.join("q.jsonl"), "x", Category::General, Scoring::Accuracy)
    };
    let good = line(2, "a.png");
    let cases = [
        (format!("{good}\n{}", line(27, "a.png")), "line 2: 27 choices; at most 26"),
        (format!("{good}\n{}", line(200, "a.png")), "line 2: 200 choices"),
    ];
    for (text, expected) in cases {
        let err = load(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("q.jsonl") && err.contains(expected), "{err} lacks {expected:?}");
    }
    let mut latin1 = format!("{good}\n\n").into_bytes();
    latin1.extend(line(2, "a.png").replace("\"q\"", "\"caf_\"").bytes().map(|b| if b == b'_' { 0xE9 } else { b }));
    let err = load(&latin1).unwrap_err().to_string();
    assert!(err.contains("line 3: not UTF-8"), "{err}");
    let bench = load(format!("\u{FEFF}{good}\n").as_bytes()).unwrap();
    assert_eq!(bench.items.len(), 1);

    let cv = scratch("cvbench-escaping-filename");
    let released = std::fs::read_to_string(dir().join("released/test_2d.jsonl")).unwrap();
    let first = released.lines().next().unwrap().replace("img/2D/count/ade_0.png", "../released/img/2D/count/ade_0.png");
    std::fs::write(cv.join("test_2d.jsonl"), format!("\u{FEFF}{first}\n")).unwrap();
    let err = load::cvbench(&cv, "x").unwrap_err().to_string();
    assert!(err.contains("test_2d.jsonl: line 1: filename") && err.contains("leaves the benchmark folder"), "{err}");
}

#[test]
fn answers_are_read_like_cambrians_extractor() {
    let cases = [
        ("A", Some(0)),
        ("(B)", Some(1)),
        ("b.", Some(1)),
        ("The answer is (C).", Some(2)),
        ("Answer: d", Some(3)),
        ("E", None),
        ("", None),
    ];
    for (reply, expected) in cases {
        assert_eq!(read_answer(reply, 4), expected, "{reply:?}");
    }
}

#[test]
fn vision_disabled_images() {
    let path: &Path = &dir().join("images/coco-2.png");
    let original = image::open(path).unwrap().to_rgb8();
    let flat = ImageMode::MeanColour.load(path).unwrap().unwrap();
    assert_eq!(flat.dimensions(), original.dimensions());
    let n = (original.width() * original.height()) as f64;
    for c in 0..3 {
        let mean = original.pixels().map(|p| p.0[c] as f64).sum::<f64>() / n;
        assert!(flat.pixels().all(|p| (p.0[c] as f64 - mean).abs() <= 0.5), "channel {c}");
    }
    assert_eq!(ImageMode::Image.load(path).unwrap().unwrap(), original);
    assert!(ImageMode::NoImage.load(path).unwrap().is_none());
}
