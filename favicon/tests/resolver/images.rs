//! The images an icon keeps: their bytes (real images, as a decoder sees them), distinct,
//! bounded per domain, with dark variants, the unlinked apple-touch icons and `data:` URLs.

use std::io::Cursor;

use favicon::{IconImage, ImageFormat, Theme};
use test_support::farm::{Farm, images, scenarios::data_uri_icon};

use crate::{category, icon, resolve, resolve_with};

/// The size a PNG decoder reads from `bytes`, after decoding every pixel.
fn decode_png(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG pixels");
    (frame.width, frame.height)
}

/// The sizes of an ICO's entries, each PNG entry decoded.
fn decode_ico(bytes: &[u8]) -> Vec<(u32, u32)> {
    let le16 = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let le32 = |at: usize| {
        let word = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        usize::try_from(word).expect("an offset")
    };
    assert_eq!(&bytes[..4], b"\0\0\x01\0", "an ICO header");
    (0..le16(4))
        .map(|index| {
            let entry = 6 + 16 * index;
            let (length, offset) = (le32(entry + 8), le32(entry + 12));
            decode_png(&bytes[offset..offset + length])
        })
        .collect()
}

/// Checks that `image` really is what it says: decoded to its stated size.
fn assert_decodes(image: &IconImage) {
    match image.format {
        ImageFormat::Png => assert_eq!(decode_png(&image.bytes), (image.width, image.height)),
        ImageFormat::Ico => {
            let largest = decode_ico(&image.bytes).into_iter().max().expect("entries");
            assert_eq!(largest, (image.width, image.height));
        }
        other => panic!("{} is {other}, not expected here", image.url),
    }
}

fn urls(images: &[IconImage]) -> Vec<&str> {
    images.iter().map(|image| image.url.as_str()).collect()
}

#[test]
fn the_farm_serves_real_images_that_decoders_read() {
    assert_eq!(decode_png(&images::png(48, 48)), (48, 48));
    assert_eq!(decode_png(&images::dark_png(192, 192)), (192, 192));
    assert_eq!(decode_png(&images::png(300, 100)), (300, 100));
    assert_eq!(
        decode_png(&images::png_with_padding(64, 64, 1000)),
        (64, 64)
    );
    assert_eq!(
        decode_ico(&images::ico(&[16, 32, 48, 256])),
        [(16, 16), (32, 32), (48, 48), (256, 256)]
    );
    for (width, height) in [(1, 1), (16, 16), (64, 32), (300, 200)] {
        let bytes = images::gif(width, height);
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options
            .read_info(Cursor::new(&bytes))
            .expect("a GIF header");
        let frame = decoder
            .read_next_frame()
            .expect("a GIF frame")
            .expect("one frame");
        assert_eq!((frame.width, frame.height), (width, height));
        assert_eq!(
            frame.buffer.len(),
            4 * usize::from(width) * usize::from(height)
        );
        // The frame's colour, then the colour inside it: a picture, not a blank.
        assert_eq!(frame.buffer[..3], [0x33, 0x66, 0x99]);
        if width >= 16 && height >= 16 {
            let middle =
                4 * (usize::from(height / 2) * usize::from(width) + usize::from(width / 2));
            assert_eq!(frame.buffer[middle..middle + 3], [0xcc, 0xe0, 0xff]);
        }
    }
    assert_ne!(images::png(32, 32), images::dark_png(32, 32));
}

#[tokio::test]
async fn every_verified_candidate_is_kept_with_its_bytes_the_chosen_first() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "sizes.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, "https://sizes.test/i/192x192.png");
    // The 1x1 GIF is no icon and /favicon.ico is missing: four verified images.
    assert_eq!(
        urls(&chosen.images),
        [
            "https://sizes.test/i/192x192.png",
            "https://sizes.test/i/16x16.ico",
            "https://sizes.test/i/32x32.png",
            "https://sizes.test/i/300x100.png",
        ]
    );
    let first = &chosen.images[0];
    assert_eq!(
        (first.format, first.width, first.height, first.theme),
        (chosen.format, chosen.width, chosen.height, Theme::Light)
    );
    assert_eq!(first.bytes.len() as u64, chosen.bytes);
    assert_eq!(first.bytes, images::png(192, 192), "the bytes served");
    assert_eq!(first.format.media_type(), "image/png");
    for image in &chosen.images {
        assert_decodes(image);
    }
}

#[tokio::test]
async fn kept_images_are_bounded_in_count_and_bytes_the_chosen_always_kept() {
    let farm = Farm::start().await;
    let two = resolve_with(&farm, "sizes.test", |s| s.max_kept_images = 2).await;
    assert_eq!(
        urls(&icon(&two).images),
        [
            "https://sizes.test/i/192x192.png",
            "https://sizes.test/i/16x16.ico"
        ]
    );
    let one_byte = resolve_with(&farm, "sizes.test", |s| s.max_kept_image_bytes = 1).await;
    assert_eq!(
        urls(&icon(&one_byte).images),
        ["https://sizes.test/i/192x192.png"]
    );
    // Room for the chosen and the 16x16 ICO only: the PNGs after it do not fit.
    let bound = images::png(192, 192).len() + images::ico(&[16]).len();
    let bounded = resolve_with(&farm, "sizes.test", |s| s.max_kept_image_bytes = bound).await;
    let kept = &icon(&bounded).images;
    let total: usize = kept.iter().map(|image| image.bytes.len()).sum();
    assert_eq!(total, bound);
    assert_eq!(
        urls(kept),
        [
            "https://sizes.test/i/192x192.png",
            "https://sizes.test/i/16x16.ico"
        ]
    );
}

