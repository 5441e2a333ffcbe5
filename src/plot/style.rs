//! The look shared by every figure: the bundled font, text sizes, and one colour per encoder
//! family (and per benchmark category) so that a family reads the same in every figure.

use std::sync::LazyLock;

use ab_glyph::FontRef;
use plotters::style::{FontStyle, IntoFont, RGBColor, TextStyle, register_font};

use crate::data::benchmark::Category;
use crate::encoders::Family;

/// DejaVu Sans, subset to Latin-1 (licence beside it): text looks the same on every machine
/// and needs no system fonts.
const REGULAR: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");
const BOLD: &[u8] = include_bytes!("font/DejaVuSans-Bold-subset.ttf");
const FAMILY_NAME: &str = "sans-serif";

/// The bundled fonts parsed (for the PNG backend's text) and registered with plotters (for
/// its text layout); false if they do not parse.
pub fn fonts_ready() -> bool {
    static READY: LazyLock<bool> = LazyLock::new(|| {
        PARSED.is_some()
            && register_font(FAMILY_NAME, FontStyle::Normal, REGULAR).is_ok()
            && register_font(FAMILY_NAME, FontStyle::Bold, BOLD).is_ok()
    });
    *READY
}

static PARSED: LazyLock<Option<[FontRef<'static>; 2]>> =
    LazyLock::new(|| Some([FontRef::try_from_slice(REGULAR).ok()?, FontRef::try_from_slice(BOLD).ok()?]));

/// The regular or bold face; call after [`fonts_ready`] said true.
pub fn font(bold: bool) -> &'static FontRef<'static> {
    let fonts = PARSED.as_ref().expect("fonts_ready checked that the bundled fonts parse");
    &fonts[usize::from(bold)]
}

/// Text sizes in pixels, chosen so that a 1600-pixel-wide figure stays legible when a paper
/// shrinks it to one column width.
pub const TICK_PX: f64 = 17.0;
pub const LABEL_PX: f64 = 19.0;
pub const PANEL_TITLE_PX: f64 = 22.0;
pub const TITLE_PX: f64 = 27.0;

pub const INK: RGBColor = RGBColor(30, 30, 30);
pub const MUTED: RGBColor = RGBColor(110, 110, 110);
pub const GRID: RGBColor = RGBColor(228, 228, 228);
pub const BACKGROUND: RGBColor = RGBColor(255, 255, 255);

pub fn text(px: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY_NAME, px).into_font()).color(&INK)
}

pub fn bold(px: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY_NAME, px, FontStyle::Bold).into_font()).color(&INK)
}

pub fn muted(px: f64) -> TextStyle<'static> {
    text(px).color(&MUTED)
}

/// Okabe–Ito colours (distinguishable with colour-blindness), one per family.
pub fn family_colour(family: Family) -> RGBColor {
    match family {
        Family::LanguageSupervised => RGBColor(0, 114, 178),
        Family::SelfSupervised => RGBColor(230, 159, 0),
        Family::ClassSupervised => RGBColor(0, 158, 115),
        Family::Depth => RGBColor(204, 121, 167),
        Family::Segmentation => RGBColor(213, 94, 0),
        Family::Diffusion => RGBColor(117, 112, 179),
    }
}

/// Encoder combinations, whatever their members.
pub const COMBINATION: RGBColor = RGBColor(70, 70, 70);

pub fn category_colour(category: Category) -> RGBColor {
    match category {
        Category::General => RGBColor(68, 119, 170),
        Category::Knowledge => RGBColor(204, 187, 68),
        Category::OcrChart => RGBColor(34, 136, 51),
        Category::VisionCentric => RGBColor(238, 102, 119),
    }
}

/// Every family in the study's order, for legends.
pub const FAMILIES: [Family; 6] = [
    Family::LanguageSupervised,
    Family::SelfSupervised,
    Family::ClassSupervised,
    Family::Depth,
    Family::Segmentation,
    Family::Diffusion,
];
