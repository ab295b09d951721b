//! Icon candidates in a home page: a pure function of the bytes, the `Content-Type` charset
//! and the page's URL, so that it can be fuzzed. Never panics on arbitrary bytes. What the fuzz
//! target calls is `pub`, for `crate::fuzzing` to re-export; the module is the crate's own.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use html5gum::{DefaultEmitter, Emitter, ForwardingEmitter, Token, Tokenizer};
use url::Url;

use super::kept::Theme;

/// Most candidates taken from one page.
const MAX_CANDIDATES: usize = 32;

/// What a page points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateKind {
    /// `<link rel="icon">` or `rel="shortcut icon"`.
    Icon,
    /// `<link rel="apple-touch-icon">` or `rel="apple-touch-icon-precomposed"`.
    AppleTouchIcon,
    /// `<link rel="mask-icon">` (Safari pinned tab, usually SVG).
    MaskIcon,
    /// `<meta name="msapplication-TileImage">`.
    TileImage,
    /// `<link rel="manifest">`: a web app manifest whose `icons` are more candidates.
    Manifest,
}

/// One URL found in a page, already absolute (resolved against `<base href>` and the page's
/// final URL); `data:` URLs are kept as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The absolute URL.
    pub url: Url,
    /// What the page said it is.
    pub kind: CandidateKind,
    /// [`Theme::Dark`] for a link whose `media` is `(prefers-color-scheme: dark)`.
    pub theme: Theme,
}

/// The candidates in `html`, in document order (icons declared outside `<head>` included).
/// `charset` is the `Content-Type` header's, if any; `page_url` is the page's final URL.
pub fn extract_candidates(html: &[u8], charset: Option<&str>, page_url: &Url) -> Vec<Candidate> {
    let text = decode(html, charset);
    let mut inner = DefaultEmitter::default();
    inner.naively_switch_states(true);
    let emitter = TagsOnly(inner);
    let mut base: Option<Url> = None;
    let mut found: Vec<(String, CandidateKind, Theme)> = Vec::new();
    for token in Tokenizer::new_with_emitter(&*text, emitter) {
        let Ok(Token::StartTag(tag)) = token else {
            continue;
        };
        let attribute = |name: &str| {
            tag.attributes
                .get(name.as_bytes())
                .map(|value| String::from_utf8_lossy(value).into_owned())
        };
        match tag.name.as_slice() {
            b"base" if base.is_none() => {
                base = attribute("href").and_then(|href| page_url.join(href.trim()).ok());
            }
            b"link" => {
                let (Some(rel), Some(href)) = (attribute("rel"), attribute("href")) else {
                    continue;
                };
                if let Some(kind) = link_kind(&rel) {
                    let theme =
                        attribute("media").map_or(Theme::Light, |media| media_theme(&media));
                    found.push((href, kind, theme));
                }
            }
            b"meta" => {
                let is_tile = attribute("name").is_some_and(|name| {
                    name.trim().eq_ignore_ascii_case("msapplication-tileimage")
                });
                if is_tile && let Some(content) = attribute("content") {
                    found.push((content, CandidateKind::TileImage, Theme::Light));
                }
            }
            _ => {}
        }
        if found.len() >= MAX_CANDIDATES {
            break;
        }
    }
    let base = base.as_ref().unwrap_or(page_url);
    let mut candidates: Vec<Candidate> = Vec::new();
    for (href, kind, theme) in found {
        let href = href.trim_matches(|c: char| c.is_ascii_whitespace());
        if href.is_empty() {
            continue;
        }
        let Ok(url) = base.join(href) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https" | "data") {
            continue;
        }
        if !candidates.iter().any(|c| c.url == url) {
            candidates.push(Candidate { url, kind, theme });
        }
    }
    candidates
}

/// The default emitter without what extraction never reads: parse errors (checked on every
/// character) and text (copied into a token, a whole inline script included).
#[derive(Debug)]
struct TagsOnly(DefaultEmitter);

impl ForwardingEmitter for TagsOnly {
    type Token = Token;

    fn inner(&mut self) -> &mut impl Emitter<Token = Self::Token> {
        &mut self.0
    }

    fn should_emit_errors(&mut self) -> bool {
        false
    }

    fn emit_error(&mut self, _error: html5gum::Error) {}

    fn emit_string(&mut self, _text: &[u8]) {}
}

/// The kind of a `<link rel>` value (space-separated tokens, any case).
fn link_kind(rel: &str) -> Option<CandidateKind> {
    let tokens: Vec<String> = rel
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let has = |token: &str| tokens.iter().any(|t| t == token);
    if has("apple-touch-icon") || has("apple-touch-icon-precomposed") {
        Some(CandidateKind::AppleTouchIcon)
    } else if has("mask-icon") {
        Some(CandidateKind::MaskIcon)
    } else if has("icon") {
        Some(CandidateKind::Icon)
    } else if has("manifest") {
        Some(CandidateKind::Manifest)
    } else {
        None
    }
}

