//! What a request asks for and what is stored: the vocabulary of choosing and rendering.

use std::fmt;
use std::str::FromStr;

/// The smallest size a request may ask for, in pixels.
pub const MIN_SIZE: u32 = 1;
/// The largest size a request may ask for, in pixels.
pub const MAX_SIZE: u32 = 1024;

/// The colour scheme an icon is drawn for: sites may offer a separate icon for dark mode
/// (`<link rel="icon" media="(prefers-color-scheme: dark)">`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Theme {
    /// The default: an icon for a light background.
    #[default]
    Light,
    /// An icon for a dark background.
    Dark,
}

impl Theme {
    /// The lower-case name used in query strings and storage, e.g. `dark`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// The other theme: the fallback when no icon of this one is stored.
    pub fn other(self) -> Self {
        match self {
            Self::Light => Self::Dark,
            Self::Dark => Self::Light,
        }
    }
}

impl fmt::Display for Theme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Theme {
    type Err = InvalidRequest;

    /// `light` or `dark`, case-insensitive.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "light" => Ok(Self::Light),
            "dark" => Ok(Self::Dark),
            _ => Err(InvalidRequest::Theme(text.chars().take(40).collect())),
        }
    }
}

/// The format a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RequestedFormat {
    /// A PNG of the requested size, converted from any stored raster or rasterised from an SVG.
    Png,
    /// A stored ICO, as it was fetched (all its entries).
    Ico,
    /// A stored SVG, as it was fetched.
    Svg,
    /// Whatever serves best: an SVG as it is, anything else as a PNG of the requested size.
    #[default]
    Any,
}

impl RequestedFormat {
    /// The lower-case name used in query strings, e.g. `png`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Ico => "ico",
            Self::Svg => "svg",
            Self::Any => "any",
        }
    }
}

impl fmt::Display for RequestedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestedFormat {
    type Err = InvalidRequest;

    /// `png`, `ico`, `svg` or `any`, case-insensitive.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "png" => Ok(Self::Png),
            "ico" => Ok(Self::Ico),
            "svg" => Ok(Self::Svg),
            "any" => Ok(Self::Any),
            _ => Err(InvalidRequest::Format(text.chars().take(40).collect())),
        }
    }
}

/// A request's parameter that is out of range or unknown; its message can be shown to a
/// client as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// The size is not within [`MIN_SIZE`]..=[`MAX_SIZE`].
    #[error("size must be between 1 and 1024 pixels, not {0}")]
    Size(u64),
    /// The format is none of `png`, `ico`, `svg`, `any`.
    #[error("format must be png, ico, svg or any, not {0:?}")]
    Format(String),
    /// The theme is neither `light` nor `dark`.
    #[error("theme must be light or dark, not {0:?}")]
    Theme(String),
}

/// What a client asks for: one icon of a size, in a format, for a theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IconRequest {
    /// Width and height wanted, in pixels, within [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub size: u32,
    /// The format wanted.
    pub format: RequestedFormat,
    /// The theme preferred (the other is served when none of this one is stored).
    pub theme: Theme,
}

impl IconRequest {
    /// A request, once its size is checked to be within [`MIN_SIZE`]..=[`MAX_SIZE`].
    pub fn new(size: u64, format: RequestedFormat, theme: Theme) -> Result<Self, InvalidRequest> {
        match u32::try_from(size) {
            Ok(size) if (MIN_SIZE..=MAX_SIZE).contains(&size) => Ok(Self {
                size,
                format,
                theme,
            }),
            _ => Err(InvalidRequest::Size(size)),
        }
    }
}

/// The format of a stored icon, as the resolver found it in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// Portable Network Graphics.
    Png,
    /// Windows icon, possibly with several entries (each PNG- or BMP-encoded).
    Ico,
    /// Graphics Interchange Format (the first frame is used).
    Gif,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
    /// Windows bitmap.
    Bmp,
    /// Scalable Vector Graphics.
    Svg,
}

impl SourceFormat {
    /// Every format, for tests and exhaustive tables.
    pub const ALL: [Self; 7] = [
        Self::Png,
        Self::Ico,
        Self::Gif,
        Self::Jpeg,
        Self::Webp,
        Self::Bmp,
        Self::Svg,
    ];

    /// The lower-case name the favicon resolver stores, e.g. `jpeg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Ico => "ico",
            Self::Gif => "gif",
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Bmp => "bmp",
            Self::Svg => "svg",
        }
    }

    /// The format of a media type (`image/png`, `image/x-icon`, `image/svg+xml; charset=utf-8`,
    /// ...), parameters and case ignored; `None` for any other type.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "image/png" | "image/apng" => Some(Self::Png),
            "image/x-icon" | "image/vnd.microsoft.icon" | "image/ico" | "image/icon" => {
                Some(Self::Ico)
            }
            "image/gif" => Some(Self::Gif),
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(Self::Jpeg),
            "image/webp" => Some(Self::Webp),
            "image/bmp" | "image/x-bmp" | "image/x-ms-bmp" => Some(Self::Bmp),
            "image/svg+xml" => Some(Self::Svg),
            _ => None,
        }
    }

    /// The media type served for an original of this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Png => PNG_MEDIA_TYPE,
            Self::Ico => ICO_MEDIA_TYPE,
            Self::Gif => "image/gif",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Bmp => "image/bmp",
            Self::Svg => SVG_MEDIA_TYPE,
        }
    }

    /// False only for SVG, which has no pixel size of its own.
    pub fn is_raster(self) -> bool {
        self != Self::Svg
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceFormat {
    type Err = UnknownFormat;

    /// A name as the resolver stores it (`png`, `ico`, `gif`, `jpeg`, `webp`, `bmp`, `svg`;
    /// also `jpg`), case-insensitive, or a media type.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let format = match text.to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "ico" => Some(Self::Ico),
            "gif" => Some(Self::Gif),
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "webp" => Some(Self::Webp),
            "bmp" => Some(Self::Bmp),
            "svg" => Some(Self::Svg),
            _ => Self::from_media_type(text),
        };
        format.ok_or_else(|| UnknownFormat(text.chars().take(60).collect()))
    }
}

/// A stored format name or media type that is no icon format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is no icon format")]
pub struct UnknownFormat(pub String);

/// The media type of PNG output.
pub const PNG_MEDIA_TYPE: &str = "image/png";
/// The media type of ICO output.
pub const ICO_MEDIA_TYPE: &str = "image/x-icon";
/// The media type of SVG output.
pub const SVG_MEDIA_TYPE: &str = "image/svg+xml";

/// One stored icon image of a domain, as its metadata says (its bytes are fetched only once
/// it is chosen).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredImage {
    /// Content hash, the key of the bytes in storage; opaque here.
    pub hash: String,
    /// The format found in the bytes.
    pub format: SourceFormat,
    /// Width in pixels (an ICO: its largest entry; an SVG: its nominal size, possibly 0).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The theme the site declared it for.
    pub theme: Theme,
}

impl StoredImage {
    /// The side of the square the image fills at its own size: its larger dimension.
    pub(crate) fn extent(&self) -> u32 {
        self.width.max(self.height)
    }
}

/// An icon ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The bytes to send.
    pub bytes: Vec<u8>,
    /// Their media type, e.g. `image/png`.
    pub media_type: &'static str,
    /// Width in pixels (for an SVG served as it is: its nominal width, possibly 0).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Whether `bytes` are the stored bytes unchanged (no decoding or encoding happened).
    pub is_original: bool,
}
