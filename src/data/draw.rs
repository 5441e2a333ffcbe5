//! Box prompts as CV-Bench draws them (outlines in red, blue and green on a copy of the
//! image), and text drawn into an image with the bundled font (the synthetic signs and charts).

use ab_glyph::{Font, ScaleFont, point};
use image::{Rgb, RgbImage};

use crate::plot::png::caret_positions;
use crate::plot::style::font;

/// The prompt colours in the order questions name them.
pub const BOX_COLOURS: [(&str, Rgb<u8>); 3] =
    [("red", Rgb([255, 0, 0])), ("blue", Rgb([0, 0, 255])), ("green", Rgb([0, 255, 0]))];

/// Outline thickness in pixels for an image: 1 px per 100 px of the shorter side, at least 1.
pub fn thickness(img: &RgbImage) -> u32 {
    (img.width().min(img.height()) / 100).max(1)
}

/// Draws the outline of `[x0, y0, x1, y1]` (pixels, x1/y1 exclusive edges) just outside the
/// box, so the object inside stays whole, clipped to the image.
pub fn draw_box(img: &mut RgbImage, bbox: [f64; 4], colour: Rgb<u8>, thickness: u32) {
    let t = thickness as i64;
    let (x0, y0) = (bbox[0].floor() as i64, bbox[1].floor() as i64);
    let (x1, y1) = (bbox[2].ceil() as i64, bbox[3].ceil() as i64);
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in (y0 - t).max(0)..(y1 + t).min(h) {
        for x in (x0 - t).max(0)..(x1 + t).min(w) {
            let inside = (x0..x1).contains(&x) && (y0..y1).contains(&y);
            if !inside {
                img.put_pixel(x as u32, y as u32, colour);
            }
        }
    }
}

/// Width in pixels of `text` in the bundled regular font at `px` pixels per em.
pub fn text_width(text: &str, px: f32) -> f32 {
    let scaled = font(false).as_scaled(px);
    caret_positions(&scaled, text).last().map_or(0.0, |&(x, id)| x + scaled.h_advance(id))
}

/// Draws `text` in the bundled regular font at `px` pixels per em, its box (caret start to end,
/// ascent to descent) centred on `centre`, blending `colour` by each pixel's coverage; clipped
/// to the image.
pub fn draw_text(img: &mut RgbImage, text: &str, centre: (f32, f32), px: f32, colour: Rgb<u8>) {
    let font = font(false);
    let scaled = font.as_scaled(px);
    let left = centre.0 - text_width(text, px) / 2.0;
    let baseline = centre.1 + (scaled.ascent() + scaled.descent()) / 2.0;
    for (x, id) in caret_positions(&scaled, text) {
        let Some(outline) = font.outline_glyph(id.with_scale_and_position(scaled.scale(), point(left + x, baseline))) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (x, y) = (bounds.min.x as i64 + gx as i64, bounds.min.y as i64 + gy as i64);
            if (0..img.width() as i64).contains(&x) && (0..img.height() as i64).contains(&y) {
                let pixel = img.get_pixel_mut(x as u32, y as u32);
                let c = coverage.clamp(0.0, 1.0);
                for (p, ink) in pixel.0.iter_mut().zip(colour.0) {
                    *p = (*p as f32 * (1.0 - c) + ink as f32 * c).round() as u8;
                }
            }
        });
    }
}
