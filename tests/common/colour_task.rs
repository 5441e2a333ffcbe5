//! The tests' visual question task: a coloured square at a random place on a noisy grey
//! background, as LLaVA caption and question records for training and a multiple-choice JSONL
//! benchmark. The question names the square's colour (four choices) or the half of the image
//! it is in (two); answers are balanced and in a fixed order, so text alone gives chance.

use std::path::Path;

use cambrian::data::benchmark::{LETTER_SUFFIX, letter};
use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

pub const COLOURS: [(&str, [u8; 3]); 4] =
    [("red", [220, 40, 40]), ("green", [40, 190, 60]), ("blue", [40, 70, 220]), ("yellow", [230, 210, 40])];
const QUESTION: &str = "What colour is the square?";

/// What the questions ask about the square.
#[derive(Clone, Copy, PartialEq)]
pub enum Ask {
    /// Its colour, one of four.
    Colour,
    /// Which half of the image it is in: left or right.
    Half,
}

impl Ask {
    pub fn question(self) -> &'static str {
        match self {
            Ask::Colour => QUESTION,
            Ask::Half => "Where is the square?",
        }
    }

    /// Benchmark items: for the two-way question, enough that a learnt margin is significant.
    pub fn test_items(self) -> usize {
        match self {
            Ask::Colour => 40,
            Ask::Half => 100,
        }
    }

    pub fn choices(self) -> Vec<&'static str> {
        match self {
            Ask::Colour => COLOURS.iter().map(|c| c.0).collect(),
            Ask::Half => vec!["left", "right"],
        }
    }
}

pub fn lettered(ask: Ask) -> String {
    let choices: Vec<String> = ask.choices().iter().enumerate().map(|(i, c)| format!("({}) {c}", letter(i))).collect();
    format!("{} Select from the following choices.\n{}", ask.question(), choices.join("\n"))
}

/// A 32×32 grey noisy image with a square of colour `colour` somewhere, or wholly in the
/// left (0) or right (1) half when `half` is given.
fn picture(colour: usize, half: Option<u32>, rng: &mut ChaCha8Rng) -> RgbImage {
    let mut img = RgbImage::from_fn(32, 32, |_, _| {
        let v = rng.random_range(100..156);
        Rgb([v, v, v])
    });
    let side = rng.random_range(10..16);
    let x0 = match half {
        Some(h) => 16 * h + rng.random_range(0..=16 - side),
        None => rng.random_range(0..32 - side),
    };
    let y0 = rng.random_range(0..32 - side);
    for y in y0..y0 + side {
        for x in x0..x0 + side {
            img.put_pixel(x, y, Rgb(COLOURS[colour].1));
        }
    }
    img
}

/// Writes `images/`, `captions.json` and `questions.json` (LLaVA format, `train` records each)
/// and `bench.jsonl` (`test` items) into `dir`; answers are balanced.
pub fn write_task(dir: &Path, ask: Ask, train: usize, test: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let (mut captions, mut questions, mut bench) = (Vec::new(), Vec::new(), String::new());
    let choices = ask.choices();
    for i in 0..train + test {
        let answer = i % choices.len();
        let (colour, half) = match ask {
            Ask::Colour => (answer, None),
            Ask::Half => (0, Some(answer as u32)),
        };
        let name = format!("images/{i:04}.png");
        picture(colour, half, &mut rng).save(dir.join(&name)).unwrap();
        let answer_letter = letter(answer);
        if i < train {
            let where_ = half.map_or("", |h| [" on the left", " on the right"][h as usize]);
            captions.push(json!({"id": i, "image": name, "conversations": [
                {"from": "human", "value": "<image>\nDescribe the image."},
                {"from": "gpt", "value": format!("A {} square{where_} on a grey background.", COLOURS[colour].0)}]}));
            questions.push(json!({"id": i, "image": name, "conversations": [
                {"from": "human", "value": format!("<image>\n{}\n{LETTER_SUFFIX}", lettered(ask))},
                {"from": "gpt", "value": answer_letter.to_string()}]}));
        } else {
            let task = if ask == Ask::Colour { "Colour" } else { "Half" };
            let item = json!({"id": i, "image": name, "question": ask.question(), "choices": choices, "answer": format!("({answer_letter})"), "task": task, "source": "test"});
            bench.push_str(&format!("{item}\n"));
        }
    }
    std::fs::write(dir.join("captions.json"), serde_json::to_vec(&captions).unwrap()).unwrap();
    std::fs::write(dir.join("questions.json"), serde_json::to_vec(&questions).unwrap()).unwrap();
    std::fs::write(dir.join("bench.jsonl"), bench).unwrap();
}
