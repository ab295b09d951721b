//! Truncated, corrupted and garbage bytes of every format: an image or an error, never a panic.

use icon_render::{RenderError, RequestedFormat, SourceFormat, render};
use image::ImageFormat;

use crate::{encode, ico, request, solid, stored, two_colour};

/// Deterministic pseudo-random bytes (a linear congruential generator: no dependency, the
/// same bytes on every run).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// A valid sample of each format.
fn samples() -> Vec<(SourceFormat, Vec<u8>)> {
    let image = two_colour(40, 40);
    vec![
        (SourceFormat::Png, encode(&image, ImageFormat::Png)),
        (SourceFormat::Gif, encode(&image, ImageFormat::Gif)),
        (SourceFormat::Jpeg, encode(&image, ImageFormat::Jpeg)),
        (SourceFormat::Webp, encode(&image, ImageFormat::WebP)),
        (SourceFormat::Bmp, encode(&image, ImageFormat::Bmp)),
        (SourceFormat::Ico, ico(&[(solid(16, [1, 2, 3, 255]), false), (solid(32, [4, 5, 6, 128]), true)])),
        (
            SourceFormat::Svg,
            br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="red"/><path d="M0 0L10 10"/></svg>"#.to_vec(),
        ),
    ]
}

/// Renders `bytes` as `format` for every request format and a few sizes; only a panic fails.
fn render_everything(format: SourceFormat, bytes: &[u8]) {
    for requested in [
        RequestedFormat::Png,
        RequestedFormat::Any,
        RequestedFormat::Ico,
        RequestedFormat::Svg,
    ] {
        for size in [1, 16, 300] {
            let _ = render(bytes, &stored(format, 40, 40), &request(size, requested));
        }
    }
}

#[test]
fn every_sample_renders() {
    for (format, bytes) in samples() {
        let rendered = render(
            &bytes,
            &stored(format, 40, 40),
            &request(16, RequestedFormat::Png),
        );
        assert!(rendered.is_ok(), "{format}: {rendered:?}");
    }
}

#[test]
fn truncated_input_never_panics() {
    for (format, bytes) in samples() {
        for len in 0..bytes.len() {
            let result = render(
                &bytes[..len],
                &stored(format, 40, 40),
                &request(16, RequestedFormat::Png),
            );
            // Some truncations still decode (trailing data); short prefixes never do.
            if len < 8 {
                assert!(
                    result.is_err(),
                    "{format} truncated to {len} bytes rendered"
                );
            }
        }
    }
}

#[test]
fn corrupted_input_never_panics() {
    for (format, bytes) in samples() {
        for seed in 0..200_u64 {
            let mut corrupted = bytes.clone();
            let flips = garbage(seed, 8);
            for pair in flips.chunks(2) {
                let at = (usize::from(pair[0]) * 7919 + seed as usize) % corrupted.len();
                corrupted[at] ^= pair[1] | 1;
            }
            render_everything(format, &corrupted);
        }
    }
}

#[test]
fn garbage_never_panics() {
    for format in SourceFormat::ALL {
        for seed in 0..50_u64 {
            let bytes = garbage(seed, (seed as usize * 37) % 2000);
            render_everything(format, &bytes);
            // Garbage behind a valid signature goes further into the decoders.
            let signature: &[u8] = match format {
                SourceFormat::Png => b"\x89PNG\r\n\x1a\n",
                SourceFormat::Ico => b"\x00\x00\x01\x00",
                SourceFormat::Gif => b"GIF89a",
                SourceFormat::Jpeg => b"\xFF\xD8\xFF",
                SourceFormat::Webp => b"RIFF\x00\x01\x00\x00WEBPVP8 ",
                SourceFormat::Bmp => b"BM",
                SourceFormat::Svg => b"<svg xmlns=\"http://www.w3.org/2000/svg\">",
            };
            render_everything(format, &[signature, &bytes].concat());
        }
    }
}

#[test]
fn hostile_icos_never_panic() {
    // Many entries declared, none present; an entry past the end; an entry of size u32::MAX.
    let mut many = vec![0, 0, 1, 0, 0xFF, 0xFF];
    many.extend_from_slice(&[16, 16, 0, 0, 1, 0, 32, 0]);
    render_everything(SourceFormat::Ico, &many);
    let mut past_end = vec![0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
    past_end.extend_from_slice(&100_u32.to_le_bytes());
    past_end.extend_from_slice(&1_000_000_u32.to_le_bytes());
    render_everything(SourceFormat::Ico, &past_end);
    let mut huge = vec![0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 32, 0];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    render_everything(SourceFormat::Ico, &huge);
    // A BMP entry declaring 256x256 with no pixels behind its header.
    let mut no_pixels = vec![0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 32, 0];
    no_pixels.extend_from_slice(&40_u32.to_le_bytes());
    no_pixels.extend_from_slice(&22_u32.to_le_bytes());
    no_pixels.extend_from_slice(&40_u32.to_le_bytes());
    no_pixels.extend_from_slice(&256_i32.to_le_bytes());
    no_pixels.extend_from_slice(&512_i32.to_le_bytes());
    no_pixels.extend_from_slice(&[1, 0, 32, 0]);
    no_pixels.extend_from_slice(&[0; 24]);
    render_everything(SourceFormat::Ico, &no_pixels);
}

#[test]
fn a_png_declaring_huge_dimensions_is_refused_before_decoding() {
    let mut png = encode(&solid(1, [0, 0, 0, 255]), ImageFormat::Png);
    png[16..20].copy_from_slice(&100_000_u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000_u32.to_be_bytes());
    let error = render(
        &png,
        &stored(SourceFormat::Png, 100_000, 100_000),
        &request(16, RequestedFormat::Png),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            RenderError::TooLarge { .. } | RenderError::Decode { .. }
        ),
        "{error}"
    );
}

#[test]
fn hostile_svgs_never_panic() {
    let nested = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">{}<rect width="10" height="10"/>{}</svg>"#,
        "<g>".repeat(5_000),
        "</g>".repeat(5_000)
    );
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE svg [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&e;&e;&e;&e;</text></svg>"#;
    let self_use = r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><g id="a"><use xlink:href="#a"/></g></svg>"##;
    let huge_canvas = r#"<svg xmlns="http://www.w3.org/2000/svg" width="1e30" height="1e-30"><rect width="1e30" height="1"/></svg>"#;
    let too_big = vec![b' '; icon_render::MAX_SVG_BYTES + 1];
    for svg in [
        nested.as_bytes(),
        laughs.as_bytes(),
        self_use.as_bytes(),
        huge_canvas.as_bytes(),
        &too_big,
    ] {
        render_everything(SourceFormat::Svg, svg);
    }
    let error = render(
        &too_big,
        &stored(SourceFormat::Svg, 0, 0),
        &request(16, RequestedFormat::Png),
    )
    .unwrap_err();
    assert!(matches!(error, RenderError::TooLarge { .. }), "{error}");
}