/// The theme a `media` query is for: dark when it asks for `prefers-color-scheme: dark`
/// (any case and spacing), unless negated with `not`.
fn media_theme(media: &str) -> Theme {
    let compact: String = media
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let negated = media
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("not"));
    if compact.contains("prefers-color-scheme:dark") && !negated {
        Theme::Dark
    } else {
        Theme::Light
    }
}

/// The page as text: a byte-order mark wins, then the header's charset, then a `<meta>`
/// charset, then UTF-8 when the bytes are valid UTF-8 (allowing a sequence cut at the end),
/// else windows-1252. Valid UTF-8 (most pages) is borrowed, not copied.
pub(crate) fn decode<'a>(html: &'a [u8], charset: Option<&str>) -> Cow<'a, str> {
    if let Some((encoding, bom_length)) = Encoding::for_bom(html) {
        return encoding.decode_without_bom_handling(&html[bom_length..]).0;
    }
    let declared = charset
        .and_then(|label| Encoding::for_label(label.trim().as_bytes()))
        .or_else(|| meta_charset(html));
    let encoding = declared.unwrap_or_else(|| match std::str::from_utf8(html) {
        Ok(_) => UTF_8,
        Err(error) if error.error_len().is_none() => UTF_8,
        Err(_) => WINDOWS_1252,
    });
    // A page cannot really declare UTF-16 in ASCII-compatible bytes (the HTML standard).
    let encoding = encoding.output_encoding();
    encoding.decode_without_bom_handling(html).0
}

/// The charset of a `<meta charset>` or `<meta http-equiv="Content-Type" content="...;
/// charset=...">` in the first 4 KiB.
fn meta_charset(html: &[u8]) -> Option<&'static Encoding> {
    let head = html[..html.len().min(4096)].to_ascii_lowercase();
    let mut rest = head.as_slice();
    while let Some(at) = rest.windows(5).position(|w| w == b"<meta") {
        rest = &rest[at + 5..];
        let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
        let tag = &rest[..end];
        if let Some(position) = tag.windows(8).position(|w| w == b"charset=") {
            let value = &tag[position + 8..];
            let value = value
                .iter()
                .position(|&b| !matches!(b, b'"' | b'\'' | b' '))
                .map_or(&value[..0], |start| &value[start..]);
            let length = value
                .iter()
                .position(|&b| {
                    matches!(b, b'"' | b'\'' | b';' | b'/' | b' ' | b'>') || b.is_ascii_whitespace()
                })
                .unwrap_or(value.len());
            return Encoding::for_label(&value[..length]);
        }
    }
    None
}

