//! `render` on valid images of every format.

use icon_render::{RenderError, RequestedFormat, SourceFormat, render};
use image::ImageFormat;

use crate::{decode_png, encode, ico, rect, request, solid, stored, two_colour};

const SIZES: [u32; 5] = [16, 32, 64, 180, 512];

#[test]
fn rasters_are_scaled_down_to_exactly_the_size_and_decode_back() {
    let source = two_colour(600, 600);
    for (format, image_format) in [
        (SourceFormat::Png, ImageFormat::Png),
        (SourceFormat::Gif, ImageFormat::Gif),
        (SourceFormat::Jpeg, ImageFormat::Jpeg),
        (SourceFormat::Webp, ImageFormat::WebP),
        (SourceFormat::Bmp, ImageFormat::Bmp),
    ] {
        let bytes = encode(&source, image_format);
        for size in SIZES {
            // `any` converts rasters as `png` does.
            let requested = if size == 64 {
                RequestedFormat::Any
            } else {
                RequestedFormat::Png
            };
            {
                let rendered =
                    render(&bytes, &stored(format, 600, 600), &request(size, requested)).unwrap();
                assert_eq!(rendered.media_type, "image/png");
                assert!(!rendered.is_original);
                assert_eq!(
                    (rendered.width, rendered.height),
                    (size, size),
                    "{format} at {size}"
                );
                let decoded = decode_png(&rendered.bytes);
                assert_eq!(decoded.dimensions(), (size, size), "{format} at {size}");
                // Left stays red, right stays blue.
                let left = decoded.get_pixel(size / 8, size / 2).0;
                let right = decoded.get_pixel(size - 1 - size / 8, size / 2).0;
                assert!(
                    left[0] > 200 && left[2] < 60,
                    "{format} at {size}: {left:?}"
                );
                assert!(
                    right[2] > 200 && right[0] < 60,
                    "{format} at {size}: {right:?}"
                );
            }
        }
    }
}

#[test]
fn a_png_of_exactly_the_size_is_served_as_stored() {
    let bytes = encode(&solid(64, [10, 20, 30, 255]), ImageFormat::Png);
    for requested in [RequestedFormat::Png, RequestedFormat::Any] {
        let rendered = render(
            &bytes,
            &stored(SourceFormat::Png, 64, 64),
            &request(64, requested),
        )
        .unwrap();
        assert!(rendered.is_original);
        assert_eq!(rendered.bytes, bytes);
        assert_eq!(
            (rendered.width, rendered.height, rendered.media_type),
            (64, 64, "image/png")
        );
    }
}

#[test]
fn smaller_rasters_are_not_scaled_up() {
    // A square PNG smaller than asked: as stored.
    let png = encode(&solid(32, [10, 20, 30, 255]), ImageFormat::Png);
    let rendered = render(
        &png,
        &stored(SourceFormat::Png, 32, 32),
        &request(180, RequestedFormat::Png),
    )
    .unwrap();
    assert!(rendered.is_original);
    assert_eq!((rendered.width, rendered.height), (32, 32));

    // Another format: converted, at its own size.
    let gif = encode(&solid(32, [10, 20, 30, 255]), ImageFormat::Gif);
    let rendered = render(
        &gif,
        &stored(SourceFormat::Gif, 32, 32),
        &request(180, RequestedFormat::Png),
    )
    .unwrap();
    assert!(!rendered.is_original);
    assert_eq!(decode_png(&rendered.bytes).dimensions(), (32, 32));
    assert_eq!((rendered.width, rendered.height), (32, 32));
}

#[test]
fn non_square_images_are_centred_on_transparent_padding() {
    let bytes = encode(&rect(200, 100, [0, 128, 0, 255]), ImageFormat::Png);
    let rendered = render(
        &bytes,
        &stored(SourceFormat::Png, 200, 100),
        &request(64, RequestedFormat::Png),
    )
    .unwrap();
    let decoded = decode_png(&rendered.bytes);
    assert_eq!(decoded.dimensions(), (64, 64));
    assert_eq!(
        decoded.get_pixel(32, 2).0[3],
        0,
        "top padding is transparent"
    );
    assert_eq!(
        decoded.get_pixel(32, 61).0[3],
        0,
        "bottom padding is transparent"
    );
    assert_eq!(
        decoded.get_pixel(32, 32).0,
        [0, 128, 0, 255],
        "the image is in the middle"
    );

    // Smaller than asked and not square: padded to a square of its larger side.
    let bytes = encode(&rect(20, 10, [0, 128, 0, 255]), ImageFormat::Png);
    let rendered = render(
        &bytes,
        &stored(SourceFormat::Png, 20, 10),
        &request(64, RequestedFormat::Png),
    )
    .unwrap();
    assert_eq!(decode_png(&rendered.bytes).dimensions(), (20, 20));
}

