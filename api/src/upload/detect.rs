//! Recognising CSV, TSV, JSON and NDJSON by content as well as by name and media type.
//!
//! The content judged is the first [`SNIFF_UNITS`] characters after any leading blank space
//! (spaces, tabs, line breaks) and byte order mark, however long that blank prefix is: a
//! [`Sniffer`] watches the upload as it streams by and keeps only that window, so a file is
//! empty only when it holds nothing but blank space. UTF-8 is the expected encoding; UTF-16
//! with a byte order mark (Excel's "Unicode text" export) is accepted and judged on its
//! decoded text (the worker transcodes it); UTF-16 without one is refused with a message
//! saying so, as its NUL bytes would otherwise read as "binary".

use entity::FileType;

use crate::error::ApiError;

/// How many characters (code units) after the leading blank space decide the type.
pub const SNIFF_UNITS: usize = 4096;

/// An upload's text encoding, from its byte order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte order mark.
    Utf8,
    /// UTF-16 little-endian, with a byte order mark.
    Utf16Le,
    /// UTF-16 big-endian, with a byte order mark.
    Utf16Be,
}

/// What an upload was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    /// How the worker reads it.
    pub file_type: FileType,
    /// How its bytes encode text.
    pub encoding: Encoding,
}

/// Watches an upload's bytes as they arrive and keeps what [`Sniffer::decide`] needs: the
/// byte order mark and the first [`SNIFF_UNITS`] code units after the leading blank space.
/// Memory stays at that window whatever the file's size or its blank prefix.
#[derive(Debug, Default)]
pub struct Sniffer {
    /// The first (up to 3) bytes, until the encoding is settled.
    start: Vec<u8>,
    encoding: Option<Encoding>,
    /// The first byte of a UTF-16 code unit split between two chunks.
    odd_byte: Option<u8>,
    /// Whether the blank space since the last line feed held a tab: the first line of content
    /// begins with it, and a tab on the first line marks TSV (an empty first cell).
    blank_line_has_tab: bool,
    /// Code units (bytes for UTF-8) from the first non-blank one on, at most [`SNIFF_UNITS`].
    units: Vec<u16>,
}

impl Sniffer {
    /// Takes the next bytes of the upload; returns true once enough has been seen to
    /// [`decide`](Self::decide) (later bytes change nothing).
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if self.encoding.is_none() {
            let take = (3 - self.start.len()).min(bytes.len());
            self.start.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.start.len() < 3 {
                return false;
            }
            self.settle_encoding();
        }
        self.take(bytes);
        self.is_full()
    }

    /// Judges the upload from what was fed (the whole file, or enough of it): its type from
    /// the content, `file_name` and `media_type` as [`detect_file_type`] describes.
    pub fn decide(
        &mut self,
        file_name: Option<&str>,
        media_type: Option<&str>,
    ) -> Result<Detected, ApiError> {
        check_declared(file_name, media_type)?;
        if self.encoding.is_none() {
            self.settle_encoding();
        }
        let encoding = self.encoding.unwrap_or(Encoding::Utf8);
        if self.units.is_empty() {
            return Err(ApiError::bad_request(
                "empty_file",
                "the uploaded file is empty (it holds only blank space)",
            ));
        }
        let content = match encoding {
            Encoding::Utf8 => utf8_content(&self.units)?,
            Encoding::Utf16Le | Encoding::Utf16Be => utf16_content(&self.units)?,
        };
        let file_type = judge(file_name, media_type, &content, self.blank_line_has_tab)?;
        Ok(Detected {
            file_type,
            encoding,
        })
    }

    fn is_full(&self) -> bool {
        self.units.len() >= SNIFF_UNITS
    }

    /// Reads the byte order mark from the first bytes (all of them at the end of a shorter
    /// file) and takes the bytes after it.
    fn settle_encoding(&mut self) {
        let start = std::mem::take(&mut self.start);
        let (encoding, rest) = if let Some(rest) = start.strip_prefix(b"\xEF\xBB\xBF") {
            (Encoding::Utf8, rest)
        } else if let Some(rest) = start.strip_prefix(b"\xFF\xFE") {
            (Encoding::Utf16Le, rest)
        } else if let Some(rest) = start.strip_prefix(b"\xFE\xFF") {
            (Encoding::Utf16Be, rest)
        } else {
            (Encoding::Utf8, start.as_slice())
        };
        self.encoding = Some(encoding);
        self.take(rest);
    }

    fn take(&mut self, bytes: &[u8]) {
        match self.encoding {
            Some(Encoding::Utf8) | None => {
                for &byte in bytes {
                    if self.is_full() {
                        return;
                    }
                    self.unit(u16::from(byte));
                }
            }
            Some(encoding) => {
                let unit = |pair: [u8; 2]| match encoding {
                    Encoding::Utf16Be => u16::from_be_bytes(pair),
                    _ => u16::from_le_bytes(pair),
                };
                let mut bytes = bytes.iter().copied();
                while !self.is_full() {
                    let first = match self.odd_byte.take() {
                        Some(byte) => byte,
                        None => match bytes.next() {
                            Some(byte) => byte,
                            None => return,
                        },
                    };
                    let Some(second) = bytes.next() else {
                        self.odd_byte = Some(first);
                        return;
                    };
                    self.unit(unit([first, second]));
                }
            }
        }
    }

    /// One code unit: skipped while only blank space has been seen, kept after.
    fn unit(&mut self, unit: u16) {
        if self.units.is_empty() {
            match unit {
                0x0A => {
                    self.blank_line_has_tab = false;
                    return;
                }
                0x09 => {
                    self.blank_line_has_tab = true;
                    return;
                }
                0x20 | 0x0D | 0x0C => return,
                _ => {}
            }
        }
        self.units.push(unit);
    }
}

