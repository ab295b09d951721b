//! Turns a stored image's bytes into what a request asked for.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, RgbaImage, imageops};

use crate::ico;
use crate::types::{
    IconRequest, PNG_MEDIA_TYPE, Rendered, RequestedFormat, SourceFormat, StoredImage,
};

/// The largest width or height decoded; larger images are refused, not decoded.
pub const MAX_DIMENSION: u32 = 4096;
/// The most memory one decoder may allocate (a 4096x4096 RGBA image takes 64 MiB).
const MAX_DECODE_ALLOC: u64 = 128 * 1024 * 1024;
/// The largest SVG rasterised: its parse and render time grow with it.
pub const MAX_SVG_BYTES: usize = 1024 * 1024;

/// Why stored bytes cannot be rendered for a request. Except for
/// [`FormatMismatch`](Self::FormatMismatch), which [`choose`](crate::choose) never leads to,
/// it says the stored bytes are unusable: serve a letter icon instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The stored format cannot answer the requested one (a PNG for `format=svg`).
    #[error("a stored {stored} image cannot be served as {requested}")]
    FormatMismatch {
        /// The format asked for.
        requested: RequestedFormat,
        /// The stored image's format.
        stored: SourceFormat,
    },
    /// The bytes are not a valid image of their format.
    #[error("the stored {format} image cannot be decoded: {reason}")]
    Decode {
        /// The stored image's format.
        format: SourceFormat,
        /// What the decoder said.
        reason: String,
    },
    /// The image exceeds the decoding limits ([`MAX_DIMENSION`], memory, [`MAX_SVG_BYTES`]).
    #[error("the stored {format} image is too large to decode: {reason}")]
    TooLarge {
        /// The stored image's format.
        format: SourceFormat,
        /// Which limit.
        reason: String,
    },
    /// Encoding the PNG failed.
    #[error("encoding the PNG failed: {0}")]
    Encode(String),
}

/// Renders the stored `image` (its `bytes`) for `request`:
///
/// - `format=svg`: an SVG's original bytes. `format=ico`: an ICO's original bytes, all its
///   entries. Any other combination is a [`RenderError::FormatMismatch`].
/// - `format=any`: an SVG's original bytes; any raster as with `format=png`.
/// - `format=png`, a raster (for an ICO: its entry closest to `size`, the smallest at least
///   `size` else the largest, PNG- or BMP-encoded): a PNG of exactly `size`x`size`, scaled
///   down keeping the aspect ratio and centred on transparent padding when not square. A raster
///   smaller than `size` is never scaled up: it is served at its own size (padded to a square
///   of its larger side), and [`Rendered::width`]/[`height`](Rendered::height) say so. A
///   square PNG of `size` or smaller is served as its original bytes
///   ([`Rendered::is_original`]).
/// - `format=png`, an SVG: rasterised to exactly `size`x`size` by resvg (no text, whose
///   fonts this library does not ship, and no embedded or linked images), centred.
///
/// Decoding is bounded: [`MAX_DIMENSION`] pixels a side, 128 MiB per decoder,
/// [`MAX_SVG_BYTES`] of SVG; any input gives an image or an error, never a panic.
pub fn render(
    bytes: &[u8],
    image: &StoredImage,
    request: &IconRequest,
) -> Result<Rendered, RenderError> {
    let original = || Rendered {
        bytes: bytes.to_vec(),
        media_type: image.format.media_type(),
        width: image.width,
        height: image.height,
        is_original: true,
    };
    match (request.format, image.format) {
        (RequestedFormat::Svg | RequestedFormat::Any, SourceFormat::Svg) => Ok(original()),
        (RequestedFormat::Ico, SourceFormat::Ico) => Ok(original()),
        (RequestedFormat::Png, SourceFormat::Svg) => rasterise_svg(bytes, request.size),
        (RequestedFormat::Png | RequestedFormat::Any, SourceFormat::Png) => {
            match png_dimensions(bytes) {
                Some((width, height)) if width == height && width <= request.size => Ok(Rendered {
                    width,
                    height,
                    media_type: PNG_MEDIA_TYPE,
                    ..original()
                }),
                _ => raster_to_png(bytes, image.format, request.size),
            }
        }
        (RequestedFormat::Png | RequestedFormat::Any, format) => {
            raster_to_png(bytes, format, request.size)
        }
        (requested @ (RequestedFormat::Svg | RequestedFormat::Ico), stored) => {
            Err(RenderError::FormatMismatch { requested, stored })
        }
    }
}

/// Decodes a raster and encodes it as a PNG fitted into a square of `size` (or of its own
/// larger side, when smaller).
fn raster_to_png(bytes: &[u8], format: SourceFormat, size: u32) -> Result<Rendered, RenderError> {
    let decoded = decode_raster(bytes, format, size)?;
    let fitted = fit_in_square(decoded.to_rgba8(), size);
    let (width, height) = fitted.dimensions();
    Ok(Rendered {
        bytes: encode_png(&fitted)?,
        media_type: PNG_MEDIA_TYPE,
        width,
        height,
        is_original: false,
    })
}