#[test]
fn an_ico_renders_its_entry_closest_to_the_size() {
    // Each entry has its own colour, so the output tells which one was used.
    let red = [255, 0, 0, 255];
    let green = [0, 255, 0, 255];
    let blue = [0, 0, 255, 255];
    let white = [255, 255, 255, 255];
    for (png_entries, label) in [(false, "BMP entries"), (true, "PNG entries")] {
        let bytes = ico(&[
            (solid(16, red), png_entries),
            (solid(48, blue), png_entries),
            (solid(32, green), !png_entries),
            (solid(256, white), true),
        ]);
        for (size, expected) in [
            (16, red),
            (20, green),
            (32, green),
            (33, blue),
            (48, blue),
            (64, white),
            (512, white),
        ] {
            let rendered = render(
                &bytes,
                &stored(SourceFormat::Ico, 256, 256),
                &request(size, RequestedFormat::Png),
            )
            .unwrap_or_else(|error| panic!("{label} at {size}: {error}"));
            let decoded = decode_png(&rendered.bytes);
            let side = size.min(256);
            assert_eq!(decoded.dimensions(), (side, side), "{label} at {size}");
            assert_eq!(
                decoded.get_pixel(side / 2, side / 2).0,
                expected,
                "{label} at {size}"
            );
        }
    }
}

#[test]
fn ico_requests_get_the_stored_ico_and_svg_requests_the_stored_svg() {
    let bytes = ico(&[
        (solid(16, [1, 2, 3, 255]), false),
        (solid(32, [1, 2, 3, 255]), true),
    ]);
    let rendered = render(
        &bytes,
        &stored(SourceFormat::Ico, 32, 32),
        &request(16, RequestedFormat::Ico),
    )
    .unwrap();
    assert!(rendered.is_original);
    assert_eq!(rendered.bytes, bytes);
    assert_eq!(rendered.media_type, "image/x-icon");

    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="red"/></svg>"#;
    for requested in [RequestedFormat::Svg, RequestedFormat::Any] {
        let rendered = render(
            svg,
            &stored(SourceFormat::Svg, 10, 10),
            &request(64, requested),
        )
        .unwrap();
        assert!(rendered.is_original);
        assert_eq!(rendered.bytes, svg);
        assert_eq!(rendered.media_type, "image/svg+xml");
    }
}

#[test]
fn svgs_are_rasterised_to_exactly_the_size_for_png() {
    // A wide SVG: red, letterboxed on transparent padding.
    let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10" fill="#ff0000"/></svg>"##;
    for size in SIZES {
        let rendered = render(
            svg,
            &stored(SourceFormat::Svg, 20, 10),
            &request(size, RequestedFormat::Png),
        )
        .unwrap();
        assert!(!rendered.is_original);
        assert_eq!(rendered.media_type, "image/png");
        let decoded = decode_png(&rendered.bytes);
        assert_eq!(decoded.dimensions(), (size, size));
        assert_eq!(
            decoded.get_pixel(size / 2, size / 2).0,
            [255, 0, 0, 255],
            "at {size}"
        );
        assert_eq!(decoded.get_pixel(size / 2, 0).0[3], 0, "at {size}");
    }
}

#[test]
fn svgs_never_read_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.png");
    std::fs::write(
        &secret,
        encode(&solid(10, [0, 255, 0, 255]), ImageFormat::Png),
    )
    .unwrap();
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"><image width="10" height="10" xlink:href="{}"/></svg>"#,
        secret.display()
    );
    let rendered = render(
        svg.as_bytes(),
        &stored(SourceFormat::Svg, 10, 10),
        &request(10, RequestedFormat::Png),
    )
    .unwrap();
    assert_eq!(
        decode_png(&rendered.bytes).get_pixel(5, 5).0[3],
        0,
        "the file was not drawn"
    );
}

#[test]
fn a_format_that_cannot_answer_is_an_error() {
    let png = encode(&solid(16, [1, 2, 3, 255]), ImageFormat::Png);
    for requested in [RequestedFormat::Svg, RequestedFormat::Ico] {
        let error = render(
            &png,
            &stored(SourceFormat::Png, 16, 16),
            &request(16, requested),
        )
        .unwrap_err();
        assert!(
            matches!(error, RenderError::FormatMismatch { .. }),
            "{error}"
        );
    }
}

#[test]
fn images_beyond_the_dimension_limit_are_refused() {
    let bytes = encode(&rect(5000, 1, [0, 0, 0, 255]), ImageFormat::Png);
    let error = render(
        &bytes,
        &stored(SourceFormat::Png, 5000, 1),
        &request(16, RequestedFormat::Png),
    )
    .unwrap_err();
    assert!(matches!(error, RenderError::TooLarge { .. }), "{error}");
}
