//! Which stored image answers a request.

use crate::types::{IconRequest, RequestedFormat, SourceFormat, StoredImage};

/// The stored image that best answers `request`, or `None` when none can (no image, or none
/// of the requested format).
///
/// In order:
/// 1. **Format.** `svg` takes only SVGs and `ico` only ICOs (both are served as stored);
///    `png` and `any` take everything: a raster is converted to PNG, and an SVG is served as
///    it is (`any`) or rasterised (`png`).
/// 2. **Theme.** Images of the requested theme if there is any among those, else the other
///    theme's.
/// 3. **Size.** The smallest raster at least `size` wide or high (it is scaled down, never
///    up); else an SVG, which fits any size; else the largest raster (served at its own size).
///    A raster's size is its larger dimension; an ICO's is its largest entry's.
/// 4. **Ties** (same size): PNG, then ICO, WebP, GIF, BMP, JPEG (lossless first, PNG because
///    an exact PNG is served without re-encoding); then square before not; then by hash, so
///    the choice never depends on the order of `images`.
pub fn choose<'a>(images: &'a [StoredImage], request: &IconRequest) -> Option<&'a StoredImage> {
    let eligible = |image: &&StoredImage| accepts(request.format, image.format);
    let of_theme = |theme| {
        images
            .iter()
            .filter(eligible)
            .filter(move |image| image.theme == theme)
    };
    let best = |candidates: &mut dyn Iterator<Item = &'a StoredImage>| {
        candidates.min_by(|a, b| rank(a, request.size).cmp(&rank(b, request.size)))
    };
    best(&mut of_theme(request.theme)).or_else(|| best(&mut of_theme(request.theme.other())))
}

/// Whether an image of `format` can answer a request for `requested`.
fn accepts(requested: RequestedFormat, format: SourceFormat) -> bool {
    match requested {
        RequestedFormat::Svg => format == SourceFormat::Svg,
        RequestedFormat::Ico => format == SourceFormat::Ico,
        RequestedFormat::Png | RequestedFormat::Any => true,
    }
}