/// Decodes a raster within the limits; for an ICO, the entry closest to `size`.
fn decode_raster(
    bytes: &[u8],
    format: SourceFormat,
    size: u32,
) -> Result<DynamicImage, RenderError> {
    let image_format = match format {
        SourceFormat::Png => ImageFormat::Png,
        SourceFormat::Gif => ImageFormat::Gif,
        SourceFormat::Jpeg => ImageFormat::Jpeg,
        SourceFormat::Webp => ImageFormat::WebP,
        SourceFormat::Bmp => ImageFormat::Bmp,
        SourceFormat::Ico => {
            let entries = ico::entries(bytes)?;
            let Some(entry) = ico::closest(&entries, size) else {
                return Err(RenderError::Decode {
                    format,
                    reason: "no entry".to_owned(),
                });
            };
            return if entry.is_png() {
                decode_with(entry.data, ImageFormat::Png, format)
            } else {
                decode_with(&entry.as_single_entry_ico(), ImageFormat::Ico, format)
            };
        }
        SourceFormat::Svg => {
            return Err(RenderError::Decode {
                format,
                reason: "an SVG is no raster".to_owned(),
            });
        }
    };
    decode_with(bytes, image_format, format)
}

/// Decodes `bytes` as `image_format` within the limits; errors name `source_format`.
fn decode_with(
    bytes: &[u8],
    image_format: ImageFormat,
    source_format: SourceFormat,
) -> Result<DynamicImage, RenderError> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(limits);
    reader.decode().map_err(|error| match error {
        image::ImageError::Limits(limit) => RenderError::TooLarge {
            format: source_format,
            reason: limit.to_string(),
        },
        other => RenderError::Decode {
            format: source_format,
            reason: other.to_string(),
        },
    })
}

/// Scales `image` down to fit a square of `size` (never up: a smaller image keeps its size)
/// and centres it on a transparent square canvas.
fn fit_in_square(image: RgbaImage, size: u32) -> RgbaImage {
    let (width, height) = image.dimensions();
    let extent = width.max(height).max(1);
    let side = extent.min(size);
    if width == side && height == side {
        return image;
    }
    let scale = f64::from(side) / f64::from(extent);
    let scaled_side = |length: u32| ((f64::from(length) * scale).round() as u32).clamp(1, side);
    let (new_width, new_height) = (scaled_side(width), scaled_side(height));
    let scaled = if (new_width, new_height) == (width, height) {
        image
    } else {
        resize_premultiplied(image, new_width, new_height)
    };
    let mut canvas = RgbaImage::new(side, side);
    let x = i64::from((side - new_width) / 2);
    let y = i64::from((side - new_height) / 2);
    imageops::overlay(&mut canvas, &scaled, x, y);
    canvas
}

/// Resizes with alpha premultiplied, so transparent pixels' colours do not bleed into edges.
fn resize_premultiplied(mut image: RgbaImage, width: u32, height: u32) -> RgbaImage {
    for pixel in image.pixels_mut() {
        let alpha = u16::from(pixel[3]);
        for channel in &mut pixel.0[..3] {
            *channel = ((u16::from(*channel) * alpha + 127) / 255) as u8;
        }
    }
    // Large reductions first average boxes of pixels down to twice the target (fast, and
    // exact for a downscale), then Lanczos3 gives the last step its sharpness.
    if image.width() > 2 * width && image.height() > 2 * height {
        image = imageops::thumbnail(&image, 2 * width, 2 * height);
    }
    let mut resized = imageops::resize(&image, width, height, imageops::FilterType::Lanczos3);
    for pixel in resized.pixels_mut() {
        let alpha = u16::from(pixel[3]);
        if alpha == 0 {
            pixel.0 = [0; 4];
            continue;
        }
        for channel in &mut pixel.0[..3] {
            *channel = ((u16::from(*channel) * 255 + alpha / 2) / alpha).min(255) as u8;
        }
    }
    resized
}

/// Encodes RGBA pixels as a PNG.
pub(crate) fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, RenderError> {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|error| RenderError::Encode(error.to_string()))?;
    Ok(png)
}

/// The dimensions a PNG's IHDR declares.
fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.get(12..16) != Some(b"IHDR") {
        return None;
    }
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    Some((be32(16)?, be32(20)?))
}

/// Rasterises an SVG to exactly `size`x`size`, centred, keeping its aspect ratio.
fn rasterise_svg(bytes: &[u8], size: u32) -> Result<Rendered, RenderError> {
    use resvg::{tiny_skia, usvg};

    let format = SourceFormat::Svg;
    if bytes.len() > MAX_SVG_BYTES {
        return Err(RenderError::TooLarge {
            format,
            reason: format!("{} bytes, more than {MAX_SVG_BYTES}", bytes.len()),
        });
    }
    let options = usvg::Options {
        // Never read local files or decode embedded images (`<image href>`): internet input.
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_data(bytes, &options).map_err(|error| RenderError::Decode {
        format,
        reason: error.to_string(),
    })?;
    let mut pixmap = tiny_skia::Pixmap::new(size, size)
        .ok_or_else(|| RenderError::Encode(format!("no {size}x{size} canvas")))?;
    let (width, height) = (tree.size().width(), tree.size().height());
    let side = size as f32;
    let scale = side / width.max(height);
    let transform = tiny_skia::Transform::from_row(
        scale,
        0.0,
        0.0,
        scale,
        (side - width * scale) / 2.0,
        (side - height * scale) / 2.0,
    );
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    let png = pixmap
        .encode_png()
        .map_err(|error| RenderError::Encode(error.to_string()))?;
    Ok(Rendered {
        bytes: png,
        media_type: PNG_MEDIA_TYPE,
        width: size,
        height: size,
        is_original: false,
    })
}
