//! The images a resolution keeps: the bytes of the chosen icon and of the other candidates
//! that were verified on the way, distinct by content and bounded per domain, so that whoever
//! stores them (once, by content) can serve the icon at any size and in a dark variant
//! without fetching the site again.

use std::fmt;

use bytes::Bytes;
use serde::Serialize;

use super::{IconSource, ImageFormat};

/// Most dark variants kept for one domain.
pub(crate) const MAX_DARK_IMAGES: usize = 2;

/// The colour scheme an icon is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// The default: declared without a colour scheme, or for a light one.
    #[default]
    Light,
    /// Declared for a dark colour scheme: a `<link>` whose `media` is
    /// `(prefers-color-scheme: dark)`, or a manifest icon whose `purpose` says `dark`.
    Dark,
}

impl Theme {
    /// The lower-case name stored and printed: `light` or `dark`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }
}

impl fmt::Display for Theme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One verified image of a domain, with the bytes that were verified: what a store keeps to
/// serve the icon later. Serialised without its bytes.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IconImage {
    /// Where it was finally fetched from (after redirects), or its `data:` URL.
    pub url: String,
    /// The format found in the bytes.
    pub format: ImageFormat,
    /// Real width in pixels (0 for an SVG without a size; an ICO: its largest entry).
    pub width: u32,
    /// Real height in pixels.
    pub height: u32,
    /// The colour scheme it was declared for.
    pub theme: Theme,
    /// The (decompressed) bytes that were read and verified, shared, never copied.
    #[serde(skip)]
    pub bytes: Bytes,
}

impl fmt::Debug for IconImage {
    /// Everything but the bytes themselves, which would fill logs and panics: their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IconImage")
            .field("url", &self.url)
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("theme", &self.theme)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

/// A candidate whose bytes really are an image: the image and where it was declared.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub image: IconImage,
    pub source: IconSource,
}

/// What the resolution keeps of `found`, whose `chosen`th is the chosen icon: the chosen
/// first, always; then the dark variants (at most [`MAX_DARK_IMAGES`] dark in all), then the
/// other images in the order they were declared. An image whose bytes equal one kept already
/// is skipped; the others are kept while there are fewer than `max_images` and their bytes
/// fit, with the chosen's, in `max_bytes` (a smaller one further on may still fit).
pub(crate) fn keep(
    found: Vec<Verified>,
    chosen: usize,
    max_images: usize,
    max_bytes: usize,
) -> Vec<IconImage> {
    let mut found: Vec<Option<IconImage>> = found
        .into_iter()
        .map(|verified| Some(verified.image))
        .collect();
    let Some(first) = found.get_mut(chosen).and_then(Option::take) else {
        return Vec::new();
    };
    let mut total = first.bytes.len();
    let mut dark = usize::from(first.theme == Theme::Dark);
    let mut kept = vec![first];
    let (darks, lights): (Vec<IconImage>, Vec<IconImage>) = found
        .into_iter()
        .flatten()
        .partition(|image| image.theme == Theme::Dark);
    for image in darks.into_iter().chain(lights) {
        if kept.len() >= max_images.max(1) {
            break;
        }
        let is_dark = image.theme == Theme::Dark;
        if (is_dark && dark >= MAX_DARK_IMAGES)
            || total + image.bytes.len() > max_bytes
            || kept.iter().any(|other| other.bytes == image.bytes)
        {
            continue;
        }
        total += image.bytes.len();
        dark += usize::from(is_dark);
        kept.push(image);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(name: &str, theme: Theme, bytes: &[u8]) -> Verified {
        Verified {
            image: IconImage {
                url: format!("https://example.com/{name}"),
                format: ImageFormat::Png,
                width: 32,
                height: 32,
                theme,
                bytes: Bytes::copy_from_slice(bytes),
            },
            source: IconSource::Link,
        }
    }

    fn names(kept: &[IconImage]) -> Vec<&str> {
        kept.iter()
            .map(|image| image.url.trim_start_matches("https://example.com/"))
            .collect()
    }

    #[test]
    fn the_chosen_comes_first_then_dark_variants_then_the_rest_in_order() {
        let found = vec![
            verified("a", Theme::Light, b"a"),
            verified("b", Theme::Light, b"b"),
            verified("dark", Theme::Dark, b"d"),
            verified("c", Theme::Light, b"c"),
        ];
        assert_eq!(names(&keep(found, 1, 6, 1024)), ["b", "dark", "a", "c"]);
    }

    #[test]
    fn images_are_distinct_by_content_and_bounded_by_count_and_bytes() {
        let found = vec![
            verified("a", Theme::Light, b"same"),
            verified("b", Theme::Light, b"same"),
            verified("c", Theme::Light, b"other"),
            verified("d", Theme::Light, b"third"),
        ];
        assert_eq!(names(&keep(found.clone(), 0, 6, 1024)), ["a", "c", "d"]);
        assert_eq!(names(&keep(found.clone(), 0, 2, 1024)), ["a", "c"]);
        // 4 + 5 bytes fit in 9, 5 more do not.
        assert_eq!(names(&keep(found.clone(), 0, 6, 9)), ["a", "c"]);
        let big = verified("big", Theme::Light, &[0; 100]);
        let found = vec![big, verified("small", Theme::Light, b"s")];
        assert_eq!(names(&keep(found.clone(), 1, 6, 50)), ["small"]);
        // The chosen is kept even when it alone is over the bound, and a count of 0 means 1.
        assert_eq!(names(&keep(found, 0, 0, 50)), ["big"]);
    }

    #[test]
    fn at_most_two_dark_images_are_kept() {
        let found = vec![
            verified("d1", Theme::Dark, b"1"),
            verified("d2", Theme::Dark, b"2"),
            verified("d3", Theme::Dark, b"3"),
            verified("light", Theme::Light, b"l"),
        ];
        assert_eq!(
            names(&keep(found.clone(), 3, 6, 1024)),
            ["light", "d1", "d2"]
        );
        assert_eq!(names(&keep(found, 2, 6, 1024)), ["d3", "d1", "light"]);
    }

    #[test]
    fn debug_shows_the_length_of_the_bytes_not_the_bytes() {
        let image = verified("a", Theme::Dark, &[7; 4096]).image;
        let debug = format!("{image:?}");
        assert!(debug.contains("4096 bytes"), "{debug}");
        assert!(debug.len() < 200, "{debug}");
        assert_eq!(Theme::Dark.as_str(), "dark");
        assert_eq!(serde_json::to_value(Theme::Light).unwrap(), "light");
    }
}
