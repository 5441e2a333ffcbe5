//! ChartQA on the synthetic world: a bar chart of three or four lettered bars with their
//! values printed above them, "What is the value of bar C?", a number from 10 to 99.

use image::{Rgb, RgbImage};
use rand::Rng;

use super::{OpenItem, OpenQuestion};
use crate::data::draw::draw_text;

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const AXIS: Rgb<u8> = Rgb([40, 40, 40]);
/// Bar fills, one per bar.
const BARS: [Rgb<u8>; 4] = [Rgb([70, 110, 190]), Rgb([220, 120, 40]), Rgb([80, 160, 80]), Rgb([170, 70, 150])];
const LABELS: [&str; 4] = ["A", "B", "C", "D"];
/// The value axis runs from 0 to this.
const TOP: f32 = 100.0;

pub fn chart(size: u32, rng: &mut impl Rng) -> OpenItem {
    let bars = rng.random_range(3..=4);
    let values: Vec<u32> = (0..bars).map(|_| rng.random_range(10..=99)).collect();
    let asked = rng.random_range(0..bars);
    let question = OpenQuestion {
        question: format!("What is the value of bar {}?", LABELS[asked]),
        answers: vec![values[asked].to_string()],
    };
    OpenItem { image: draw_chart(size, &values), questions: vec![question] }
}

/// Bars between a left axis and a base line, a label under each and its value above it.
fn draw_chart(size: u32, values: &[u32]) -> RgbImage {
    let mut image = RgbImage::from_pixel(size, size, BACKGROUND);
    let side = size as f32;
    let px = (side * 0.16).max(8.0);
    let (left, base, top) = (side * 0.08, side - px * 1.2, px * 1.3);
    let slot = (side - left - side * 0.04) / values.len() as f32;
    let thickness = (side / 64.0).ceil().max(1.0) as u32;
    fill(&mut image, (left - thickness as f32, top), (left, base), AXIS);
    fill(&mut image, (left, base), (side, base + thickness as f32), AXIS);
    for (i, &value) in values.iter().enumerate() {
        let x0 = left + slot * (i as f32 + 0.2);
        let x1 = left + slot * (i as f32 + 0.8);
        let y = base - (base - top) * value as f32 / TOP;
        fill(&mut image, (x0, y), (x1, base), BARS[i]);
        let centre = (x0 + x1) / 2.0;
        draw_text(&mut image, &value.to_string(), (centre, y - px * 0.55), px, AXIS);
        draw_text(&mut image, LABELS[i], (centre, base + px * 0.6), px, AXIS);
    }
    image
}

/// Fills the pixels of `[from, to)`, clipped to the image.
fn fill(image: &mut RgbImage, from: (f32, f32), to: (f32, f32), colour: Rgb<u8>) {
    let clip = |v: f32, limit: u32| (v.max(0.0) as u32).min(limit);
    for y in clip(from.1, image.height())..clip(to.1, image.height()) {
        for x in clip(from.0, image.width())..clip(to.0, image.width()) {
            image.put_pixel(x, y, colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A taller value draws a taller bar.
    #[test]
    fn bar_heights_follow_the_values() {
        let image = draw_chart(128, &[20, 80, 50]);
        let height = |colour: Rgb<u8>| (0..128).filter(|&y| (0..128).any(|x| *image.get_pixel(x, y) == colour)).count();
        let (a, b, c) = (height(BARS[0]), height(BARS[1]), height(BARS[2]));
        assert!(a < c && c < b, "heights {a} {b} {c}");
        assert!((b as f32 / a as f32 - 4.0).abs() < 0.5, "heights in proportion: {a} {b}");
    }
}