/// Refuses, before anything is read, a name or media type that declares another format.
pub fn check_declared(file_name: Option<&str>, media_type: Option<&str>) -> Result<(), ApiError> {
    match declares_other(extension(file_name).as_deref(), media_type) {
        Some(reason) => Err(ApiError::UnsupportedMediaType(reason)),
        None => Ok(()),
    }
}

/// The lower-cased extension of `file_name`'s last path component, if any (so that
/// `../../etc/passwd` has none, and `.profile` neither).
fn extension(file_name: Option<&str>) -> Option<String> {
    file_name
        .map(super::last_component)
        .and_then(|name| name.rsplit_once('.'))
        .filter(|(stem, _)| !stem.is_empty())
        .map(|(_, ext)| ext.to_ascii_lowercase())
}

/// Extensions and media types that declare something other than the accepted text formats.
fn declares_other(extension: Option<&str>, media_type: Option<&str>) -> Option<String> {
    let text_extensions = ["csv", "json", "txt", "tsv", "ndjson", "jsonl"];
    if let Some(ext) = extension
        && !text_extensions.contains(&ext)
    {
        return Some(format!(
            "files of type .{ext} are not accepted; upload CSV, TSV, JSON or NDJSON"
        ));
    }
    let media_type = media_type?.split(';').next()?.trim().to_ascii_lowercase();
    let accepted = media_type.starts_with("text/")
        || media_type.contains("json")
        || media_type.contains("csv")
        || matches!(
            media_type.as_str(),
            "application/octet-stream" | "application/vnd.ms-excel" | ""
        );
    (!accepted).then(|| {
        format!("media type {media_type} is not accepted; upload CSV, TSV, JSON or NDJSON")
    })
}

/// The sniffed UTF-8 bytes, refused when they are not text.
fn utf8_content(units: &[u16]) -> Result<Vec<u8>, ApiError> {
    let bytes: Vec<u8> = units
        .iter()
        .map(|unit| u8::try_from(*unit).unwrap_or(0))
        .collect();
    if looks_like_utf16(&bytes) {
        return Err(ApiError::UnsupportedMediaType(
            "UTF-16 without a byte order mark is not supported; save the file as UTF-8".to_owned(),
        ));
    }
    if bytes.contains(&0) || !is_text(&bytes) {
        return Err(binary());
    }
    Ok(bytes)
}

