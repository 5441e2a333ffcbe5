//! Questions about the rendered scenes: MME-style existence pairs, and colour and count
//! questions with ten annotator answers as VQAv2 keeps them.

use rand::Rng;
use rand::seq::SliceRandom;

use super::{OpenItem, OpenQuestion};
use crate::data::synth::scene::{COLOURS, Look, SIZES, Shape};
use crate::data::synth::tasks::{pose, retry};

/// Annotators per question, as in VQAv2 and TextVQA.
const ANNOTATORS: usize = 10;
/// Annotators who give the canonical answer whatever the draw: with four of ten, every
/// leave-one-out nine holds three of it, so the canonical answer scores 1 under VQA accuracy.
const AGREEING: usize = 4;
/// The chance that each other annotator gives the canonical answer rather than a variant.
const AGREEMENT: f64 = 0.8;

/// How annotators also name each colour of `COLOURS`: a different word, or the same word in
/// another case or with a full stop (which the VQA answer processor folds together).
const COLOUR_VARIANTS: [[&str; 3]; 7] = [
    ["gold", "Yellow", "yellow."],
    ["violet", "Purple", "magenta"],
    ["light blue", "turquoise", "Cyan"],
    ["Orange", "dark yellow", "orange."],
    ["Brown", "tan", "dark orange"],
    ["light pink", "Pink", "magenta"],
    ["grey", "White", "light grey"],
];

const NUMBER_WORDS: [&str; 6] = ["zero", "one", "two", "three", "four", "five"];

/// One image asked twice: is there a `present` look (yes), is there an `absent` one (no). Both
/// looks are drawn alike, so the wording does not tell which is in the scene.
pub fn existence(size: u32, rng: &mut impl Rng) -> OpenItem {
    let present = Look::random(rng);
    let absent = loop {
        let look = Look::random(rng);
        if look != present {
            break look;
        }
    };
    let (_, rendered) = retry(rng, |rng| {
        let mut looks = vec![present];
        for _ in 0..rng.random_range(0..=3) {
            looks.push(loop {
                let look = Look::random(rng);
                if look != absent {
                    break look;
                }
            });
        }
        pose(&looks, size, rng, |_| true, |_, _| true)
    });
    let ask = |look: Look, answer: &str| OpenQuestion {
        question: format!("Is there a {} in the image? Please answer yes or no.", look.describe()),
        answers: vec![answer.to_string()],
    };
    OpenItem { image: rendered.rgb, questions: vec![ask(present, "Yes"), ask(absent, "No")] }
}

/// "What colour is the large cube?": the one object of its size and shape among 1–3 others.
pub fn colour(size: u32, rng: &mut impl Rng) -> OpenItem {
    let target = Look::random(rng);
    let (_, rendered) = retry(rng, |rng| {
        let mut looks = vec![target];
        for _ in 0..rng.random_range(1..=3) {
            looks.push(loop {
                let look = Look::random(rng);
                if (look.shape, look.size) != (target.shape, target.size) {
                    break look;
                }
            });
        }
        pose(&looks, size, rng, |_| true, |_, _| true)
    });
    let question = format!("What colour is the {} {}?", SIZES[target.size].0, target.shape.name());
    let variants = COLOUR_VARIANTS[target.colour].map(str::to_string);
    OpenItem { image: rendered.rgb, questions: vec![annotated(question, COLOURS[target.colour].0, &variants, rng)] }
}

/// "How many cubes are there?": 1–4 of the shape among 1–3 objects of other shapes.
pub fn count(size: u32, rng: &mut impl Rng) -> OpenItem {
    let shape = Shape::ALL[rng.random_range(0..Shape::ALL.len())];
    let n = rng.random_range(1..=4usize);
    let (_, rendered) = retry(rng, |rng| {
        let mut looks: Vec<Look> = (0..n).map(|_| Look { shape, ..Look::random(rng) }).collect();
        let others = rng.random_range(1..=3);
        while looks.len() < n + others {
            let look = Look::random(rng);
            if look.shape != shape {
                looks.push(look);
            }
        }
        pose(&looks, size, rng, |_| true, |_, _| true)
    });
    let plural = format!("{}s", shape.name());
    let variants = [NUMBER_WORDS[n].to_string(), format!("{n} {plural}"), format!("{n}.")];
    OpenItem {
        image: rendered.rgb,
        questions: vec![annotated(format!("How many {plural} are there?"), &n.to_string(), &variants, rng)],
    }
}

/// Ten answers: the canonical one first, given by `AGREEING` annotators, then each other
/// annotator's, who agrees with probability `AGREEMENT` and else says one of `variants`; the
/// answers after the first are shuffled.
fn annotated(question: String, canonical: &str, variants: &[String], rng: &mut impl Rng) -> OpenQuestion {
    let mut answers = vec![canonical.to_string(); AGREEING];
    while answers.len() < ANNOTATORS {
        let answer = match rng.random_bool(AGREEMENT) {
            true => canonical.to_string(),
            false => variants[rng.random_range(0..variants.len())].clone(),
        };
        answers.push(answer);
    }
    answers[1..].shuffle(rng);
    OpenQuestion { question, answers }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn existence_asks_one_present_and_one_absent_look() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let item = existence(64, &mut rng);
        let answers: Vec<&str> = item.questions.iter().map(|q| q.answers[0].as_str()).collect();
        assert_eq!(answers, ["Yes", "No"]);
        assert!(item.questions.iter().all(|q| q.question.ends_with("Please answer yes or no.")));
        assert_ne!(item.questions[0].question, item.questions[1].question);
    }

    /// Scored by VQA accuracy, the canonical answer always gets 1: it is among every
    /// leave-one-out nine at least three times.
    #[test]
    fn the_canonical_answer_is_given_by_at_least_four_annotators() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let variants = ["x".to_string(), "y".to_string()];
        for _ in 0..20_000 {
            let q = annotated("Q?".to_string(), "c", &variants, &mut rng);
            assert!(q.answers.iter().filter(|a| *a == "c").count() >= AGREEING, "{:?}", q.answers);
        }
    }

    #[test]
    fn ten_annotators_mostly_agree() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..20 {
            let item = count(64, &mut rng);
            let q = &item.questions[0];
            assert_eq!(q.answers.len(), ANNOTATORS);
            assert!(q.answers.iter().filter(|a| *a == q.canonical()).count() >= AGREEING, "{:?}", q.answers);
            let n: usize = q.canonical().parse().unwrap();
            assert!((1..=4).contains(&n));
            assert!(q.question.starts_with("How many ") && q.question.ends_with("s are there?"), "{}", q.question);
        }
    }
}
