//! Rendering real image bytes: exact sizes decoded back, ICO entries, SVGs, letter icons, and
//! hostile input.

#![expect(clippy::unwrap_used, reason = "tests")]

mod hostile;
mod letters;
mod rendering;

use std::io::Cursor;

use icon_render::{IconRequest, RequestedFormat, SourceFormat, StoredImage, Theme};
use image::{ImageFormat, Rgba, RgbaImage};

/// A `width`x`height` image: opaque red left half, opaque blue right half.
fn two_colour(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 255, 255])
        }
    })
}

/// A solid `side`x`side` image of `colour`.
fn solid(side: u32, colour: [u8; 4]) -> RgbaImage {
    rect(side, side, colour)
}

/// A solid `width`x`height` image of `colour`.
fn rect(width: u32, height: u32, colour: [u8; 4]) -> RgbaImage {
    RgbaImage::from_pixel(width, height, Rgba(colour))
}

/// `image` encoded as `format`.
fn encode(image: &RgbaImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    match format {
        // JPEG has no alpha.
        ImageFormat::Jpeg => image::DynamicImage::ImageRgba8(image.clone())
            .to_rgb8()
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap(),
        _ => image
            .write_to(&mut Cursor::new(&mut bytes), format)
            .unwrap(),
    }
    bytes
}

/// One ICO entry's data in the BMP form icons use: a BITMAPINFOHEADER declaring twice the
/// height, 32-bit BGRA rows bottom-up, then the AND mask (all zero: alpha decides).
fn ico_bmp_entry(image: &RgbaImage) -> Vec<u8> {
    let (width, height) = image.dimensions();
    let mut data = Vec::new();
    data.extend_from_slice(&40_u32.to_le_bytes());
    data.extend_from_slice(&(width as i32).to_le_bytes());
    data.extend_from_slice(&(2 * height as i32).to_le_bytes());
    data.extend_from_slice(&1_u16.to_le_bytes()); // planes
    data.extend_from_slice(&32_u16.to_le_bytes()); // bits per pixel
    data.extend_from_slice(&[0; 24]); // compression, sizes, resolution, colours
    for y in (0..height).rev() {
        for x in 0..width {
            let [r, g, b, a] = image.get_pixel(x, y).0;
            data.extend_from_slice(&[b, g, r, a]);
        }
    }
    let mask_row = (width.div_ceil(32) * 4) as usize;
    data.extend(std::iter::repeat_n(0, mask_row * height as usize));
    data
}

/// An ICO of `entries` (each `(image, as_png)`), in the given order.
fn ico(entries: &[(RgbaImage, bool)]) -> Vec<u8> {
    let datas: Vec<Vec<u8>> = entries
        .iter()
        .map(|(image, as_png)| {
            if *as_png {
                encode(image, ImageFormat::Png)
            } else {
                ico_bmp_entry(image)
            }
        })
        .collect();
    let mut file = vec![0, 0, 1, 0];
    file.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    let mut offset = 6 + 16 * entries.len();
    for ((image, _), data) in entries.iter().zip(&datas) {
        let side = |length: u32| if length >= 256 { 0 } else { length as u8 };
        file.extend_from_slice(&[side(image.width()), side(image.height()), 0, 0]);
        file.extend_from_slice(&1_u16.to_le_bytes());
        file.extend_from_slice(&32_u16.to_le_bytes());
        file.extend_from_slice(&(data.len() as u32).to_le_bytes());
        file.extend_from_slice(&(offset as u32).to_le_bytes());
        offset += data.len();
    }
    for data in &datas {
        file.extend_from_slice(data);
    }
    file
}

fn stored(format: SourceFormat, width: u32, height: u32) -> StoredImage {
    StoredImage {
        hash: "h".to_owned(),
        format,
        width,
        height,
        theme: Theme::Light,
    }
}

fn request(size: u32, format: RequestedFormat) -> IconRequest {
    IconRequest::new(u64::from(size), format, Theme::Light).unwrap()
}

/// Decodes a rendered PNG (failing when it is none).
fn decode_png(bytes: &[u8]) -> RgbaImage {
    image::load_from_memory_with_format(bytes, ImageFormat::Png)
        .unwrap()
        .to_rgba8()
}
