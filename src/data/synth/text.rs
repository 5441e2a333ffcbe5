//! Training text from the same scene graphs: a caption for stage 1 (adapter pre-training) and
//! an instruction conversation for stage 2, in LLaVA's JSON format
//! (`{"id", "image", "conversations": [{"from": "human", "value": "<image>\n…"}, {"from": "gpt", …}]}`).

use serde::Serialize;

use super::scene::{CAMERA, Scene};
use crate::data::benchmark::{LETTER_SUFFIX, letter};
use crate::data::cvbench::schema::Question;
use crate::data::draw::BOX_COLOURS;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turn {
    pub from: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: String,
    pub image: String,
    pub conversations: Vec<Turn>,
}

const CAPTION_REQUEST: &str = "<image>\nGive a short description of the image.";

/// Objects front to back with where they stand, then what the boxes mark (the first `boxed`
/// objects carry the boxes, in colour order).
pub fn caption(scene: &Scene, boxed: usize, size: u32) -> String {
    let mut order: Vec<usize> = (0..scene.objects.len()).collect();
    order.sort_by(|a, b| scene.objects[*a].z.total_cmp(&scene.objects[*b].z));
    let parts: Vec<String> = order
        .iter()
        .map(|&i| {
            let o = &scene.objects[i];
            let (x, _) = CAMERA.project(CAMERA.to_camera(o.centre()), size);
            let side = match x / size as f64 {
                v if v < 1.0 / 3.0 => "on the left",
                v if v > 2.0 / 3.0 => "on the right",
                _ => "in the middle",
            };
            let depth = match o.z {
                z if z < 5.3 => "in front",
                z if z > 7.7 => "at the back",
                _ => "halfway back",
            };
            format!("a {} {side} {depth}", o.look.describe())
        })
        .collect();
    let n = parts.len();
    let list = match n {
        1 => parts[0].clone(),
        _ => format!("{} and {}", parts[..n - 1].join(", "), parts[n - 1]),
    };
    let noun = if n == 1 { "object" } else { "objects" };
    let mut text = format!("{n} {noun} on a checkered floor: {list}.");
    for (i, (colour, _)) in BOX_COLOURS.iter().enumerate().take(boxed) {
        text.push_str(&format!(" A {colour} box marks the {}.", scene.objects[i].look.describe()));
    }
    text
}

pub fn pretrain(id: &str, image: &str, caption: &str) -> Conversation {
    exchange(id, image, CAPTION_REQUEST, caption)
}

/// One request about the image and its reply.
pub fn exchange(id: &str, image: &str, request: &str, reply: &str) -> Conversation {
    Conversation {
        id: id.to_string(),
        image: image.to_string(),
        conversations: vec![Turn { from: "human", value: request.to_string() }, Turn { from: "gpt", value: reply.to_string() }],
    }
}

/// The benchmark-style question answered with its letter, then the number of objects.
pub fn instruct(id: &str, image: &str, question: &Question, scene: &Scene) -> Conversation {
    let n = scene.objects.len();
    Conversation {
        id: id.to_string(),
        image: image.to_string(),
        conversations: vec![
            Turn { from: "human", value: format!("<image>\n{}\n{LETTER_SUFFIX}", question.prompt()) },
            Turn { from: "gpt", value: letter(question.answer).to_string() },
            Turn { from: "human", value: "How many objects are there in the image?".to_string() },
            Turn {
                from: "gpt",
                value: format!("There {} {n} {}.", if n == 1 { "is" } else { "are" }, if n == 1 { "object" } else { "objects" }),
            },
        ],
    }
}
