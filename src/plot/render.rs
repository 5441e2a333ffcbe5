//! One figure, drawn twice from the same code: into a pixel buffer saved as PNG and into an
//! SVG string, both written atomically.

use std::path::{Path, PathBuf};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, DrawingAreaErrorKind, DrawingBackend, IntoDrawingArea, SVGBackend};

use super::PlotError;
use super::layout::titled;
use super::png::PngBackend;
use super::style::{BACKGROUND, fonts_ready};

pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

pub trait Figure {
    /// File stem of the PNG and SVG.
    const NAME: &'static str;
    const TITLE: &'static str;
    /// What is plotted and how, drawn under the title and repeated in the report.
    fn caption(&self) -> &str;
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the figure below its title.
    fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// Writes `<dir>/<NAME>.png` and `<dir>/<NAME>.svg`; returns the PNG's path.
pub fn render<F: Figure>(figure: &F, dir: &Path) -> Result<PathBuf, PlotError> {
    if !fonts_ready() {
        return Err(PlotError::Font);
    }
    let (width, height) = figure.size();
    let failed = |message: String| PlotError::Draw { figure: F::NAME, message };

    // [height, width, 3] RGB
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = PngBackend(BitMapBackend::with_buffer(&mut pixels, (width, height))).into_drawing_area();
        draw_on(figure, &root).map_err(|err| failed(err.to_string()))?;
    }
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Best, FilterType::Adaptive)
        .write_image(&pixels, width, height, ExtendedColorType::Rgb8)
        .map_err(|err| failed(err.to_string()))?;
    let png_path = dir.join(format!("{}.png", F::NAME));
    write(&png_path, &png)?;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw_on(figure, &root).map_err(|err| failed(err.to_string()))?;
    }
    write(&dir.join(format!("{}.svg", F::NAME)), svg.as_bytes())?;
    Ok(png_path)
}

fn draw_on<F: Figure, DB: DrawingBackend>(figure: &F, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    root.fill(&BACKGROUND)?;
    figure.draw(&titled(root, F::TITLE, figure.caption())?)?;
    root.present()
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::atomic::write(path, bytes).map_err(|source| PlotError::Write { path: path.to_path_buf(), source })
}
