//! What an icon's bytes really are: the format by magic bytes (never the server's
//! `Content-Type`) and the dimensions read from the image itself (never from `sizes` or the
//! file name).

use serde::Serialize;

/// An image format the resolver accepts as an icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Windows icon, possibly with several entries.
    Ico,
    /// Portable Network Graphics.
    Png,
    /// Graphics Interchange Format.
    Gif,
    /// JPEG (JFIF or Exif).
    Jpeg,
    /// WebP (lossy, lossless or extended).
    Webp,
    /// Windows bitmap.
    Bmp,
    /// Scalable Vector Graphics.
    Svg,
}

impl ImageFormat {
    /// The lower-case name stored and printed, e.g. `png`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ico => "ico",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Bmp => "bmp",
            Self::Svg => "svg",
        }
    }

    /// The media type to serve it with, e.g. `image/png` (`image/x-icon` for ICO, as
    /// browsers expect).
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Ico => "image/x-icon",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Bmp => "image/bmp",
            Self::Svg => "image/svg+xml",
        }
    }

    /// False only for SVG, which has no pixel size of its own.
    pub fn is_raster(self) -> bool {
        self != Self::Svg
    }
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image's format and real size. An SVG without `width`/`height`/`viewBox` is 0x0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImageInfo {
    /// The format found by magic bytes.
    pub format: ImageFormat,
    /// Width in pixels (an ICO: its largest entry).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// The format of `bytes` by magic bytes, or `None` when they are no image we accept.
pub(crate) fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x00\x00\x01\x00") {
        Some(ImageFormat::Ico)
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if starts(b"\xFF\xD8\xFF") {
        Some(ImageFormat::Jpeg)
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(ImageFormat::Webp)
    } else if starts(b"BM") && bytes.len() >= 26 {
        Some(ImageFormat::Bmp)
    } else if svg_root(bytes).is_some() {
        Some(ImageFormat::Svg)
    } else {
        None
    }
}

/// The format and real dimensions of `bytes`; `None` when they are no image, a raster's size
/// cannot be read, or the image is 1x1 (a tracking pixel, not an icon).
pub(crate) fn inspect(bytes: &[u8]) -> Option<ImageInfo> {
    let format = sniff(bytes)?;
    let (width, height) = match format {
        ImageFormat::Ico => ico_size(bytes)?,
        ImageFormat::Png => png_size(bytes)?,
        ImageFormat::Gif => (u32::from(le16(bytes, 6)?), u32::from(le16(bytes, 8)?)),
        ImageFormat::Jpeg => jpeg_size(bytes)?,
        ImageFormat::Webp => webp_size(bytes)?,
        ImageFormat::Bmp => bmp_size(bytes)?,
        ImageFormat::Svg => svg_root(bytes).map(svg_size)?,
    };
    if format.is_raster() && (width == 0 || height == 0) {
        return None;
    }
    if width == 1 && height == 1 {
        return None;
    }
    Some(ImageInfo {
        format,
        width,
        height,
    })
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(12..16) != Some(b"IHDR") {
        return None;
    }
    Some((be32(bytes, 16)?, be32(bytes, 20)?))
}

/// The largest entry; a size byte of 0 means 256, and an entry holding a PNG counts with the
/// PNG's own size.
fn ico_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let count = usize::from(le16(bytes, 4)?);
    let mut best: Option<(u32, u32)> = None;
    for index in 0..count {
        let entry = 6 + index * 16;
        let Some(header) = bytes.get(entry..entry + 16) else {
            break;
        };
        let side = |b: u8| if b == 0 { 256 } else { u32::from(b) };
        let mut size = (side(header[0]), side(header[1]));
        let (length, offset) = (le32(header, 8)?, le32(header, 12)?);
        let embedded = usize::try_from(offset).ok().and_then(|start| {
            bytes.get(start..start.saturating_add(usize::try_from(length).ok()?))
        });
        if let Some(png) = embedded.filter(|data| data.starts_with(b"\x89PNG\r\n\x1a\n"))
            && let Some(real) = png_size(png)
        {
            size = real;
        }
        if best.is_none_or(|(w, h)| {
            u64::from(size.0) * u64::from(size.1) > u64::from(w) * u64::from(h)
        }) {
            best = Some(size);
        }
    }
    best
}

fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Skip to the next marker, past fill bytes.
        while *bytes.get(at)? != 0xFF {
            at += 1;
        }
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let marker = *bytes.get(at)?;
        at += 1;
        match marker {
            0xD0..=0xD9 | 0x01 => continue,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let height = be16(bytes, at + 3)?;
                let width = be16(bytes, at + 5)?;
                return Some((u32::from(width), u32::from(height)));
            }
            _ => at += usize::from(be16(bytes, at)?),
        }
    }
}

fn webp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    match bytes.get(12..16)? {
        b"VP8 " => {
            if bytes.get(23..26) != Some(b"\x9d\x01\x2a") {
                return None;
            }
            Some((
                u32::from(le16(bytes, 26)? & 0x3fff),
                u32::from(le16(bytes, 28)? & 0x3fff),
            ))
        }
        b"VP8L" => {
            if *bytes.get(20)? != 0x2f {
                return None;
            }
            let bits = le32(bytes, 21)?;
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => Some((le24(bytes, 24)? + 1, le24(bytes, 27)? + 1)),
        _ => None,
    }
}

fn bmp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let header = le32(bytes, 14)?;
    if header == 12 {
        return Some((u32::from(le16(bytes, 18)?), u32::from(le16(bytes, 20)?)));
    }
    let width = i32::from_le_bytes(bytes.get(18..22)?.try_into().ok()?);
    let height = i32::from_le_bytes(bytes.get(22..26)?.try_into().ok()?);
    Some((width.unsigned_abs(), height.unsigned_abs()))
}

/// The attributes of the root `<svg ...>` tag, when the document starts (after a BOM, white
/// space, an XML prolog, comments, processing instructions or a doctype) with one.
fn svg_root(bytes: &[u8]) -> Option<&[u8]> {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let mut rest = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    loop {
        rest = rest.trim_ascii_start();
        if rest.starts_with(b"<?") {
            rest = after(rest, b"?>")?;
        } else if rest.starts_with(b"<!--") {
            rest = after(rest, b"-->")?;
        } else if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case(b"<!doctype") {
            rest = after(rest, b">")?;
        } else {
            break;
        }
    }
    let tag = rest.strip_prefix(b"<")?;
    if tag.len() < 4 || !tag[..3].eq_ignore_ascii_case(b"svg") {
        return None;
    }
    if !(tag[3].is_ascii_whitespace() || tag[3] == b'>' || tag[3] == b'/') {
        return None;
    }
    let end = tag.iter().position(|&b| b == b'>').unwrap_or(tag.len());
    Some(&tag[3..end])
}

fn after<'a>(bytes: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    let at = bytes.windows(needle.len()).position(|w| w == needle)?;
    Some(&bytes[at + needle.len()..])
}

/// `width`/`height` in user units or pixels, else the `viewBox` size, else 0x0.
fn svg_size(attributes: &[u8]) -> (u32, u32) {
    let text = String::from_utf8_lossy(attributes);
    let length = |name: &str| -> Option<u32> {
        let value = svg_attribute(&text, name)?;
        let number = value.trim().trim_end_matches("px");
        let parsed: f64 = number.parse().ok()?;
        (parsed.is_finite() && parsed > 0.0 && parsed < 1e6).then(|| parsed.round() as u32)
    };
    if let (Some(width), Some(height)) = (length("width"), length("height")) {
        return (width, height);
    }
    let view_box = svg_attribute(&text, "viewBox").and_then(|value| {
        let numbers: Vec<f64> = value
            .split(|c: char| c.is_ascii_whitespace() || c == ',')
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        match numbers.as_slice() {
            [_, _, w, h]
                if w.is_finite()
                    && h.is_finite()
                    && *w > 0.0
                    && *h > 0.0
                    && *w < 1e6
                    && *h < 1e6 =>
            {
                Some((w.round() as u32, h.round() as u32))
            }
            _ => None,
        }
    });
    view_box.unwrap_or((0, 0))
}

