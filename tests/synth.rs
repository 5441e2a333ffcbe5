//! The synthetic benchmark: deterministic per seed, written in the CV-Bench layout the loader
//! reads, with LLaVA-format training files; and its questions cannot be answered from the
//! text: the best text-statistics predictor trained on the synthetic training split scores at
//! chance on the benchmark, while the same predictor does find a planted text bias.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use cambrian::data::benchmark::{Benchmark, Category, Item, Scoring};
use cambrian::data::cvbench::load;
use cambrian::data::cvbench::rules::count_window;
use cambrian::data::synth::{Split, sample};
use common::{cambrian, scratch, stderr};

const SIZE: u32 = 64;

fn items(split: Split, n: u64, seed: u64) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let q = sample(seed, split, i, SIZE).question;
            Item {
                id: i.to_string(),
                image: PathBuf::new(),
                prompt: q.prompt(),
                question: q.question,
                choices: q.choices,
                answer: q.answer,
                task: q.task.name().to_string(),
                kind: q.task.kind().to_string(),
                source: "Synth".to_string(),
                group: None,
            }
        })
        .collect()
}

/// Everything the text offers about choice `j`: its position, its text, its rank among
/// numeric choices and the lowest choice, each question word paired with it, its words, and
/// whether the question mentions it first.
fn features(item: &Item, j: usize) -> Vec<String> {
    let t = &item.task;
    let c = &item.choices[j];
    let mut f = vec![format!("{t}|pos|{j}"), format!("{t}|choice|{c}"), format!("{t}|n|{}", item.choices.len())];
    let numbers: Vec<i64> = item.choices.iter().filter_map(|o| o.parse().ok()).collect();
    if let Ok(v) = c.parse::<i64>() {
        let min = numbers.iter().min().unwrap();
        f.push(format!("{t}|rank|{}", numbers.iter().filter(|x| **x < v).count()));
        f.push(format!("{t}|min|{min}|{c}"));
    }
    f.extend(item.question.split_whitespace().map(|w| format!("{t}|{w}|{c}")));
    f.extend(c.split_whitespace().map(|w| format!("{t}|word|{w}")));
    let first = item.choices.iter().filter_map(|o| item.question.find(o.as_str())).min();
    f.push(format!("{t}|first|{}", item.question.find(c.as_str()).is_some() && item.question.find(c.as_str()) == first));
    f
}

/// Per feature: (times on the right choice, times on a wrong one).
struct TextOnly(HashMap<String, (f64, f64)>);

impl TextOnly {
    fn fit(train: &[Item]) -> Self {
        let mut counts: HashMap<String, (f64, f64)> = HashMap::new();
        for item in train {
            for j in 0..item.choices.len() {
                for f in features(item, j) {
                    let e = counts.entry(f).or_default();
                    if j == item.answer { e.0 += 1.0 } else { e.1 += 1.0 }
                }
            }
        }
        Self(counts)
    }

    /// The choice with the largest summed log-odds of being right.
    fn predict(&self, item: &Item) -> usize {
        let score = |j: usize| {
            features(item, j)
                .iter()
                .map(|f| self.0.get(f).map_or(0.0, |(r, w)| ((r + 1.0) / (w / (item.choices.len() - 1) as f64 + 1.0)).ln()))
                .sum::<f64>()
        };
        (0..item.choices.len()).max_by(|a, b| score(*a).total_cmp(&score(*b))).unwrap()
    }
}

fn task_accuracy(bench: &Benchmark, predictions: &[Option<usize>], task: &str) -> (f64, f64) {
    let (mut right, mut chance, mut n) = (0.0, 0.0, 0.0);
    for (item, p) in bench.items.iter().zip(predictions).filter(|(i, _)| i.task == task) {
        right += f64::from(*p == Some(item.answer));
        chance += 1.0 / item.choices.len() as f64;
        n += 1.0;
    }
    (right / n, chance / n)
}

fn evaluate(train: &[Item], test: Vec<Item>) -> (Benchmark, Vec<Option<usize>>) {
    let model = TextOnly::fit(train);
    let predictions = test.iter().map(|i| Some(model.predict(i))).collect();
    (Benchmark::new("synth", Category::VisionCentric, Scoring::CvBench, test).unwrap(), predictions)
}

/// The builder's rule for real CV-Bench: choices centred on the count (a text bias).
fn centre_count_choices(items: &mut [Item]) {
    for item in items.iter_mut().filter(|i| i.task == "Count") {
        let n: u32 = item.choices[item.answer].parse().unwrap();
        item.choices = count_window(n).iter().map(u32::to_string).collect();
        item.answer = item.choices.iter().position(|c| *c == n.to_string()).unwrap();
    }
}