/// How well `image` answers a request for `size`: lower is better.
fn rank(image: &StoredImage, size: u32) -> (u8, u32, u8, bool, &str) {
    let extent = image.extent();
    let (tier, by_size) = if !image.format.is_raster() {
        (1, 0)
    } else if extent >= size {
        (0, extent)
    } else {
        (2, u32::MAX - extent)
    };
    let format_rank = match image.format {
        SourceFormat::Png => 0,
        SourceFormat::Ico => 1,
        SourceFormat::Webp => 2,
        SourceFormat::Gif => 3,
        SourceFormat::Bmp => 4,
        SourceFormat::Jpeg => 5,
        SourceFormat::Svg => 6,
    };
    (
        tier,
        by_size,
        format_rank,
        image.width != image.height,
        &image.hash,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Theme;

    fn image(hash: &str, format: SourceFormat, side: u32, theme: Theme) -> StoredImage {
        StoredImage {
            hash: hash.to_owned(),
            format,
            width: side,
            height: side,
            theme,
        }
    }

    fn request(size: u32, format: RequestedFormat, theme: Theme) -> IconRequest {
        IconRequest::new(u64::from(size), format, theme).unwrap()
    }

    fn chosen(
        images: &[StoredImage],
        size: u32,
        format: RequestedFormat,
        theme: Theme,
    ) -> Option<&str> {
        choose(images, &request(size, format, theme)).map(|image| image.hash.as_str())
    }

    /// A typical site: a 32x32 ICO (16 and 32 inside), PNGs of 180 and 512, an SVG.
    fn typical() -> Vec<StoredImage> {
        vec![
            image("ico32", SourceFormat::Ico, 32, Theme::Light),
            image("png180", SourceFormat::Png, 180, Theme::Light),
            image("png512", SourceFormat::Png, 512, Theme::Light),
            image("svg", SourceFormat::Svg, 0, Theme::Light),
        ]
    }

    #[test]
    fn the_smallest_image_at_least_the_size_wins() {
        let images = typical();
        let any = RequestedFormat::Any;
        let png = RequestedFormat::Png;
        for format in [any, png] {
            assert_eq!(chosen(&images, 16, format, Theme::Light), Some("ico32"));
            assert_eq!(chosen(&images, 32, format, Theme::Light), Some("ico32"));
            assert_eq!(chosen(&images, 64, format, Theme::Light), Some("png180"));
            assert_eq!(chosen(&images, 180, format, Theme::Light), Some("png180"));
            assert_eq!(chosen(&images, 512, format, Theme::Light), Some("png512"));
            // Larger than every raster: the SVG fits any size.
            assert_eq!(chosen(&images, 1024, format, Theme::Light), Some("svg"));
        }
    }

    #[test]
    fn without_a_large_enough_raster_or_svg_the_largest_raster_wins() {
        let images = vec![
            image("ico16", SourceFormat::Ico, 16, Theme::Light),
            image("png32", SourceFormat::Png, 32, Theme::Light),
        ];
        for size in [64, 180, 512] {
            assert_eq!(
                chosen(&images, size, RequestedFormat::Png, Theme::Light),
                Some("png32")
            );
        }
        assert_eq!(
            chosen(&images, 16, RequestedFormat::Png, Theme::Light),
            Some("ico16")
        );
    }

    #[test]
    fn svg_and_ico_requests_take_only_their_format() {
        let images = typical();
        for size in [16, 32, 64, 180, 512] {
            assert_eq!(
                chosen(&images, size, RequestedFormat::Svg, Theme::Light),
                Some("svg")
            );
            assert_eq!(
                chosen(&images, size, RequestedFormat::Ico, Theme::Light),
                Some("ico32")
            );
        }
        let no_vector = &images[..3];
        assert_eq!(
            chosen(no_vector, 64, RequestedFormat::Svg, Theme::Light),
            None
        );
        let no_ico = &images[1..];
        assert_eq!(chosen(no_ico, 16, RequestedFormat::Ico, Theme::Light), None);
    }

    #[test]
    fn an_svg_only_site_answers_png_requests() {
        let images = vec![image("svg", SourceFormat::Svg, 24, Theme::Light)];
        for size in [16, 32, 64, 180, 512] {
            assert_eq!(
                chosen(&images, size, RequestedFormat::Png, Theme::Light),
                Some("svg")
            );
        }
    }

    #[test]
    fn the_requested_theme_wins_when_present_else_the_other() {
        let images = vec![
            image("light512", SourceFormat::Png, 512, Theme::Light),
            image("dark32", SourceFormat::Png, 32, Theme::Dark),
            image("light-svg", SourceFormat::Svg, 0, Theme::Light),
        ];
        // The theme counts before the size: a small dark icon beats a large light one.
        assert_eq!(
            chosen(&images, 180, RequestedFormat::Png, Theme::Dark),
            Some("dark32")
        );
        assert_eq!(
            chosen(&images, 180, RequestedFormat::Png, Theme::Light),
            Some("light512")
        );
        // No dark SVG: the light one.
        assert_eq!(
            chosen(&images, 64, RequestedFormat::Svg, Theme::Dark),
            Some("light-svg")
        );
        let only_light = &images[..1];
        assert_eq!(
            chosen(only_light, 64, RequestedFormat::Any, Theme::Dark),
            Some("light512")
        );
    }

    #[test]
    fn ties_prefer_png_then_square_then_hash_whatever_the_order() {
        let mut images = vec![
            image("jpeg64", SourceFormat::Jpeg, 64, Theme::Light),
            image("b-png64", SourceFormat::Png, 64, Theme::Light),
            image("ico64", SourceFormat::Ico, 64, Theme::Light),
            image("a-png64", SourceFormat::Png, 64, Theme::Light),
            StoredImage {
                width: 64,
                height: 40,
                ..image("0-wide-png", SourceFormat::Png, 64, Theme::Light)
            },
        ];
        for _ in 0..images.len() {
            assert_eq!(
                chosen(&images, 64, RequestedFormat::Any, Theme::Light),
                Some("a-png64")
            );
            images.rotate_left(1);
        }
    }

    #[test]
    fn nothing_stored_chooses_nothing() {
        assert_eq!(chosen(&[], 64, RequestedFormat::Any, Theme::Light), None);
    }
}
