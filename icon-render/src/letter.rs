//! Letter icons: what a domain without a usable icon is shown as.

use ab_glyph::{Font, FontRef, GlyphId, OutlinedGlyph, PxScale, point};
use image::{Rgba, RgbaImage};

use crate::render::encode_png;
use crate::types::{MAX_SIZE, MIN_SIZE, PNG_MEDIA_TYPE, Rendered, SVG_MEDIA_TYPE};

/// Drawn in PNG letter icons when Noto Sans has no glyph for the letter (CJK, Arabic, ...).
pub const MISSING_GLYPH_LETTER: char = '?';

/// The glyph's larger side is at most this share of the icon.
const GLYPH_SHARE: f32 = 0.62;
/// Saturation of the background colour (HSL).
const SATURATION: f64 = 0.6;
/// The lightest the background may be (HSL); darker where white would lack contrast.
const MAX_LIGHTNESS: f64 = 0.45;
/// The least contrast between the white letter and the background (WCAG AA for text).
pub const MIN_CONTRAST: f64 = 4.5;

/// The formats a letter icon is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LetterFormat {
    /// An SVG with the letter as text (the viewer's sans-serif font draws it).
    Svg,
    /// A PNG drawn with the embedded Noto Sans Bold.
    Png,
}

/// A letter icon for `domain`: the first letter of its registrable name (see [`letter_of`]),
/// white, on a background colour derived from the domain (see [`background_of`]), a square of
/// `size` pixels (clamped to 1..=1024).
///
/// The SVG draws the letter as `<text>` in the viewer's sans-serif font. The PNG draws it with
/// the embedded Noto Sans Bold (Apache-2.0, from the `ttf-noto-sans` crate), which covers
/// Latin, Greek and Cyrillic; a letter it has no glyph for (CJK, Arabic, Hebrew, ...) is drawn
/// as [`MISSING_GLYPH_LETTER`] instead.
pub fn letter_icon(domain: &str, size: u32, format: LetterFormat) -> Rendered {
    let size = size.clamp(MIN_SIZE, MAX_SIZE);
    let letter = letter_of(domain);
    let background = background_of(domain);
    let bytes = match format {
        LetterFormat::Svg => letter_svg(&letter, background, size).into_bytes(),
        LetterFormat::Png => letter_png(&letter, background, size),
    };
    Rendered {
        bytes,
        media_type: match format {
            LetterFormat::Svg => SVG_MEDIA_TYPE,
            LetterFormat::Png => PNG_MEDIA_TYPE,
        },
        width: size,
        height: size,
        is_original: false,
    }
}

/// The letter shown for `domain`: the first letter or digit of its registrable label (the
/// label before the public suffix, by the Public Suffix List: `www.bbc.co.uk` gives `B`),
/// decoded from punycode (`xn--bcher-kva.de` gives `B` from `bücher`) and upper-cased; `?`
/// when it has none. Accepts ASCII or Unicode host names in any case.
pub fn letter_of(domain: &str) -> String {
    let label = registrable_label(domain);
    let (unicode, _) = idna::domain_to_unicode(&label);
    let Some(first) = unicode.chars().find(|c| c.is_alphanumeric()) else {
        return MISSING_GLYPH_LETTER.to_string();
    };
    let upper: String = first.to_uppercase().collect();
    // `ß` upper-cases to `SS`: one letter is shown, so keep it as it is.
    if upper.chars().count() == 1 {
        upper
    } else {
        first.to_string()
    }
}

/// The background colour of `domain`'s letter icon, as RGB: the hue from a hash of its
/// registrable domain (so `www.example.com` and `example.com` match), a fixed saturation, and
/// the lightest lightness at which white text keeps a contrast of at least [`MIN_CONTRAST`].
/// Stable across runs and versions (FNV-1a, not the standard library's hasher).
pub fn background_of(domain: &str) -> [u8; 3] {
    let hue = f64::from(fnv1a(registrable_domain(domain).as_bytes()) % 360);
    let mut lightness = MAX_LIGHTNESS;
    loop {
        let rgb = hsl_to_rgb(hue, SATURATION, lightness);
        if contrast_with_white(rgb) >= MIN_CONTRAST || lightness <= 0.05 {
            return rgb;
        }
        lightness -= 0.01;
    }
}

/// The CSS hex form of a colour, e.g. `#1f6f8b`.
fn hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

/// The host name in ASCII, lower case, without a trailing dot (as given when not a valid
/// IDN).
fn ascii_host(domain: &str) -> String {
    let trimmed = domain.trim().trim_end_matches('.');
    idna::domain_to_ascii(trimmed).unwrap_or_else(|_| trimmed.to_ascii_lowercase())
}

/// The registrable domain (`bbc.co.uk` for `www.bbc.co.uk`), or the whole host when the list
/// gives none (`localhost`, a public suffix itself).
fn registrable_domain(domain: &str) -> String {
    let host = ascii_host(domain);
    psl::domain_str(&host).map_or_else(|| host.clone(), str::to_owned)
}

/// The first label of the registrable domain, in ASCII.
fn registrable_label(domain: &str) -> String {
    let registrable = registrable_domain(domain);
    registrable.split('.').next().unwrap_or_default().to_owned()
}

fn letter_svg(letter: &str, background: [u8; 3], size: u32) -> String {
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 100 100">"#,
            r#"<rect width="100" height="100" fill="{background}"/>"#,
            r##"<text x="50" y="50" dy="0.35em" text-anchor="middle" fill="#ffffff" "##,
            r#"font-family="Helvetica, Arial, 'Noto Sans', sans-serif" font-size="60" font-weight="bold">"#,
            "{letter}</text></svg>"
        ),
        size = size,
        background = hex(background),
        letter = xml_escape(letter),
    )
}

