//! `cambrian cvbench build`: CV-Bench's four tasks from detection annotations.
//!
//! - COCO-format files (COCO, ADE20K converted) give **Count** (the class with the most
//!   instances, choices clustered on the count; now and then a class absent from the image,
//!   count 0) and **Relation** (two classes each present exactly once, the larger box the
//!   anchor, left/right or above/below by [`rules::relation`]).
//! - Omni3D files give **Depth** (two classes each present once, red and blue boxes, decided
//!   only by the corner rule with a margin) and **Distance** (an anchor and two objects, red,
//!   blue and green boxes, the same rule measured from the anchor's centre).
//!
//! Objects whose box covers less than `min_box_frac` of the image are not asked about; a class
//! with any such instance is not counted. Bad input is skipped and counted with its reason;
//! unreadable annotation files are errors. The output folder appears only when complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::coco::{self, CocoFile};
use super::omni3d::{self, OmniFile};
use super::rules;
use super::schema::{Question, Task};
use super::write::Writer;
use crate::atomic::Staging;
use crate::data::{DataError, open_rgb};

#[derive(Debug, Clone)]
pub struct Options {
    /// Smallest box area asked about, as a fraction of the image area.
    pub min_box_frac: f64,
    /// Depth and distance margin between corner distances, metres.
    pub margin_m: f64,
    /// Probability that an image also gets a zero-count question.
    pub zero_count_rate: f64,
    /// Seeds choice order and the zero-count draws.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self { min_box_frac: 0.005, margin_m: 0.5, zero_count_rate: 0.25, seed: 0 }
    }
}

/// Annotation files; every `file_name` is looked up under `images`.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub images: PathBuf,
    pub coco: Vec<PathBuf>,
    pub ade20k: Vec<PathBuf>,
    pub omni3d: Vec<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub questions: BTreeMap<&'static str, usize>,
    pub skipped: BTreeMap<String, usize>,
}

impl Report {
    fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }
}

pub fn build(inputs: &Inputs, options: &Options, out: &Path) -> Result<Report, DataError> {
    if inputs.coco.is_empty() && inputs.ade20k.is_empty() && inputs.omni3d.is_empty() {
        return Err(DataError::Config("no annotation files given".into()));
    }
    if options.zero_count_rate.is_nan() {
        return Err(DataError::Config("--zero-count-rate must be a number in 0..=1".into()));
    }
    let staging = Staging::new(out)?;
    let mut writer = Writer::new(staging.path());
    let mut report = Report::default();
    let sources_2d = inputs.coco.iter().map(|p| ("COCO", p)).chain(inputs.ade20k.iter().map(|p| ("ADE20K", p)));
    for (source, path) in sources_2d {
        let file = CocoFile::open(path)?;
        build_2d(&file, source, &file.describe(path), inputs, options, &mut writer, &mut report)?;
    }
    for path in &inputs.omni3d {
        let file = OmniFile::open(path)?;
        build_3d(&file, &file.describe(path), inputs, options, &mut writer, &mut report)?;
    }
    if writer.is_empty() {
        return Err(DataError::Config(format!("no question could be generated; skipped: {:?}", report.skipped)));
    }
    writer.finish()?;
    staging.commit()?;
    Ok(report)
}

