//! OCRBench's "what is written" on the synthetic world: a scene with a sign standing in it, a
//! white panel with a dark frame and one word in capitals, the word drawn from a fixed list.

use image::{Rgb, RgbImage};
use rand::Rng;

use super::{OpenItem, OpenQuestion};
use crate::data::draw::{draw_text, text_width};
use crate::data::synth::scene::Look;
use crate::data::synth::tasks::{pose, retry};

/// The signs' words: short, common, all of capitals the bundled font draws.
const WORDS: [&str; 32] = [
    "STOP", "OPEN", "EXIT", "SALE", "CAFE", "BANK", "HOTEL", "PARK", "TAXI", "BUS", "ZOO", "INN", "GYM", "SHOP", "BAR", "FOOD",
    "BOOK", "TOYS", "MILK", "FISH", "TEA", "ART", "LAB", "DOCK", "GATE", "FARM", "POST", "MALL", "SPA", "PIER", "WEST", "EAST",
];

const PANEL: Rgb<u8> = Rgb([250, 250, 245]);
const INK: Rgb<u8> = Rgb([20, 20, 30]);

pub fn sign(size: u32, rng: &mut impl Rng) -> OpenItem {
    let word = WORDS[rng.random_range(0..WORDS.len())];
    let (_, rendered) = retry(rng, |rng| {
        let looks: Vec<Look> = (0..rng.random_range(1..=3)).map(|_| Look::random(rng)).collect();
        pose(&looks, size, rng, |_| true, |_, _| true)
    });
    let mut image = rendered.rgb;
    draw_sign(&mut image, word, rng);
    let question = OpenQuestion { question: "What is written on the sign?".to_string(), answers: vec![word.to_string()] };
    OpenItem { image, questions: vec![question] }
}

/// The panel at a random place that holds it whole: text a fifth of the image high.
fn draw_sign(image: &mut RgbImage, word: &str, rng: &mut impl Rng) {
    let side = image.width() as f32;
    let px = (side * 0.2).max(10.0);
    let (width, height) = (text_width(word, px) + px * 0.6, px * 1.2);
    let x0 = rng.random_range(1.0..(side - width - 1.0).max(1.5));
    let y0 = rng.random_range(1.0..(side - height - 1.0).max(1.5));
    let frame = (side / 64.0).ceil().max(1.0);
    for y in y0 as u32..((y0 + height) as u32).min(image.height()) {
        for x in x0 as u32..((x0 + width) as u32).min(image.width()) {
            let edge = (x as f32) < x0 + frame
                || (y as f32) < y0 + frame
                || (x as f32) >= x0 + width - frame - 1.0
                || (y as f32) >= y0 + height - frame - 1.0;
            image.put_pixel(x, y, if edge { INK } else { PANEL });
        }
    }
    draw_text(image, word, (x0 + width / 2.0, y0 + height / 2.0), px, INK);
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The word is drawn: dark pixels inside the white panel.
    #[test]
    fn the_word_is_printed_on_a_white_panel() {
        let mut image = RgbImage::from_pixel(64, 64, Rgb([120, 160, 200]));
        draw_sign(&mut image, "HOTEL", &mut ChaCha8Rng::seed_from_u64(0));
        let panel = image.pixels().filter(|p| **p == PANEL).count();
        let ink = image.pixels().filter(|p| p.0.iter().all(|&v| v < 90)).count();
        assert!(panel > 200, "panel pixels {panel}");
        assert!(ink > 60, "ink pixels {ink} (frame and letters)");
    }
}