/// The sniffed UTF-16 code units as UTF-8, refused when they are not text. A surrogate pair
/// cut by the end of the window is dropped.
fn utf16_content(units: &[u16]) -> Result<Vec<u8>, ApiError> {
    let units = match units.last() {
        Some(0xD800..=0xDBFF) => &units[..units.len() - 1],
        _ => units,
    };
    let text: String = char::decode_utf16(units.iter().copied())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::UnsupportedMediaType(
                "the file starts with a UTF-16 byte order mark but is not valid UTF-16 text"
                    .to_owned(),
            )
        })?;
    // Any even run of bytes after the mark decodes to something; control characters (other
    // than tab and line breaks) are what tells binary content apart.
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(binary());
    }
    Ok(text.into_bytes())
}

fn binary() -> ApiError {
    ApiError::UnsupportedMediaType(
        "the file content is binary, not CSV, TSV, JSON or NDJSON text".to_owned(),
    )
}

/// UTF-16 text without a byte order mark: mostly ASCII, so every other byte is NUL (at the
/// even positions for big-endian, the odd ones for little-endian) and the others never are.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let pairs = bytes.len() / 2;
    if pairs < 2 {
        return false;
    }
    let (mut even, mut odd) = (0, 0);
    for pair in bytes.chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    (even == 0 && odd * 2 >= pairs) || (odd == 0 && even * 2 >= pairs)
}

/// Decides whether an upload is CSV, TSV, JSON or NDJSON from its name, its declared media type
/// and its content (`head`: the whole file, or enough of its beginning). A declared TSV or
/// NDJSON (by extension or media type) is read as declared; otherwise content decides: a JSON
/// document, JSON values one per line (NDJSON), a first line with tabs and no comma (TSV),
/// else CSV. A name or media type that declares another format, binary content (UTF-16
/// without a byte order mark included), or JSON declared but not present is a 415. Content
/// that is only blank space is a 400.
pub fn detect_file_type(
    file_name: Option<&str>,
    media_type: Option<&str>,
    head: &[u8],
) -> Result<FileType, ApiError> {
    let mut sniffer = Sniffer::default();
    sniffer.feed(head);
    Ok(sniffer.decide(file_name, media_type)?.file_type)
}

/// The type of `content` (text from the first non-blank character on, `first_line_tab` when
/// the blank space before it on its line held a tab).
fn judge(
    file_name: Option<&str>,
    media_type: Option<&str>,
    content: &[u8],
    first_line_tab: bool,
) -> Result<FileType, ApiError> {
    let extension = extension(file_name);
    let media_type = media_type.map(str::to_ascii_lowercase).unwrap_or_default();
    let declares = |extensions: &[&str], media_types: &[&str]| {
        extension
            .as_deref()
            .is_some_and(|extension| extensions.contains(&extension))
            || media_types.iter().any(|name| media_type.contains(name))
    };
    if declares(&["ndjson", "jsonl"], &["ndjson", "jsonl", "json-seq"]) || is_ndjson(content) {
        return Ok(FileType::Ndjson);
    }
    if declares(&["tsv"], &["tab-separated"]) {
        return Ok(FileType::Tsv);
    }
    let looks_like_json = matches!(content.first(), Some(b'[' | b'{'));
    match (looks_like_json, declares(&["json"], &["json"])) {
        (true, _) => Ok(FileType::Json),
        (false, true) => Err(ApiError::UnsupportedMediaType(
            "the file is declared as JSON but its content is not a JSON array or object".to_owned(),
        )),
        (false, false) if is_tab_separated(content, first_line_tab) => Ok(FileType::Tsv),
        (false, false) => Ok(FileType::Csv),
    }
}