/// A quoted attribute's value in a tag's attribute text.
fn svg_attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut search = text;
    while let Some(at) = search.find(name) {
        let before_ok = at == 0
            || search[..at]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
        let rest = search[at + name.len()..].trim_start();
        if before_ok && let Some(value) = rest.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let inner = &value[1..];
                return inner.find(quote).map(|end| &inner[..end]);
            }
            return None;
        }
        search = &search[at + name.len()..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        bytes
    }

    fn ico(entries: &[(u8, u8)]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 1, 0];
        bytes.extend_from_slice(&u16::try_from(entries.len()).unwrap().to_le_bytes());
        for (w, h) in entries {
            bytes.extend_from_slice(&[*w, *h, 0, 0, 1, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        bytes
    }

    #[test]
    fn formats_are_recognised_by_magic_bytes() {
        assert_eq!(sniff(&ico(&[(16, 16)])), Some(ImageFormat::Ico));
        assert_eq!(sniff(&png(16, 16)), Some(ImageFormat::Png));
        assert_eq!(sniff(b"GIF89a\x10\0\x10\0"), Some(ImageFormat::Gif));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageFormat::Webp));
        assert_eq!(sniff(b"<!doctype html><html>not found</html>"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"<svgfoo>"), None);
    }

    #[test]
    fn media_types_are_the_ones_browsers_expect() {
        assert_eq!(ImageFormat::Png.media_type(), "image/png");
        assert_eq!(ImageFormat::Ico.media_type(), "image/x-icon");
        assert_eq!(ImageFormat::Svg.media_type(), "image/svg+xml");
        assert_eq!(ImageFormat::Jpeg.media_type(), "image/jpeg");
    }

    #[test]
    fn svg_is_found_after_a_prolog_comments_and_a_doctype() {
        for svg in [
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\"/>"[..],
            b"<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<svg width=\"48\" height=\"48px\">",
            b"\xEF\xBB\xBF  <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\"><SVG>",
        ] {
            assert_eq!(sniff(svg), Some(ImageFormat::Svg), "{svg:?}");
        }
        let info = inspect(b"<?xml version=\"1.0\"?><svg viewBox=\"0 0 64 32\">").unwrap();
        assert_eq!((info.width, info.height), (64, 32));
        let info = inspect(b"<svg height=\"48\" width=\"48px\">").unwrap();
        assert_eq!((info.width, info.height), (48, 48));
        let info = inspect(b"<svg xmlns=\"x\">").unwrap();
        assert_eq!((info.width, info.height), (0, 0));
        assert_eq!(inspect(b"<html><svg></svg></html>"), None);
    }

    #[test]
    fn real_dimensions_are_read() {
        let info = inspect(&png(180, 180)).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Png, 180, 180)
        );
        let info = inspect(&ico(&[(16, 16), (0, 0), (48, 48)])).unwrap();
        assert_eq!((info.width, info.height), (256, 256));
        let info = inspect(b"GIF89a\x40\0\x20\0rest").unwrap();
        assert_eq!((info.width, info.height), (64, 32));
        let mut bmp = b"BM\0\0\0\0\0\0\0\0\0\0\0\0\x28\0\0\0".to_vec();
        bmp.extend_from_slice(&24_i32.to_le_bytes());
        bmp.extend_from_slice(&(-24_i32).to_le_bytes());
        let info = inspect(&bmp).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Bmp, 24, 24)
        );
        let jpeg = b"\xFF\xD8\xFF\xE0\x00\x04ab\xFF\xC0\x00\x11\x08\x00\x60\x00\x80\x03";
        let info = inspect(jpeg).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Jpeg, 128, 96)
        );
        let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        webp.extend_from_slice(&[63, 0, 0, 31, 0, 0]);
        let info = inspect(&webp).unwrap();
        assert_eq!((info.width, info.height), (64, 32));
    }

    #[test]
    fn an_ico_entry_holding_a_png_counts_with_the_png_size() {
        let inner = png(512, 512);
        let mut bytes = vec![0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 32, 0];
        bytes.extend_from_slice(&u32::try_from(inner.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(&22_u32.to_le_bytes());
        bytes.extend_from_slice(&inner);
        let info = inspect(&bytes).unwrap();
        assert_eq!((info.width, info.height), (512, 512));
    }

    #[test]
    fn tracking_pixels_and_broken_headers_do_not_count() {
        assert_eq!(inspect(&png(1, 1)), None);
        assert_eq!(inspect(b"GIF89a\x01\0\x01\0"), None);
        assert_eq!(inspect(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(inspect(&ico(&[])), None);
        assert_eq!(inspect(b"\xFF\xD8\xFF\xE0\x00\x04ab"), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_u32;
        for length in 0..400 {
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed.to_le_bytes()[0]
                })
                .collect();
            for prefix in [
                &b"\x00\x00\x01\x00"[..],
                b"\xFF\xD8\xFF",
                b"RIFF\0\0\0\0WEBPVP8 ",
                b"BM",
            ] {
                let mut input = prefix.to_vec();
                input.extend_from_slice(&bytes);
                let _ = inspect(&input);
            }
        }
    }
}