/// The `charset` parameter of a `Content-Type` value.
pub(crate) fn content_type_charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://example.com/dir/page.html").unwrap()
    }

    fn urls(html: &[u8]) -> Vec<(String, CandidateKind)> {
        extract_candidates(html, None, &page())
            .into_iter()
            .map(|c| (c.url.to_string(), c.kind))
            .collect()
    }

    #[test]
    fn every_kind_of_icon_link_is_found_in_document_order() {
        let html = br#"<!doctype html><html><head>
            <link rel="icon" href="a.png" sizes="16x16">
            <link rel="shortcut icon" type="image/x-icon" href="/b.ico">
            <link rel="apple-touch-icon" href="//cdn.example.net/c.png">
            <link rel="apple-touch-icon-precomposed" href="https://other.example/d.png">
            <link rel="mask-icon" href="e.svg" color="red">
            <link rel="manifest" href="/site.webmanifest">
            <link rel="stylesheet" href="style.css">
            <meta name="msapplication-TileImage" content="/tile.png">
            </head></html>"#;
        use CandidateKind::*;
        assert_eq!(
            urls(html),
            vec![
                ("https://example.com/dir/a.png".into(), Icon),
                ("https://example.com/b.ico".into(), Icon),
                ("https://cdn.example.net/c.png".into(), AppleTouchIcon),
                ("https://other.example/d.png".into(), AppleTouchIcon),
                ("https://example.com/dir/e.svg".into(), MaskIcon),
                ("https://example.com/site.webmanifest".into(), Manifest),
                ("https://example.com/tile.png".into(), TileImage),
            ]
        );
    }

    #[test]
    fn links_for_a_dark_colour_scheme_are_dark_in_any_case_and_spacing() {
        let html = br#"<link rel="icon" href="/light.png" media="(prefers-color-scheme: light)">
            <link rel="icon" href="/dark.png" media="(prefers-color-scheme: dark)">
            <link rel="icon" href="/dark2.png" media=" ( Prefers-Color-Scheme:DARK ) ">
            <link rel="apple-touch-icon" href="/dark3.png" media="screen and (prefers-color-scheme :  dark)">
            <link rel="icon" href="/not.png" media="not all and (prefers-color-scheme: dark)">
            <link rel="icon" href="/plain.png">"#;
        let themes: Vec<(String, Theme)> = extract_candidates(html, None, &page())
            .into_iter()
            .map(|c| (c.url.path().to_owned(), c.theme))
            .collect();
        assert_eq!(
            themes,
            [
                ("/light.png".to_owned(), Theme::Light),
                ("/dark.png".to_owned(), Theme::Dark),
                ("/dark2.png".to_owned(), Theme::Dark),
                ("/dark3.png".to_owned(), Theme::Dark),
                ("/not.png".to_owned(), Theme::Light),
                ("/plain.png".to_owned(), Theme::Light),
            ]
        );
    }

    #[test]
    fn base_href_applies_to_every_link_even_earlier_ones() {
        let html = br#"<link rel=icon href=early.png><base href="https://static.example/assets/"><base href="/ignored/"><link rel=icon href=late.png>"#;
        assert_eq!(
            urls(html),
            vec![
                (
                    "https://static.example/assets/early.png".into(),
                    CandidateKind::Icon
                ),
                (
                    "https://static.example/assets/late.png".into(),
                    CandidateKind::Icon
                ),
            ]
        );
    }

    #[test]
    fn upper_case_entities_body_links_and_data_uris() {
        let html = b"<HTML><HEAD><LINK REL=\"SHORTCUT ICON\" HREF=\"/a.png?x=1&amp;y=2\"></HEAD>\
            <BODY><p>text</p><link rel=Icon href='data:image/png;base64,iVBORw0KGgo='></BODY></HTML>";
        assert_eq!(
            urls(html),
            vec![
                (
                    "https://example.com/a.png?x=1&y=2".into(),
                    CandidateKind::Icon
                ),
                (
                    "data:image/png;base64,iVBORw0KGgo=".into(),
                    CandidateKind::Icon
                ),
            ]
        );
    }

    #[test]
    fn links_in_scripts_comments_and_other_schemes_are_ignored() {
        let html = br#"<script>var s = '<link rel="icon" href="/script.png">';</script>
            <!-- <link rel="icon" href="/comment.png"> -->
            <link rel="icon" href="javascript:alert(1)"><link rel="icon" href="  ">
            <link rel="icon" href="/real.png">"#;
        assert_eq!(
            urls(html),
            vec![("https://example.com/real.png".into(), CandidateKind::Icon)]
        );
    }

    #[test]
    fn latin1_is_decoded_from_the_header_the_meta_or_by_default() {
        let html = b"<link rel=icon href=\"/ic\xF4ne.png\">";
        let expected = "https://example.com/ic%C3%B4ne.png";
        let found = extract_candidates(html, Some("ISO-8859-1"), &page());
        assert_eq!(found[0].url.as_str(), expected);
        let found = extract_candidates(html, None, &page());
        assert_eq!(found[0].url.as_str(), expected);
        let with_meta = b"<meta charset='iso-8859-1'><link rel=icon href=\"/ic\xF4ne.png\">";
        assert_eq!(
            extract_candidates(with_meta, None, &page())[0].url.as_str(),
            expected
        );
        let http_equiv = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1252\"><link rel=icon href=\"/ic\xF4ne.png\">";
        assert_eq!(
            extract_candidates(http_equiv, None, &page())[0]
                .url
                .as_str(),
            expected
        );
        let utf8 = "<link rel=icon href=\"/icône.png\">".as_bytes();
        assert_eq!(
            extract_candidates(utf8, None, &page())[0].url.as_str(),
            expected
        );
    }

    #[test]
    fn content_type_charset_is_read() {
        assert_eq!(
            content_type_charset("text/html; Charset=\"ISO-8859-1\""),
            Some("ISO-8859-1")
        );
        assert_eq!(content_type_charset("text/html"), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_u32;
        let alphabet = b"<>/=\"' &;#xlinkrelhrefbaseicon:\x00\xff\xc3\n";
        for length in 0..300 {
            let bytes: Vec<u8> = (0..length)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    alphabet[usize::try_from(seed).unwrap() % alphabet.len()]
                })
                .collect();
            let _ = extract_candidates(&bytes, None, &page());
            let _ = extract_candidates(&bytes, Some("utf-16"), &page());
        }
    }
}
