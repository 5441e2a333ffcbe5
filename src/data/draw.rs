//! Box prompts as CV-Bench draws them: outlines in red, blue and green on a copy of the image.

use image::{Rgb, RgbImage};

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
