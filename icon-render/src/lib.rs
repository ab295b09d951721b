//! Chooses which stored icon answers a request and renders it at the requested size, or
//! draws a letter icon when a domain has none.
//!
//! ```
//! use icon_render::{
//!     IconRequest, LetterFormat, RequestedFormat, SourceFormat, StoredImage, Theme, choose,
//!     letter_icon, render,
//! };
//!
//! // What is stored for a domain (metadata only; the bytes are fetched once chosen).
//! let images = vec![
//!     StoredImage { hash: "a1".into(), format: SourceFormat::Ico, width: 32, height: 32, theme: Theme::Light },
//!     StoredImage { hash: "b2".into(), format: SourceFormat::Svg, width: 0, height: 0, theme: Theme::Light },
//! ];
//! let request = IconRequest::new(16, "png".parse()?, "dark".parse()?)?;
//!
//! match choose(&images, &request) {
//!     Some(image) => {
//!         // Fetch the bytes stored under `image.hash`, then:
//!         # let bytes: Vec<u8> = Vec::new();
//!         match render(&bytes, image, &request) {
//!             Ok(rendered) => { /* send rendered.bytes as rendered.media_type */ }
//!             Err(unusable) => { /* serve letter_icon(..) instead */ }
//!         }
//!     }
//!     None => {
//!         let icon = letter_icon("www.example.com", request.size, LetterFormat::Png);
//!         assert_eq!((icon.width, icon.height, icon.media_type), (16, 16, "image/png"));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`choose`] picks by format, then theme, then size (see its rules); [`render`] returns the
//! original bytes when they already answer the request (an SVG, an ICO, a square PNG no
//! larger than asked) and otherwise a PNG of exactly the requested size, scaled down (never
//! up: a smaller raster is served at its own size), SVGs rasterised by resvg. [`letter_icon`]
//! draws the first letter of the registrable domain (Public Suffix List, IDN-aware) on a
//! colour derived from it, as SVG or PNG.
//!
//! The bytes come from the internet: decoding is bounded ([`MAX_DIMENSION`] a side, 128 MiB
//! per decoder, [`MAX_SVG_BYTES`] of SVG, no file or network access from an SVG) and any input
//! gives an image or a [`RenderError`], never a panic. The library knows nothing of the
//! database, S3 or HTTP.

mod choose;
mod ico;
mod letter;
mod render;
mod types;

pub use choose::choose;
pub use letter::{
    LetterFormat, MIN_CONTRAST, MISSING_GLYPH_LETTER, background_of, letter_icon, letter_of,
};
pub use render::{MAX_DIMENSION, MAX_SVG_BYTES, RenderError, render};
pub use types::{
    ICO_MEDIA_TYPE, IconRequest, InvalidRequest, MAX_SIZE, MIN_SIZE, PNG_MEDIA_TYPE, Rendered,
    RequestedFormat, SVG_MEDIA_TYPE, SourceFormat, StoredImage, Theme, UnknownFormat,
};
