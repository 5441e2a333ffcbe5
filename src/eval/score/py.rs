//! The Python 3 string semantics Cambrian's scoring scripts rely on (CPython 3.11, Unicode
//! 14.0): `str.strip()`/`str.split()` whitespace, `float(str)`, and the decimal digits that
//! `float()` and the `re` pattern `\d` accept. `str.lower()`/`upper()` are Rust's
//! `to_lowercase`/`to_uppercase`, the same full Unicode mappings (final sigma included); they
//! differ from CPython 3.11's on 110 code points only, the case pairs Unicode 15–16 added.

/// `str.isspace()`: Rust's `White_Space` plus the separators U+001C–U+001F.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.strip()`.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// `str.split()`: runs of whitespace separate, no empty words.
pub fn split(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_space).filter(|word| !word.is_empty())
}

/// The first code point of each run of ten Unicode decimal digits (category Nd), 0 to 9.
const DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040,
    0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0,
    0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
    0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a Unicode decimal digit (`unicodedata.decimal`), what `\d` matches.
pub fn decimal(c: char) -> Option<u32> {
    let code = c as u32;
    let zero = DIGIT_ZEROS.partition_point(|&z| z <= code).checked_sub(1).map(|i| DIGIT_ZEROS[i])?;
    (code - zero < 10).then_some(code - zero)
}

/// `float(text)`, `None` where Python raises `ValueError`. Python first maps non-ASCII
/// whitespace to a space and non-ASCII decimal digits to ASCII ones, strips ASCII
/// whitespace, and allows one `_` between two digits; the remaining grammar (sign,
/// `inf`/`infinity`/`nan` in any case, digits with an optional point and exponent) is Rust's.
pub fn float(text: &str) -> Option<f64> {
    let ascii: String = text
        .chars()
        .map(|c| match c {
            c if (c as u32) < 127 => Some(c),
            c if is_space(c) => Some(' '),
            c => decimal(c).and_then(|d| char::from_digit(d, 10)),
        })
        .collect::<Option<_>>()?;
    let trimmed = ascii.trim_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let bytes = trimmed.as_bytes();
    let mut number = String::with_capacity(trimmed.len());
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'_' {
            number.push(b as char);
            continue;
        }
        let between_digits = i > 0 && bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !between_digits {
            return None;
        }
    }
    number.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[c for c in range(0x110000) if chr(c).isspace()]` in CPython 3.11.
    #[test]
    fn whitespace_is_pythons() {
        let python = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
            0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let ours: Vec<u32> = (0..=0x10FFFF).filter_map(char::from_u32).filter(|&c| is_space(c)).map(|c| c as u32).collect();
        assert_eq!(ours, python);
    }

    #[test]
    fn digits_are_unicode_decimals() {
        assert_eq!(decimal('7'), Some(7));
        assert_eq!(decimal('\u{669}'), Some(9)); // ARABIC-INDIC DIGIT NINE
        assert_eq!(decimal('\u{FF12}'), Some(2)); // FULLWIDTH DIGIT TWO
        assert_eq!(decimal('\u{1FBF9}'), Some(9));
        assert_eq!(decimal('\u{1FBFA}'), None);
        assert_eq!(decimal('\u{B2}'), None); // superscript two is No, not Nd
        assert_eq!(decimal('/'), None);
        assert_eq!(decimal('a'), None);
    }

    /// Each pair checked with CPython 3.11's `float()`.
    #[test]
    fn float_parses_as_python() {
        for (text, expected) in [
            ("1e3", Some(1000.0)),
            (" 12 ", Some(12.0)),
            ("1_000", Some(1000.0)),
            ("1e1_0", Some(1e10)),
            ("0_0", Some(0.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("+Infinity", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("\u{661}\u{662}", Some(12.0)),
            ("\u{FF11}\u{FF12}", Some(12.0)),
            ("12\u{a0}", Some(12.0)),
            ("\u{2007} 5", Some(5.0)),
            ("\n-3.25e-2\t", Some(-0.0325)),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1_.5", None),
            ("1._5", None),
            ("1_e5", None),
            (".", None),
            ("e5", None),
            ("1e", None),
            ("0x10", None),
            ("1,000", None),
            ("\u{200b}12", None),
            ("1\u{1c}", None),
            ("infinit", None),
            ("+-1", None),
            ("", None),
            ("12%", None),
        ] {
            assert_eq!(float(text), expected, "{text:?}");
        }
        assert!(float("nan").is_some_and(f64::is_nan));
        assert!(float("-NaN").is_some_and(f64::is_nan));
    }
}
