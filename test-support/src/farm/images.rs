//! Real images made in code, of any size, for the farm's icons: every PNG, ICO and GIF
//! decodes with an ordinary decoder, and the same call always gives the same bytes (whoever
//! stores icons by content sees two sites serving the same size share them).
//!
//! Each image is a square frame of one colour around another, in a [`Palette`]: light icons
//! and their dark variants differ in their bytes as they would on a real site. Making them is
//! cheap (a few rows built once and repeated, zlib at its fastest), as benchmarks serve many.

use std::io::Write;

use flate2::{Compression, write::ZlibEncoder};

/// The colours of an image: a frame and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Palette {
    /// A blue frame around light blue: the icons of a light colour scheme.
    #[default]
    Light,
    /// A light frame around dark grey: the dark variants.
    Dark,
}

impl Palette {
    /// `(frame, inside)` as RGBA.
    fn colours(self) -> ([u8; 4], [u8; 4]) {
        match self {
            Self::Light => ([0x33, 0x66, 0x99, 0xff], [0xcc, 0xe0, 0xff, 0xff]),
            Self::Dark => ([0xdd, 0xdd, 0xee, 0xff], [0x22, 0x22, 0x2a, 0xff]),
        }
    }

    /// The colour of pixel `(x, y)` in a `width` x `height` image: 0 the frame, 1 inside.
    fn index(x: u32, y: u32, width: u32, height: u32) -> u8 {
        let frame = (width.min(height) / 8).max(1);
        let inside = x >= frame && y >= frame && x + frame < width && y + frame < height;
        u8::from(inside)
    }
}

/// A valid RGBA PNG of `width` x `height` in the light palette.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    png_in(Palette::Light, width, height, 0)
}

/// A valid RGBA PNG of `width` x `height` in the dark palette.
pub fn dark_png(width: u32, height: u32) -> Vec<u8> {
    png_in(Palette::Dark, width, height, 0)
}

/// A valid PNG with an extra private ancillary chunk of `padding` bytes, to make it large
/// without changing its size in pixels.
pub fn png_with_padding(width: u32, height: u32, padding: usize) -> Vec<u8> {
    png_in(Palette::Light, width, height, padding)
}

/// A PNG in `palette`, with `padding` bytes of a private chunk.
pub fn png_in(palette: Palette, width: u32, height: u32, padding: usize) -> Vec<u8> {
    let colours = palette.colours();
    let colour = |index: u8| if index == 0 { colours.0 } else { colours.1 };
    // Every row is one of two: all frame, or frame-inside-frame; build each once.
    let row = |y: u32| -> Vec<u8> {
        let mut row = Vec::with_capacity(1 + 4 * width as usize);
        row.push(0);
        for x in 0..width {
            row.extend_from_slice(&colour(Palette::index(x, y, width, height)));
        }
        row
    };
    let frame = (width.min(height) / 8).max(1);
    let (edge, middle) = (row(0), row(frame.min(height.saturating_sub(1))));
    let mut raw = Vec::with_capacity(edge.len() * height as usize);
    for y in 0..height {
        let is_edge = y < frame || y + frame >= height;
        raw.extend_from_slice(if is_edge { &edge } else { &middle });
    }
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&raw).expect("zlib into memory");
    let idat = encoder.finish().expect("zlib into memory");
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    if padding > 0 {
        chunk(&mut png, b"huGe", &vec![0; padding]);
    }
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&u32::try_from(data.len()).expect("chunk size").to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    png.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A valid ICO with one PNG entry per size, in the light palette (a size of 256 is written
/// as 0, as the format says).
pub fn ico(sizes: &[u32]) -> Vec<u8> {
    let images: Vec<Vec<u8>> = sizes.iter().map(|&size| png(size, size)).collect();
    let count = u16::try_from(sizes.len()).expect("entry count");
    let mut ico = vec![0, 0, 1, 0];
    ico.extend_from_slice(&count.to_le_bytes());
    let mut offset = 6 + 16 * sizes.len();
    for (size, image) in sizes.iter().zip(&images) {
        let side = u8::try_from(*size).unwrap_or(0);
        ico.extend_from_slice(&[side, side, 0, 0, 1, 0, 32, 0]);
        ico.extend_from_slice(&u32::try_from(image.len()).expect("size").to_le_bytes());
        ico.extend_from_slice(&u32::try_from(offset).expect("offset").to_le_bytes());
        offset += image.len();
    }
    for image in images {
        ico.extend_from_slice(&image);
    }
    ico
}

/// The LZW minimum code size of the farm's GIFs: 8-bit codes, one byte per pixel.
const GIF_CODE_SIZE: u8 = 7;
/// Pixels between two clear codes, so that the code width never grows past 8 bits (the
/// table has room for 126 entries before it would).
const GIF_RUN: usize = 120;

/// A valid GIF of `width` x `height` in the light palette. Its LZW stream is "uncompressed":
/// 8-bit codes, one per pixel, with a clear code every [`GIF_RUN`] pixels so that the code
/// width never changes; simple to write, and every decoder reads it.
pub fn gif(width: u16, height: u16) -> Vec<u8> {
    let (frame, inside) = Palette::Light.colours();
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    // A global colour table of 2^(6+1) = 128 entries (the code size's literals): the two
    // colours, then black.
    gif.extend_from_slice(&[0x80 | 6, 0, 0]);
    gif.extend_from_slice(&frame[..3]);
    gif.extend_from_slice(&inside[..3]);
    gif.extend_from_slice(&[0; 3 * 126]);
    gif.extend_from_slice(&[0x2c, 0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.push(0);
    gif.push(GIF_CODE_SIZE);
    let clear = 1_u8 << GIF_CODE_SIZE;
    let end = clear + 1;
    let (w, h) = (u32::from(width), u32::from(height));
    let mut codes = Vec::with_capacity(w as usize * h as usize * (GIF_RUN + 1) / GIF_RUN + 2);
    let mut run = 0;
    for y in 0..h {
        for x in 0..w {
            if run == 0 {
                codes.push(clear);
            }
            codes.push(Palette::index(x, y, w, h));
            run = (run + 1) % GIF_RUN;
        }
    }
    codes.push(end);
    for block in codes.chunks(255) {
        gif.push(u8::try_from(block.len()).expect("a sub-block"));
        gif.extend_from_slice(block);
    }
    gif.extend_from_slice(&[0, 0x3b]);
    gif
}

/// An SVG with an XML prolog and a leading comment, sized by its `viewBox`.
pub fn svg(size: u32) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- drawn for the farm -->\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\">\
         <circle cx=\"{half}\" cy=\"{half}\" r=\"{half}\" fill=\"#369\"/></svg>\n",
        half = size / 2
    )
    .into_bytes()
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// `prefix` followed by `filler` repeated until `total` bytes, gzip-compressed in slices so
/// that the whole is never in memory.
pub fn gzip_bomb(prefix: &[u8], filler: u8, total: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(prefix).expect("gzip into memory");
    let slice = vec![filler; 1 << 20];
    let mut written = prefix.len();
    while written < total {
        let n = slice.len().min(total - written);
        encoder.write_all(&slice[..n]).expect("gzip into memory");
        written += n;
    }
    encoder.finish().expect("gzip into memory")
}