#[test]
fn text_only_predictor_scores_at_chance() {
    let train = items(Split::Train, 2400, 11);
    let test = items(Split::Test, 800, 11);
    let (bench, predictions) = evaluate(&train, test.clone());
    let score = bench.score(&predictions).unwrap().value;
    let chance = bench.random_baseline().value;
    eprintln!("text-only CV-Bench score {score:.3}, random guess {chance:.3}");
    // 800 items: the score's standard deviation at chance is about 0.017.
    assert!((score - chance).abs() < 0.05, "text-only {score:.3} vs chance {chance:.3}");
    for task in ["Count", "Relation", "Depth", "Distance"] {
        let (acc, chance) = task_accuracy(&bench, &predictions, task);
        eprintln!("  {task:<9} {acc:.3} (chance {chance:.3})");
        assert!((acc - chance).abs() < 0.12, "{task}: text-only {acc:.3} vs chance {chance:.3}");
    }

    // Control: with count choices centred on the answer, as the real builder's rule makes
    // them, the same predictor reads most counts off the choices.
    let (mut train_biased, mut test_biased) = (train, test);
    centre_count_choices(&mut train_biased);
    centre_count_choices(&mut test_biased);
    let (bench, predictions) = evaluate(&train_biased, test_biased);
    let (acc, chance) = task_accuracy(&bench, &predictions, "Count");
    eprintln!("  control: centred count choices {acc:.3} (chance {chance:.3})");
    assert!(acc > chance + 0.4, "the predictor should find the planted bias: {acc:.3}");
}

#[test]
fn answers_and_tasks_are_balanced() {
    let test = items(Split::Test, 400, 5);
    let mut per_task: HashMap<&str, usize> = HashMap::new();
    let mut first_two = [0usize; 2];
    for item in &test {
        *per_task.entry(item.task.as_str()).or_default() += 1;
        if item.choices.len() == 2 {
            first_two[item.answer] += 1;
        }
    }
    assert!(per_task.values().all(|n| *n == 100), "{per_task:?}");
    let share = first_two[0] as f64 / (first_two[0] + first_two[1]) as f64;
    assert!((share - 0.5).abs() < 0.1, "two-choice answers (A) share {share:.3}");
}

#[test]
fn samples_are_deterministic_per_seed() {
    let a = sample(3, Split::Test, 6, SIZE);
    let b = sample(3, Split::Test, 6, SIZE);
    assert_eq!(a.image, b.image);
    assert_eq!(a.question, b.question);
    assert_eq!(a.caption, b.caption);
    let c = sample(4, Split::Test, 6, SIZE);
    assert_ne!(a.image, c.image, "another seed, another scene");
    let d = sample(3, Split::Train, 6, SIZE);
    assert_ne!(a.image, d.image, "train and test scenes differ");
    assert_eq!(sample(3, Split::Test, 1, 200).image.dimensions(), (200, 200));
}

#[test]
fn cli_writes_a_loadable_benchmark_and_llava_training_files() {
    let root = scratch("synth-cli");
    let out = root.join("synth");
    let run = |extra: &[&str]| {
        cambrian(
            &[&["synth", "--samples", "8", "--train-samples", "4", "--seed", "2", "--out"][..], &[out.to_str().unwrap()], extra]
                .concat(),
        )
    };
    let ok = run(&["--size", "64"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bench = load::cvbench(&out, "Synth").unwrap();
    assert_eq!(bench.items.len(), 8);
    let tasks: Vec<&str> = bench.items.iter().map(|i| i.task.as_str()).collect();
    assert_eq!(tasks, ["Count", "Relation", "Count", "Relation", "Depth", "Distance", "Depth", "Distance"], "2D file first");
    let relation = &bench.items[1];
    let img = image::open(&relation.image).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 64));
    assert!(img.pixels().any(|p| p.0 == [255, 0, 0]) && img.pixels().any(|p| p.0 == [0, 0, 255]), "box prompts drawn");

    for file in ["pretrain.json", "instruct.json"] {
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(out.join("train").join(file)).unwrap()).unwrap();
        assert_eq!(rows.len(), 4);
        for row in &rows {
            assert!(out.join(row["image"].as_str().unwrap()).is_file());
            let turns = row["conversations"].as_array().unwrap();
            assert_eq!(turns[0]["from"], "human");
            assert!(turns[0]["value"].as_str().unwrap().starts_with("<image>\n"));
            assert_eq!(turns[1]["from"], "gpt");
        }
    }
    let instruct: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(out.join("train/instruct.json")).unwrap()).unwrap();
    let reply = instruct[0]["conversations"][1]["value"].as_str().unwrap();
    assert!(["A", "B", "C", "D", "E"].contains(&reply), "{reply}");

    let again = run(&["--size", "64"]);
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    let small = cambrian(&["synth", "--samples", "2", "--size", "32", "--out", root.join("small").to_str().unwrap()]);
    assert!(!small.status.success());
    assert!(stderr(&small).contains("image size 32 px is outside 64..=384"), "{}", stderr(&small));
    assert!(!root.join("small").exists() && !root.join(".small.partial").exists());
}