fn rng_for(options: &Options, source: &str, image_id: u64) -> ChaCha8Rng {
    let salt = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    ChaCha8Rng::seed_from_u64(options.seed ^ salt ^ image_id.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn big_enough(b: [f64; 4], image: &coco::Image, options: &Options) -> bool {
    (b[2] - b[0]) * (b[3] - b[1]) >= options.min_box_frac * image.width as f64 * image.height as f64
}

fn inside(b: [f64; 4], image: &coco::Image) -> bool {
    let (w, h) = (image.width as f64, image.height as f64);
    b[0] >= -1.0 && b[1] >= -1.0 && b[2] <= w + 1.0 && b[3] <= h + 1.0 && b[2] > b[0] && b[3] > b[1]
}

/// Loads an image, checking it matches the annotated size.
fn load(image: &coco::Image, inputs: &Inputs, report: &mut Report) -> Option<image::RgbImage> {
    match open_rgb(&inputs.images.join(&image.file_name)) {
        Ok(img) if img.dimensions() == (image.width, image.height) => Some(img),
        Ok(_) => {
            report.skip("image: size differs from the annotation");
            None
        }
        Err(err) => {
            tracing::warn!("{err}");
            report.skip("image: unreadable");
            None
        }
    }
}

fn build_2d(
    file: &CocoFile,
    source: &'static str,
    dataset: &str,
    inputs: &Inputs,
    options: &Options,
    writer: &mut Writer,
    report: &mut Report,
) -> Result<(), DataError> {
    let names: BTreeMap<u64, &str> = file.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    let by_image = file.by_image();
    for image in &file.images {
        let anns = by_image.get(&image.id).map(Vec::as_slice).unwrap_or_default();
        if !inputs.images.join(&image.file_name).is_file() {
            report.skip("image: file missing");
            continue;
        }
        if anns.iter().any(|a| !names.contains_key(&a.category_id)) {
            report.skip("image: annotation with an unknown category id");
            continue;
        }
        if anns.iter().any(|a| !inside(a.xyxy(), image)) {
            report.skip("image: box outside the image");
            continue;
        }
        let mut rng = rng_for(options, source, image.id);
        let mut classes: BTreeMap<u64, Vec<&coco::Annotation>> = BTreeMap::new();
        for ann in anns {
            classes.entry(ann.category_id).or_default().push(ann);
        }
        let mut questions = Vec::new();
        questions.extend(count(&classes, &names, image, options, &mut rng, report));
        questions.extend(zero_count(&classes, file, options, &mut rng));
        questions.extend(relation(&classes, &names, image, options, &mut rng, report));
        if questions.is_empty() {
            continue;
        }
        let Some(img) = load(image, inputs, report) else { continue };
        for q in &questions {
            writer.add(q, &img, source, dataset, &image.file_name)?;
            *report.questions.entry(q.task.name()).or_default() += 1;
        }
    }
    Ok(())
}

fn shuffled_question(task: Task, question: String, mut choices: Vec<String>, answer: &str, rng: &mut ChaCha8Rng) -> Question {
    choices.shuffle(rng);
    let answer = choices.iter().position(|c| c == answer).unwrap_or_default();
    Question { task, question, choices, answer, boxes: Vec::new(), target_class: None }
}

fn count_question(class: &str, n: u32, rng: &mut ChaCha8Rng) -> Question {
    let choices = rules::count_window(n).iter().map(u32::to_string).collect();
    let mut q = shuffled_question(Task::Count, rules::count_question(class), choices, &n.to_string(), rng);
    q.target_class = Some(class.to_string());
    q
}

/// The countable class with the most instances (ties: the lowest id).
fn count(
    classes: &BTreeMap<u64, Vec<&coco::Annotation>>,
    names: &BTreeMap<u64, &str>,
    image: &coco::Image,
    options: &Options,
    rng: &mut ChaCha8Rng,
    report: &mut Report,
) -> Option<Question> {
    let mut best: Option<(u64, usize)> = None;
    for (id, anns) in classes {
        if anns.iter().any(|a| a.iscrowd != 0) {
            report.skip("count: class with a crowd annotation");
        } else if anns.iter().any(|a| !big_enough(a.xyxy(), image, options)) {
            report.skip("count: class with an instance too small");
        } else if best.is_none_or(|(_, n)| anns.len() > n) {
            best = Some((*id, anns.len()));
        }
    }
    let (id, n) = best?;
    Some(count_question(names[&id], n as u32, rng))
}

/// Now and then, a class of the file absent from the image (the first by id): count 0.
fn zero_count(
    classes: &BTreeMap<u64, Vec<&coco::Annotation>>,
    file: &CocoFile,
    options: &Options,
    rng: &mut ChaCha8Rng,
) -> Option<Question> {
    use rand::Rng;
    if !rng.random_bool(options.zero_count_rate.clamp(0.0, 1.0)) {
        return None;
    }
    let mut absent: Vec<&coco::Category> = file.categories.iter().filter(|c| !classes.contains_key(&c.id)).collect();
    absent.sort_by_key(|c| c.id);
    Some(count_question(&absent.first()?.name, 0, rng))
}

fn relation(
    classes: &BTreeMap<u64, Vec<&coco::Annotation>>,
    names: &BTreeMap<u64, &str>,
    image: &coco::Image,
    options: &Options,
    rng: &mut ChaCha8Rng,
    report: &mut Report,
) -> Option<Question> {
    let singles: Vec<(u64, [f64; 4])> = classes
        .iter()
        .filter(|(_, anns)| anns.len() == 1 && anns[0].iscrowd == 0 && big_enough(anns[0].xyxy(), image, options))
        .map(|(id, anns)| (*id, anns[0].xyxy()))
        .collect();
    if singles.len() < 2 {
        report.skip("relation: fewer than two classes present once");
        return None;
    }
    let area = |b: &[f64; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    for (i, a) in singles.iter().enumerate() {
        for b in &singles[i + 1..] {
            let (target, anchor) = if area(&a.1) >= area(&b.1) { (b, a) } else { (a, b) };
            let Some(answer) = rules::relation(target.1, anchor.1, image.width as f64, image.height as f64) else {
                continue;
            };
            let choices = rules::relation_pair(answer).map(str::to_string).to_vec();
            let text = rules::relation_question(names[&target.0], names[&anchor.0]);
            let mut q = shuffled_question(Task::Relation, text, choices, answer, rng);
            q.boxes = vec![target.1, anchor.1];
            return Some(q);
        }
    }
    report.skip("relation: no pair clearly apart");
    None
}

/// An object that may be asked about in a 3D question.
struct Object3d<'a> {
    name: &'a str,
    ann: &'a omni3d::Annotation,
    bbox: [f64; 4],
}

fn build_3d(
    file: &OmniFile,
    dataset: &str,
    inputs: &Inputs,
    options: &Options,
    writer: &mut Writer,
    report: &mut Report,
) -> Result<(), DataError> {
    let names: BTreeMap<u64, &str> = file.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    let by_image = file.by_image();
    for image in &file.images {
        let anns = by_image.get(&image.id).map(Vec::as_slice).unwrap_or_default();
        if !inputs.images.join(&image.file_name).is_file() {
            report.skip("image: file missing");
            continue;
        }
        if anns.iter().any(|a| !names.contains_key(&a.category_id)) {
            report.skip("image: annotation with an unknown category id");
            continue;
        }
        let mut per_class: BTreeMap<u64, usize> = BTreeMap::new();
        for ann in anns {
            *per_class.entry(ann.category_id).or_default() += 1;
        }
        let mut objects = Vec::new();
        for ann in anns.iter().filter(|a| per_class[&a.category_id] == 1) {
            match ann.box2d() {
                _ if !ann.valid3D || ann.behind_camera => report.skip("object: no valid 3D box in front of the camera"),
                None => report.skip("object: no 2D box"),
                Some(b) if !inside(b, image) => report.skip("object: box outside the image"),
                Some(b) if !big_enough(b, image, options) => report.skip("object: too small"),
                Some(bbox) => objects.push(Object3d { name: names[&ann.category_id], ann, bbox }),
            }
        }
        objects.sort_by_key(|o| o.ann.category_id);
        let mut rng = rng_for(options, "Omni3D", image.id);
        let questions: Vec<Question> =
            [depth(&objects, options, &mut rng, report), distance(&objects, options, &mut rng, report)]
                .into_iter()
                .flatten()
                .collect();
        if questions.is_empty() {
            continue;
        }
        let Some(img) = load(image, inputs, report) else { continue };
        for q in &questions {
            writer.add(q, &img, "Omni3D", dataset, &image.file_name)?;
            *report.questions.entry(q.task.name()).or_default() += 1;
        }
    }
    Ok(())
}

/// Mention order is drawn at random; the choices follow it.
fn two_way(near: &Object3d, far: &Object3d, rng: &mut ChaCha8Rng) -> (Vec<[f64; 4]>, Vec<String>, usize) {
    use rand::Rng;
    let (first, second, answer) = if rng.random_bool(0.5) { (near, far, 0) } else { (far, near, 1) };
    (vec![first.bbox, second.bbox], vec![first.name.to_string(), second.name.to_string()], answer)
}

fn depth(objects: &[Object3d], options: &Options, rng: &mut ChaCha8Rng, report: &mut Report) -> Option<Question> {
    if objects.len() < 2 {
        report.skip("depth: fewer than two usable classes present once");
        return None;
    }
    let camera = [0.0; 3];
    for (i, a) in objects.iter().enumerate() {
        for b in &objects[i + 1..] {
            let Some(order) = rules::nearer(a.ann.corner_range(camera), b.ann.corner_range(camera), options.margin_m) else {
                continue;
            };
            let (near, far) = if order.is_lt() { (a, b) } else { (b, a) };
            let (boxes, choices, answer) = two_way(near, far, rng);
            let question = rules::depth_question(&choices[0], &choices[1]);
            return Some(Question { task: Task::Depth, question, choices, answer, boxes, target_class: None });
        }
    }
    report.skip("depth: no pair apart by the margin");
    None
}

fn distance(objects: &[Object3d], options: &Options, rng: &mut ChaCha8Rng, report: &mut Report) -> Option<Question> {
    if objects.len() < 3 {
        report.skip("distance: fewer than three usable classes present once");
        return None;
    }
    for anchor in objects {
        let others: Vec<&Object3d> = objects.iter().filter(|o| !std::ptr::eq(*o, anchor)).collect();
        for (i, a) in others.iter().enumerate() {
            for b in &others[i + 1..] {
                let centre = anchor.ann.center_cam;
                let Some(order) = rules::nearer(a.ann.corner_range(centre), b.ann.corner_range(centre), options.margin_m) else {
                    continue;
                };
                let (near, far) = if order.is_lt() { (*a, *b) } else { (*b, *a) };
                let (mut boxes, choices, answer) = two_way(near, far, rng);
                boxes.insert(0, anchor.bbox);
                let question = rules::distance_question(anchor.name, &choices[0], &choices[1]);
                return Some(Question { task: Task::Distance, question, choices, answer, boxes, target_class: None });
            }
        }
    }
    report.skip("distance: no triple apart by the margin");
    None
}
