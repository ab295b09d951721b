//! Real images made in code, of any size, for the farm's icons.

use std::io::Write;

use flate2::{Compression, write::ZlibEncoder};

/// A valid RGBA PNG of `width` x `height` (a flat colour).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    png_with_padding(width, height, 0)
}

/// A valid PNG with an extra private ancillary chunk of `padding` bytes, to make it large
/// without changing its size in pixels.
pub fn png_with_padding(width: u32, height: u32, padding: usize) -> Vec<u8> {
    let mut row = vec![0_u8];
    for _ in 0..width {
        row.extend_from_slice(&[0x33, 0x66, 0x99, 0xff]);
    }
    let raw = row.repeat(height as usize);
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

/// A valid ICO with one PNG entry per size (a size of 256 is written as 0, as the format says).
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

/// A GIF of `width` x `height` (one colour; its image data is the minimal LZW stream).
pub fn gif(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0, 0xff, 0xff, 0xff, 0, 0, 0, 0x2c, 0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0, 2, 2, 0x44, 0x01, 0, 0x3b]);
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