/// Escapes text for XML content and attribute values.
fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn letter_png(letter: &str, background: [u8; 3], size: u32) -> Vec<u8> {
    let [r, g, b] = background;
    let mut canvas = RgbaImage::from_pixel(size, size, Rgba([r, g, b, 255]));
    if let Some(glyph) = letter_glyph(letter, size) {
        let bounds = glyph.px_bounds();
        let left = ((size as f32 - bounds.width()) / 2.0).round() as i64;
        let top = ((size as f32 - bounds.height()) / 2.0).round() as i64;
        glyph.draw(|x, y, coverage| {
            let (x, y) = (left + i64::from(x), top + i64::from(y));
            let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) else {
                return;
            };
            if x >= size || y >= size {
                return;
            }
            let coverage = coverage.clamp(0.0, 1.0);
            let pixel = canvas.get_pixel_mut(x, y);
            for channel in &mut pixel.0[..3] {
                *channel =
                    (f32::from(*channel) * (1.0 - coverage) + 255.0 * coverage).round() as u8;
            }
        });
    }
    // Encoding an in-memory RGBA image into a Vec cannot fail; an empty body never shows.
    encode_png(&canvas).unwrap_or_default()
}

/// The outline of `letter` (or [`MISSING_GLYPH_LETTER`]) scaled so its larger side is
/// [`GLYPH_SHARE`] of `size`; `None` when it has no outline at that size.
fn letter_glyph(letter: &str, size: u32) -> Option<OutlinedGlyph> {
    let font = FontRef::try_from_slice(ttf_noto_sans::BOLD).ok()?;
    let c = letter.chars().next().unwrap_or(MISSING_GLYPH_LETTER);
    let mut id = font.glyph_id(c);
    if id == GlyphId(0) {
        id = font.glyph_id(MISSING_GLYPH_LETTER);
    }
    let wanted = size as f32 * GLYPH_SHARE;
    let outline_at = |scale: f32| {
        font.outline_glyph(id.with_scale_and_position(PxScale::from(scale), point(0.0, 0.0)))
    };
    let probe = outline_at(size as f32)?;
    let bounds = probe.px_bounds();
    let extent = bounds.width().max(bounds.height());
    if extent <= 0.0 {
        return None;
    }
    outline_at(size as f32 * wanted / extent)
}

/// 32-bit FNV-1a: a small hash whose values never change between releases.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn hsl_to_rgb(hue: f64, saturation: f64, lightness: f64) -> [u8; 3] {
    let chroma = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let sector = hue / 60.0;
    let x = chroma * (1.0 - (sector % 2.0 - 1.0).abs());
    let (r, g, b) = match sector as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = lightness - chroma / 2.0;
    let channel = |value: f64| ((value + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [channel(r), channel(g), channel(b)]
}

/// WCAG contrast ratio between white and `rgb`.
fn contrast_with_white(rgb: [u8; 3]) -> f64 {
    let linear = |channel: u8| {
        let value = f64::from(channel) / 255.0;
        if value <= 0.040_45 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2]);
    1.05 / (luminance + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_letter_is_the_registrable_labels_first() {
        assert_eq!(letter_of("www.bbc.co.uk"), "B");
        assert_eq!(letter_of("blog.example.com"), "E");
        assert_eq!(letter_of("Example.COM."), "E");
        assert_eq!(letter_of("xn--bcher-kva.de"), "B");
        assert_eq!(letter_of("www.bücher.de"), "B");
        assert_eq!(letter_of("xn--e1afmkfd.xn--p1ai"), "П"); // пример.рф
        assert_eq!(letter_of("ελληνικά.gr"), "Ε");
        assert_eq!(letter_of("1password.com"), "1");
        assert_eq!(letter_of("straße.de"), "S");
        assert_eq!(letter_of("ßtest.com"), "ß");
        assert_eq!(letter_of("user.github.io"), "U");
        assert_eq!(letter_of("localhost"), "L");
        assert_eq!(letter_of("co.uk"), "C");
        assert_eq!(letter_of(""), "?");
        assert_eq!(letter_of("---.com"), "?");
    }

    #[test]
    fn the_colour_is_stable_per_registrable_domain_and_readable() {
        assert_eq!(
            background_of("example.com"),
            background_of("www.example.com")
        );
        assert_eq!(background_of("example.com"), background_of("EXAMPLE.com."));
        // Pinned: a change would recolour every letter icon already cached by clients.
        assert_eq!(hex(background_of("example.com")), "#852eb8");
        let colours: std::collections::HashSet<_> = ["a.com", "b.com", "c.com", "d.com", "e.com"]
            .iter()
            .map(|domain| background_of(domain))
            .collect();
        assert!(colours.len() >= 4, "{colours:?}");
        for i in 0..500 {
            let rgb = background_of(&format!("site{i}.example"));
            assert!(contrast_with_white(rgb) >= MIN_CONTRAST, "{rgb:?}");
        }
    }

    #[test]
    fn hsl_converts_primary_hues() {
        assert_eq!(hsl_to_rgb(0.0, 1.0, 0.5), [255, 0, 0]);
        assert_eq!(hsl_to_rgb(120.0, 1.0, 0.5), [0, 255, 0]);
        assert_eq!(hsl_to_rgb(240.0, 1.0, 0.5), [0, 0, 255]);
    }

    #[test]
    fn svg_text_is_escaped() {
        assert_eq!(
            xml_escape(r#"<a & 'b' "c">"#),
            "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;"
        );
        let svg = letter_svg("<", [1, 2, 3], 16);
        assert!(svg.contains(">&lt;</text>"), "{svg}");
        assert!(svg.contains(r##"fill="#010203""##), "{svg}");
    }
}