/// JSON values one per line: the first two non-blank lines are each a whole JSON string or
/// object (a JSON document spread over lines has lines that are not).
fn is_ndjson(content: &[u8]) -> bool {
    let mut lines = content
        .split(|byte| *byte == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty());
    let value = |line: Option<&[u8]>| {
        line.and_then(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .is_some_and(|value| value.is_object() || value.is_string())
    };
    value(lines.next()) && value(lines.next())
}

/// A first line with a tab (possibly in the blank space before `content`: `leading_tab`) and
/// no comma: a spreadsheet's tab-separated export.
fn is_tab_separated(content: &[u8], leading_tab: bool) -> bool {
    let first_line = content
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or_default();
    (leading_tab || first_line.contains(&b'\t')) && !first_line.contains(&b',')
}

/// UTF-8 text, allowing the sniffed window to cut the last character in half.
fn is_text(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && bytes.len() - error.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(name: &str, media: &str, head: &[u8]) -> Result<FileType, ApiError> {
        detect_file_type(Some(name), Some(media), head)
    }

    #[test]
    fn csv_and_json_by_content() {
        assert_eq!(
            detect("a.csv", "text/csv", b"domain\nexample.com\n").unwrap(),
            FileType::Csv
        );
        assert_eq!(
            detect("a.json", "application/json", b"[\"a.com\"]").unwrap(),
            FileType::Json
        );
        assert_eq!(
            detect("list", "application/octet-stream", b" {\"domains\":[]}").unwrap(),
            FileType::Json
        );
        assert_eq!(
            detect("list.txt", "text/plain", b"\xEF\xBB\xBFexample.com").unwrap(),
            FileType::Csv
        );
    }

    #[test]
    fn tsv_and_ndjson_by_name_media_type_or_content() {
        assert_eq!(
            detect("a.tsv", "text/plain", b"a.com\nb.com").unwrap(),
            FileType::Tsv
        );
        assert_eq!(
            detect("a", "text/tab-separated-values", b"a.com").unwrap(),
            FileType::Tsv
        );
        assert_eq!(
            detect("export.txt", "text/plain", b"rank\tdomain\n1\ta.com\n").unwrap(),
            FileType::Tsv
        );
        assert_eq!(
            detect("a.csv", "text/csv", b"rank,domain\tnote\n").unwrap(),
            FileType::Csv
        );
        assert_eq!(
            detect("a.ndjson", "application/octet-stream", b"\"a.com\"\n").unwrap(),
            FileType::Ndjson
        );
        assert_eq!(
            detect("a.jsonl", "text/plain", b"{\"domain\":\"a.com\"}").unwrap(),
            FileType::Ndjson
        );
        assert_eq!(
            detect(
                "a.json",
                "application/json",
                b"{\"domain\":\"a.com\"}\n{\"domain\":\"b.com\"}\n"
            )
            .unwrap(),
            FileType::Ndjson
        );
        assert_eq!(
            detect(
                "a.json",
                "application/json",
                b"{\n\"domains\": [\"a.com\"]\n}"
            )
            .unwrap(),
            FileType::Json
        );
    }

    #[test]
    fn other_types_are_unsupported() {
        assert!(matches!(
            detect("a.png", "image/png", b"\x89PNG\r\n"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            detect("a.csv", "image/png", b"a.com"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            detect("a.csv", "text/csv", b"a.com\0\0"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            detect("a.csv", "text/csv", b"\xfd\xfc\xfb garbage"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            detect("a.json", "application/json", b"example.com"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn the_type_is_judged_by_the_last_path_component() {
        assert_eq!(
            detect("../../etc/passwd", "text/plain", b"a.com\n").unwrap(),
            FileType::Csv
        );
        assert_eq!(
            detect("lists.v2/domains", "text/plain", b"a.com\n").unwrap(),
            FileType::Csv
        );
        assert_eq!(
            detect("C:\\exports\\list.json", "text/plain", b"[\"a.com\"]").unwrap(),
            FileType::Json
        );
        assert!(matches!(
            detect("dir/logo.png", "text/plain", b"a.com"),
            Err(ApiError::UnsupportedMediaType(message)) if message.starts_with("files of type .png ")
        ));
    }

    #[test]
    fn empty_is_a_bad_request() {
        assert!(matches!(
            detect("a.csv", "text/csv", b""),
            Err(ApiError::BadRequest {
                code: "empty_file",
                ..
            })
        ));
        assert!(matches!(
            detect("a.csv", "text/csv", b" \n\t"),
            Err(ApiError::BadRequest {
                code: "empty_file",
                ..
            })
        ));
    }

    #[test]
    fn leading_blank_space_is_skipped_however_long() {
        for blank in [
            "\n".repeat(10_000),
            " \r\n".repeat(40_000),
            "\t \n".repeat(3),
        ] {
            let csv = format!("{blank}domain\na.com\n");
            assert_eq!(
                detect("a.csv", "text/csv", csv.as_bytes()).unwrap(),
                FileType::Csv
            );
            let json = format!("\u{feff}{blank}[\"a.com\"]");
            assert_eq!(
                detect("list", "application/octet-stream", json.as_bytes()).unwrap(),
                FileType::Json
            );
        }
        let blank = " \n".repeat(50_000);
        assert!(matches!(
            detect("a.csv", "text/csv", blank.as_bytes()),
            Err(ApiError::BadRequest {
                code: "empty_file",
                ..
            })
        ));
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_the_bytes_are_chunked() {
        let text = format!("\u{feff}{}rank\tdomain\n1\ta.com\n", "\n".repeat(5000));
        let mut le = vec![0xFF, 0xFE];
        for unit in "\n\n[\"a.com\"]".encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
        }
        for (bytes, expected) in [(text.as_bytes(), FileType::Tsv), (&le[..], FileType::Json)] {
            for size in [1, 2, 3, 7, 4096] {
                let mut sniffer = Sniffer::default();
                for chunk in bytes.chunks(size) {
                    sniffer.feed(chunk);
                }
                let detected = sniffer.decide(Some("list"), None).unwrap();
                assert_eq!(detected.file_type, expected, "chunks of {size}");
            }
        }
    }

    #[test]
    fn a_first_line_starting_with_a_tab_is_tsv() {
        assert_eq!(
            detect("export.txt", "text/plain", b"\n\tdomain\n\ta.com\n").unwrap(),
            FileType::Tsv
        );
        assert_eq!(
            detect("export.txt", "text/plain", b"\tdomain,rank\n").unwrap(),
            FileType::Csv
        );
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        for unit in (if bom { "\u{feff}" } else { "" })
            .encode_utf16()
            .chain(text.encode_utf16())
        {
            let pair = if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            bytes.extend_from_slice(&pair);
        }
        bytes
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_judged_on_its_text() {
        let tsv = "domain\trank\r\nbücher.example\t1\r\n";
        for big_endian in [false, true] {
            let mut sniffer = Sniffer::default();
            sniffer.feed(&utf16(tsv, big_endian, true));
            let detected = sniffer
                .decide(Some("export.txt"), Some("text/plain"))
                .unwrap();
            assert_eq!(detected.file_type, FileType::Tsv);
            let expected = if big_endian {
                Encoding::Utf16Be
            } else {
                Encoding::Utf16Le
            };
            assert_eq!(detected.encoding, expected);
            assert_eq!(
                detect(
                    "a.json",
                    "application/json",
                    &utf16(" [\"a.com\"]", big_endian, true)
                )
                .unwrap(),
                FileType::Json
            );
        }
        assert!(matches!(
            detect("a.csv", "text/csv", &utf16("\r\n \n", false, true)),
            Err(ApiError::BadRequest {
                code: "empty_file",
                ..
            })
        ));
        assert!(matches!(
            detect("a.csv", "text/csv", b"\xff\xfe\x01\x00\x89\x00PNG"),
            Err(ApiError::UnsupportedMediaType(message)) if message.contains("binary")
        ));
        let mut unpaired = utf16("a.com", false, true);
        unpaired.extend_from_slice(&0xDC00_u16.to_le_bytes());
        unpaired.extend_from_slice(&utf16("\n", false, false));
        assert!(matches!(
            detect("a.csv", "text/csv", &unpaired),
            Err(ApiError::UnsupportedMediaType(message)) if message.contains("not valid UTF-16")
        ));
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_refused_by_name() {
        for big_endian in [false, true] {
            let bytes = utf16("\ndomain\na.com\n", big_endian, false);
            assert!(matches!(
                detect("a.csv", "text/csv", &bytes),
                Err(ApiError::UnsupportedMediaType(message))
                    if message == "UTF-16 without a byte order mark is not supported; save the file as UTF-8"
            ));
        }
        assert!(matches!(
            detect("a.csv", "text/csv", b"a.com\0\0\x01binary"),
            Err(ApiError::UnsupportedMediaType(message)) if message.contains("binary")
        ));
    }

    #[test]
    fn a_character_cut_by_the_window_is_still_text() {
        let mut head = b"caf".to_vec();
        head.extend_from_slice(&"\u{e9}".as_bytes()[..1]);
        assert!(is_text(&head));
    }
}
