//! The four CV-Bench tasks on synthetic scenes, generated answer first so that nothing in the
//! text predicts the answer: the answer (count, relation, which object is nearer) and the
//! wording (shapes, colours, sizes named) are drawn independently, then object positions are
//! redrawn until the rendered scene satisfies the answer under the same rules the CV-Bench
//! builder uses. Count choices are five consecutive counts whose lowest value is drawn apart
//! from the answer's place among them, so the choices do not give the count away.

use rand::Rng;
use rand::seq::SliceRandom;

use super::render::{Rendered, render};
use super::scene::{Look, Scene, Shape};
use crate::data::cvbench::rules;
use crate::data::cvbench::schema::{Question, Task};

/// Depth and distance margin, metres.
const MARGIN_M: f64 = 0.3;
/// Position redraws before the looks are drawn again.
const ATTEMPTS: usize = 400;

pub struct Posed {
    pub scene: Scene,
    pub rendered: Rendered,
    pub question: Question,
}

/// Every object must show at least this many pixels: 0.25% of the image, at least 8.
fn min_visible_px(size: u32) -> usize {
    ((size * size) as f64 * 0.0025).ceil().max(8.0) as usize
}

/// The answer is drawn once; looks and positions are redrawn until a scene fits it.
pub fn generate(task: Task, size: u32, rng: &mut impl Rng) -> Posed {
    match task {
        Task::Count => {
            let shape = Shape::ALL[rng.random_range(0..Shape::ALL.len())];
            let lo: u32 = rng.random_range(0..=2);
            let n = lo + rng.random_range(0..5);
            retry(rng, |rng| count(shape, lo, n, size, rng))
        }
        Task::Relation => {
            let wanted = ["left", "right", "above", "below"][rng.random_range(0..4)];
            retry(rng, |rng| relation(wanted, size, rng))
        }
        Task::Depth => {
            let answer = rng.random_range(0..2);
            retry(rng, |rng| depth(answer, size, rng))
        }
        Task::Distance => {
            let answer = rng.random_range(0..2);
            retry(rng, |rng| distance(answer, size, rng))
        }
    }
}

pub(super) fn retry<R: Rng, T>(rng: &mut R, mut attempt: impl FnMut(&mut R) -> Option<T>) -> T {
    loop {
        if let Some(done) = attempt(rng) {
            return done;
        }
    }
}

/// `k` looks, pairwise distinct, then `extra` distractors distinct from all of those.
fn named_looks(k: usize, extra: usize, rng: &mut impl Rng) -> Vec<Look> {
    let mut looks: Vec<Look> = Vec::new();
    while looks.len() < k {
        let look = Look::random(rng);
        if !looks.contains(&look) {
            looks.push(look);
        }
    }
    while looks.len() < k + extra {
        let look = Look::random(rng);
        if !looks[..k].contains(&look) {
            looks.push(look);
        }
    }
    looks
}

/// Redraws positions until `accept` holds on the scene and its rendering, with every object
/// visible enough. `precheck` rejects on geometry alone, before rendering.
pub(super) fn pose(
    looks: &[Look],
    size: u32,
    rng: &mut impl Rng,
    precheck: impl Fn(&Scene) -> bool,
    accept: impl Fn(&Scene, &Rendered) -> bool,
) -> Option<(Scene, Rendered)> {
    let min_px = min_visible_px(size);
    for _ in 0..ATTEMPTS {
        let Some(scene) = Scene::place(looks, rng) else { continue };
        if !precheck(&scene) {
            continue;
        }
        let rendered = render(&scene, size);
        if rendered.visible.iter().all(|(n, _)| *n >= min_px) && accept(&scene, &rendered) {
            return Some((scene, rendered));
        }
    }
    None
}

fn question(task: Task, question: String, choices: Vec<String>, answer: usize, boxes: Vec<[f64; 4]>) -> Question {
    Question { task, question, choices, answer, boxes, target_class: None }
}

