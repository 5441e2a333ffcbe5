//! The question rules and templates of CV-Bench (Cambrian-1 §2.2 and its appendix), shared by
//! the builder and the synthetic benchmark.

use std::cmp::Ordering;

/// Where the target box lies relative to the anchor box: along the axis of the larger centre
/// offset (each offset divided by the image side), and only when the target's centre lies
/// outside the anchor's extent on that axis; `None` when undecided.
pub fn relation(target: [f64; 4], anchor: [f64; 4], width: f64, height: f64) -> Option<&'static str> {
    let centre = |b: [f64; 4]| ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    let (tx, ty) = centre(target);
    let (ax, ay) = centre(anchor);
    if ((tx - ax) / width).abs() >= ((ty - ay) / height).abs() {
        if tx < anchor[0] {
            Some("left")
        } else if tx > anchor[2] {
            Some("right")
        } else {
            None
        }
    } else if ty < anchor[1] {
        Some("above")
    } else if ty > anchor[3] {
        Some("below")
    } else {
        None
    }
}

/// The two choices of a relation question: the decided one and its opposite on that axis.
pub fn relation_pair(relation: &str) -> [&'static str; 2] {
    match relation {
        "left" | "right" => ["left", "right"],
        _ => ["above", "below"],
    }
}

/// Which of two objects is nearer, given each one's (nearest, farthest) corner distance:
/// `Less` when `a` is nearer by at least `margin` (a's farthest corner + margin < b's nearest),
/// `Greater` the other way round, `None` when neither is.
pub fn nearer(a: (f64, f64), b: (f64, f64), margin: f64) -> Option<Ordering> {
    if a.1 + margin < b.0 {
        Some(Ordering::Less)
    } else if b.1 + margin < a.0 {
        Some(Ordering::Greater)
    } else {
        None
    }
}

/// Count choices clustered on the true count: five consecutive counts from `max(0, n - 2)`
/// (true 4 → 2, 3, 4, 5, 6; true 0 → 0 … 4).
pub fn count_window(n: u32) -> Vec<u32> {
    let lo = n.saturating_sub(2);
    (lo..lo + 5).collect()
}

pub fn count_question(class: &str) -> String {
    format!("How many {} are in the image?", plural(class))
}

pub fn relation_question(target: &str, anchor: &str) -> String {
    format!(
        "Considering the relative positions of the {target} (annotated by the red box) and the {anchor} \
         (annotated by the blue box) in the image provided, where is the {target} (annotated by the red box) \
         located with respect to the {anchor} (annotated by the blue box)?"
    )
}

pub fn depth_question(first: &str, second: &str) -> String {
    format!(
        "Which object is closer to the camera taking this photo, the {first} (highlighted by a red box) or \
         the {second} (highlighted by a blue box)?"
    )
}

pub fn distance_question(anchor: &str, first: &str, second: &str) -> String {
    format!(
        "Estimate the real-world distances between objects in this image. Which object is closer to the \
         {anchor} (highlighted by a red box), the {first} (highlighted by a blue box) or the {second} \
         (highlighted by a green box)?"
    )
}

/// English plural of a class name; the last word inflects ("traffic light" → "traffic lights").
pub fn plural(name: &str) -> String {
    let (head, last) = name.rsplit_once(' ').map_or(("", name), |(h, l)| (h, l));
    let irregular = [("person", "people"), ("mouse", "mice"), ("knife", "knives"), ("shelf", "shelves"), ("child", "children")];
    let word = if let Some((_, p)) = irregular.iter().find(|(s, _)| *s == last) {
        p.to_string()
    } else if ["sheep", "deer", "fish", "skis", "scissors", "glasses", "pants"].contains(&last) {
        last.to_string()
    } else if last.ends_with('s') || last.ends_with('x') || last.ends_with("ch") || last.ends_with("sh") {
        format!("{last}es")
    } else if last.ends_with('y') && !last.ends_with("ay") && !last.ends_with("ey") && !last.ends_with("oy") {
        format!("{}ies", &last[..last.len() - 1])
    } else {
        format!("{last}s")
    };
    if head.is_empty() { word } else { format!("{head} {word}") }
}