#[tokio::test]
async fn images_with_the_same_bytes_are_kept_once() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "apple-unlinked.test").await;
    let chosen = icon(&resolution);
    // /apple-touch-icon-precomposed.png has the same bytes as /apple-touch-icon.png.
    assert_eq!(
        urls(&chosen.images),
        [
            "https://apple-unlinked.test/apple-touch-icon.png",
            "https://apple-unlinked.test/i/16x16.png",
        ]
    );
    assert_ne!(chosen.images[0].bytes, chosen.images[1].bytes);
}

#[tokio::test]
async fn dark_variants_are_kept_as_dark_and_never_chosen_over_a_light_icon() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "dark.test").await;
    let chosen = icon(&resolution);
    // The dark 192x192 icon is the largest, but a light icon exists.
    assert_eq!(chosen.url, "https://dark.test/i/32x32.png");
    let themes: Vec<(&str, Theme, u32)> = chosen
        .images
        .iter()
        .map(|image| (image.url.as_str(), image.theme, image.width))
        .collect();
    assert_eq!(
        themes,
        [
            ("https://dark.test/i/32x32.png", Theme::Light, 32),
            ("https://dark.test/i/dark/32x32.png", Theme::Dark, 32),
            ("https://dark.test/i/dark/192x192.png", Theme::Dark, 192),
        ]
    );
    assert_eq!(chosen.images[1].bytes, images::dark_png(32, 32));
    for image in &chosen.images {
        assert_decodes(image);
    }
    // Home page, manifest and three icons: a light icon of 32 px was declared, so neither
    // /favicon.ico nor the apple-touch paths are asked.
    assert_eq!(farm.requests_to("dark.test"), 5);
}

#[tokio::test]
async fn unlinked_apple_touch_icons_are_tried_only_when_the_icons_found_are_too_small() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "apple-unlinked.test").await;
    let chosen = icon(&resolution);
    assert_eq!(
        chosen.url,
        "https://apple-unlinked.test/apple-touch-icon.png"
    );
    assert_eq!(
        (chosen.width, chosen.source),
        (180, favicon::IconSource::Fallback)
    );
    // Home page, the 16x16 icon, /favicon.ico, then both apple-touch paths.
    assert_eq!(farm.requests_to("apple-unlinked.test"), 5);

    // The preferred size met by a declared icon: no guess, not even /favicon.ico (as a
    // browser, which asks it only when the page declares no icon).
    let farm = Farm::start().await;
    let small = resolve_with(&farm, "apple-unlinked.test", |s| s.preferred_size = 16).await;
    assert_eq!(icon(&small).url, "https://apple-unlinked.test/i/16x16.png");
    assert_eq!(farm.requests_to("apple-unlinked.test"), 2);
    let relative = resolve(&farm, "relative.test").await;
    assert_eq!(icon(&relative).width, 32);
    assert_eq!(farm.requests_to("relative.test"), 2);

    // Probed (/favicon.ico and both apple-touch paths) but missing: the small icon stays
    // the choice.
    let larger = resolve_with(&farm, "relative.test", |s| s.preferred_size = 64).await;
    assert_eq!(icon(&larger).url, "https://relative.test/i/32x32.png");
    assert_eq!(farm.requests_to("relative.test"), 2 + 5);

    // No icon at all (a page without links, no /favicon.ico): no guesses either.
    let none = resolve(&farm, "no-icon.test").await;
    assert_eq!(category(&none), favicon::FailureCategory::NoIcon);
    assert_eq!(farm.requests_to("no-icon.test"), 2);
}

#[tokio::test]
async fn every_entry_of_a_multi_size_ico_is_kept_in_its_bytes() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "multi-ico.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, "https://multi-ico.test/favicon.ico");
    assert_eq!(
        (chosen.format, chosen.width, chosen.height),
        (ImageFormat::Ico, 256, 256)
    );
    assert_eq!(chosen.images.len(), 1);
    let image = &chosen.images[0];
    assert_eq!(image.format.media_type(), "image/x-icon");
    assert_eq!(
        decode_ico(&image.bytes),
        [(16, 16), (32, 32), (48, 48), (256, 256)]
    );
}

#[tokio::test]
async fn a_data_url_icon_is_kept_with_its_decoded_bytes() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "data-uri.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.images[0].url, data_uri_icon());
    assert_eq!(chosen.images[0].bytes, images::png(32, 32));
    assert_decodes(&chosen.images[0]);
}