/// `n` objects of `shape` among other shapes; choices `lo..lo + 5`.
fn count(shape: Shape, lo: u32, n: u32, size: u32, rng: &mut impl Rng) -> Option<Posed> {
    let mut looks: Vec<Look> = (0..n).map(|_| Look { shape, ..Look::random(rng) }).collect();
    let distractors = rng.random_range(1..=3);
    while looks.len() < (n + distractors) as usize {
        let look = Look::random(rng);
        if look.shape != shape {
            looks.push(look);
        }
    }
    let (scene, rendered) = pose(&looks, size, rng, |_| true, |_, _| true)?;
    let mut choices: Vec<u32> = (lo..lo + 5).collect();
    choices.shuffle(rng);
    let answer = choices.iter().position(|c| *c == n)?;
    let mut q = question(
        Task::Count,
        rules::count_question(shape.name()),
        choices.iter().map(u32::to_string).collect(),
        answer,
        Vec::new(),
    );
    q.target_class = Some(shape.name().to_string());
    Some(Posed { scene, rendered, question: q })
}

/// Object 0 (red box) relative to object 1 (blue box, the anchor).
fn relation(wanted: &str, size: u32, rng: &mut impl Rng) -> Option<Posed> {
    let looks = named_looks(2, rng.random_range(0..=2), rng);
    let s = size as f64;
    let decided = |boxes: [[f64; 4]; 2]| rules::relation(boxes[0], boxes[1], s, s);
    let (scene, rendered) = pose(
        &looks,
        size,
        rng,
        |scene| decided([0, 1].map(|i| projected_box(scene, i, size))) == Some(wanted),
        |_, r| decided([r.visible[0].1, r.visible[1].1]) == Some(wanted),
    )?;
    let mut choices = rules::relation_pair(wanted).map(str::to_string).to_vec();
    choices.shuffle(rng);
    let answer = choices.iter().position(|c| c == wanted)?;
    let text = rules::relation_question(&looks[0].describe(), &looks[1].describe());
    let boxes = vec![rendered.visible[0].1, rendered.visible[1].1];
    Some(Posed { scene, rendered, question: question(Task::Relation, text, choices, answer, boxes) })
}

/// Objects 0 (red) and 1 (blue); `answer` is the nearer one.
fn depth(answer: usize, size: u32, rng: &mut impl Rng) -> Option<Posed> {
    let looks = named_looks(2, rng.random_range(0..=2), rng);
    let camera = [0.0; 3];
    let decided = |scene: &Scene| rules::nearer(scene.corner_range(0, camera), scene.corner_range(1, camera), MARGIN_M);
    let wanted = if answer == 0 { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater };
    let (scene, rendered) = pose(&looks, size, rng, |scene| decided(scene) == Some(wanted), |_, _| true)?;
    let choices = vec![looks[0].describe(), looks[1].describe()];
    let text = rules::depth_question(&choices[0], &choices[1]);
    let boxes = vec![rendered.visible[0].1, rendered.visible[1].1];
    Some(Posed { scene, rendered, question: question(Task::Depth, text, choices, answer, boxes) })
}

/// Anchor 0 (red), objects 1 (blue) and 2 (green); `answer` (0 or 1) is the one nearer the
/// anchor.
fn distance(answer: usize, size: u32, rng: &mut impl Rng) -> Option<Posed> {
    let looks = named_looks(3, rng.random_range(0..=1), rng);
    let decided = |scene: &Scene| {
        let (_, centre) = scene.camera_box(0);
        rules::nearer(scene.corner_range(1, centre), scene.corner_range(2, centre), MARGIN_M)
    };
    let wanted = if answer == 0 { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater };
    let (scene, rendered) = pose(&looks, size, rng, |scene| decided(scene) == Some(wanted), |_, _| true)?;
    let choices = vec![looks[1].describe(), looks[2].describe()];
    let text = rules::distance_question(&looks[0].describe(), &choices[0], &choices[1]);
    let boxes = (0..3).map(|i| rendered.visible[i].1).collect();
    Some(Posed { scene, rendered, question: question(Task::Distance, text, choices, answer, boxes) })
}

/// The box of object `i`'s projected 3D-box corners: a cheap stand-in for its visible box.
fn projected_box(scene: &Scene, i: usize, size: u32) -> [f64; 4] {
    let (corners, _) = scene.camera_box(i);
    corners.iter().fold([f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY], |b, c| {
        let (x, y) = super::scene::CAMERA.project(*c, size);
        [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)]
    })
}
