//! Letter icons as SVG and PNG.

use icon_render::{LetterFormat, background_of, letter_icon, letter_of};
use image::RgbaImage;

use crate::decode_png;

fn png(domain: &str, size: u32) -> RgbaImage {
    let icon = letter_icon(domain, size, LetterFormat::Png);
    assert_eq!(icon.media_type, "image/png");
    assert!(!icon.is_original);
    let decoded = decode_png(&icon.bytes);
    assert_eq!(decoded.dimensions(), (icon.width, icon.height));
    decoded
}

fn opaque(rgb: [u8; 3]) -> [u8; 4] {
    [rgb[0], rgb[1], rgb[2], 255]
}

/// Pixels in the middle third that are not the background: the letter's ink.
fn ink(image: &RgbaImage, background: [u8; 4]) -> usize {
    let (width, height) = image.dimensions();
    image
        .enumerate_pixels()
        .filter(|(x, y, _)| {
            (width / 3..2 * width / 3).contains(x) && (height / 3..2 * height / 3).contains(y)
        })
        .filter(|(_, _, pixel)| pixel.0 != background)
        .count()
}

#[test]
fn png_letters_have_the_exact_size_the_background_colour_and_a_letter_in_the_middle() {
    for size in [16, 32, 64, 180, 512] {
        let image = png("www.instagram.com", size);
        assert_eq!(image.dimensions(), (size, size));
        let background = opaque(background_of("instagram.com"));
        assert_eq!(image.get_pixel(0, 0).0, background, "at {size}");
        assert_eq!(
            image.get_pixel(size - 1, size - 1).0,
            background,
            "at {size}"
        );
        // "I": its stem is in the centre.
        assert_ne!(
            image.get_pixel(size / 2, size / 2).0,
            background,
            "at {size}"
        );
    }
}

#[test]
fn png_letters_draw_idn_and_missing_glyphs() {
    for domain in [
        "xn--bcher-kva.de",
        "пример.рф",
        "blog.example.com",
        "例子.com",
        "مثال.com",
    ] {
        let image = png(domain, 64);
        let background = opaque(background_of(domain));
        assert!(ink(&image, background) > 40, "{domain}: no letter drawn");
    }
    // Noto Sans has no CJK: the same glyph as a domain whose letter is `?`.
    let cjk = png("例子.com", 64);
    let question = png("---.com", 64);
    let shape = |image: &RgbaImage, domain: &str| -> Vec<bool> {
        let background = opaque(background_of(domain));
        image.pixels().map(|pixel| pixel.0 != background).collect()
    };
    assert_eq!(shape(&cjk, "例子.com"), shape(&question, "---.com"));
}

#[test]
fn sizes_are_clamped_to_the_allowed_range() {
    assert_eq!(png("example.com", 0).dimensions(), (1, 1));
    assert_eq!(png("example.com", 1).dimensions(), (1, 1));
    assert_eq!(png("example.com", 5000).dimensions(), (1024, 1024));
}

#[test]
fn svg_letters_are_valid_svg_with_the_letter_and_colour() {
    let icon = letter_icon("www.bbc.co.uk", 64, LetterFormat::Svg);
    assert_eq!(icon.media_type, "image/svg+xml");
    assert_eq!((icon.width, icon.height), (64, 64));
    let svg = String::from_utf8(icon.bytes.clone()).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\""),
        "{svg}"
    );
    assert!(svg.contains(">B</text>"), "{svg}");
    let [r, g, b] = background_of("bbc.co.uk");
    assert!(
        svg.contains(&format!("fill=\"#{r:02x}{g:02x}{b:02x}\"")),
        "{svg}"
    );

    // It parses, and its rectangle has the colour.
    let tree = resvg::usvg::Tree::from_data(&icon.bytes, &resvg::usvg::Options::default()).unwrap();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(64, 64).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::identity(),
        &mut pixmap.as_mut(),
    );
    let corner = pixmap.pixel(1, 1).unwrap();
    assert_eq!([corner.red(), corner.green(), corner.blue()], [r, g, b]);

    // Unicode letters stay Unicode.
    let icon = letter_icon("xn--e1afmkfd.xn--p1ai", 32, LetterFormat::Svg);
    assert!(String::from_utf8(icon.bytes).unwrap().contains(">П</text>"));
}

#[test]
fn the_same_domain_always_gets_the_same_icon() {
    for format in [LetterFormat::Svg, LetterFormat::Png] {
        assert_eq!(
            letter_icon("example.com", 48, format),
            letter_icon("www.example.com", 48, format)
        );
        assert_eq!(
            letter_icon("example.com", 48, format),
            letter_icon("EXAMPLE.COM.", 48, format)
        );
    }
    assert_eq!(letter_of("www.example.com"), "E");
    assert_ne!(background_of("example.com"), background_of("example.org"));
}
