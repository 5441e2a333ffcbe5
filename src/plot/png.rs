//! The PNG backend: plotters' bitmap backend with text drawn here. Plotters' own glyph
//! placement ignores each glyph's left bearing (letters drift apart, "dino v2"); this places
//! every glyph at its outline's bounds, on one baseline, with kerning, and rotates whole
//! labels the way plotters' transforms do. Everything else is the bitmap backend's.

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::prelude::{BitMapBackend, DrawingBackend};
use plotters::style::FontStyle;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind};

use super::style::font;

pub struct PngBackend<'a>(pub BitMapBackend<'a>);

type Failure = DrawingErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

impl DrawingBackend for PngBackend<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Failure> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Failure> {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, colour: BackendColor) -> Result<(), Failure> {
        self.0.draw_pixel(point, colour)
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Result<(), Failure> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Result<(), Failure> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(&mut self, centre: BackendCoord, radius: u32, style: &S, fill: bool) -> Result<(), Failure> {
        self.0.draw_circle(centre, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> Result<(), Failure> {
        self.0.fill_polygon(vertices, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Result<(), Failure> {
        self.0.blit_bitmap(pos, size, src)
    }

    /// `pos` is the anchor: the text box (ascent to descent, caret start to end) is aligned to
    /// it as the style's anchor says, then rotated about it.
    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Result<(), Failure> {
        let colour = style.color();
        let font: &FontRef = font(matches!(style.style(), FontStyle::Bold));
        let scaled = font.as_scaled(style.size() as f32);
        let width: f32 = caret_positions(&scaled, text).last().map_or(0.0, |&(x, id)| x + scaled.h_advance(id));
        let anchor = style.anchor();
        let left = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let baseline = match anchor.v_pos {
            VPos::Top => scaled.ascent(),
            VPos::Center => (scaled.ascent() + scaled.descent()) / 2.0,
            VPos::Bottom => scaled.descent(),
        };
        let transform = style.transform();
        for (x, id) in caret_positions(&scaled, text) {
            let glyph = id.with_scale_and_position(scaled.scale(), point(left + x, baseline));
            let Some(outline) = font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            let mut coverage = Vec::new();
            outline.draw(|gx, gy, c| coverage.push((bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32, c)));
            for (gx, gy, c) in coverage {
                let (tx, ty) = transform.transform(gx, gy);
                let ink = BackendColor { alpha: colour.alpha * f64::from(c.min(1.0)), rgb: colour.rgb };
                self.0.draw_pixel((pos.0 + tx, pos.1 + ty), ink)?;
            }
        }
        Ok(())
    }
}

/// Each character's caret position (advances and kerning so far) and glyph.
pub(crate) fn caret_positions<F: Font>(scaled: &ab_glyph::PxScaleFont<F>, text: &str) -> Vec<(f32, ab_glyph::GlyphId)> {
    let mut caret = 0.0;
    let mut previous = None;
    text.chars()
        .map(|c| {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            let placed = (caret, id);
            caret += scaled.h_advance(id);
            previous = Some(id);
            placed
        })
        .collect()
}
