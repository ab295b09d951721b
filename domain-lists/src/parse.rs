//! Reading the entries of an uploaded domain list, CSV, TSV, JSON or NDJSON, as a stream:
//! entries are handed to a callback as they are read, so a file is never held whole in memory.
//!
//! CSV and TSV: with or without a header; the domain column is the one named `domain`, `url`,
//! `website` or `host` (any case), else the first, judged on the first line that is not blank.
//! JSON: an array of strings, an array of objects with a `domain` (or `url`) field, or
//! `{"domains": [...]}`; any other scalar, even a number no float can hold, is kept as its
//! text (an invalid entry). NDJSON: one such string or object per line; a line that is neither
//! is kept as its text. Text is UTF-8, or UTF-16 with a byte order mark, transcoded as it
//! streams; blank content before the first entry may be of any length.

use std::{
    fmt,
    io::{self, BufRead, BufReader, Read},
};

use encoding_rs::{CoderResult, Decoder, Encoding, UTF_16BE, UTF_16LE};
use entity::FileType;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Names of the column (CSV) or field (JSON) that holds the domain, by preference.
const DOMAIN_COLUMNS: [&str; 4] = ["domain", "url", "website", "host"];

/// Why a file could not be read at all; the file becomes FAILED with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// CSV that the reader rejects.
    #[error("malformed CSV at line {line}: {reason}")]
    Csv {
        /// 1-based line.
        line: u64,
        /// What the reader said.
        reason: String,
    },
    /// JSON that does not parse.
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        reason: String,
    },
    /// JSON of another shape.
    #[error("unsupported JSON shape at line {line}, column {column}: {reason}")]
    Shape {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is expected instead.
        reason: String,
    },
    /// Bytes that are not UTF-8 text.
    #[error(
        "the file is not UTF-8 text: invalid bytes in line {line}, which starts at byte {offset}"
    )]
    NotText {
        /// 1-based line holding the invalid bytes.
        line: u64,
        /// Byte offset where that line starts.
        offset: u64,
    },
}

/// Why reading stopped: the file itself is bad (permanent), or the bytes stopped coming
/// (transient: S3 trouble).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Reading the underlying stream failed.
    #[error("failed to read the file: {0}")]
    Io(#[from] io::Error),
}

/// Reads the entries of `input` in order, handing each non-blank one to `on_entry`.
pub fn read_entries(
    file_type: FileType,
    input: impl Read,
    mut on_entry: impl FnMut(String),
) -> Result<(), ReadError> {
    let input = BufReader::with_capacity(64 * 1024, without_byte_order_mark(as_utf8(input)?)?);
    let mut keep_non_blank = |entry: String| {
        if !entry.trim().is_empty() {
            on_entry(entry);
        }
    };
    match file_type {
        FileType::Csv => read_csv(input, b',', &mut keep_non_blank),
        FileType::Tsv => read_csv(input, b'\t', &mut keep_non_blank),
        FileType::Json => read_json(input, &mut keep_non_blank),
        FileType::Ndjson => read_ndjson(input, &mut keep_non_blank),
    }
}

/// `input` as UTF-8: UTF-16 that starts with its byte order mark (little- or big-endian, as
/// spreadsheet programs save "Unicode text") is transcoded while it streams, anything else is
/// passed on as it is. Unpaired surrogates become U+FFFD: an invalid entry, not a failed file.
fn as_utf8<R: Read>(mut input: R) -> io::Result<Utf8Input<R>> {
    let mut prefix = [0_u8; 2];
    let filled = read_prefix(&mut input, &mut prefix)?;
    let encoding: Option<&'static Encoding> = match prefix[..filled] {
        [0xFF, 0xFE] => Some(UTF_16LE),
        [0xFE, 0xFF] => Some(UTF_16BE),
        _ => None,
    };
    Ok(match encoding {
        Some(encoding) => Utf8Input::Utf16(Utf16Reader {
            input,
            decoder: encoding.new_decoder_without_bom_handling(),
            raw: vec![0; 16 * 1024],
            decoded: Vec::new(),
            start: 0,
            finished: false,
        }),
        None => Utf8Input::Utf8(io::Cursor::new(prefix[..filled].to_vec()).chain(input)),
    })
}

/// Fills `prefix` from `input` as far as it goes; how many bytes were read.
fn read_prefix(input: &mut impl Read, prefix: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < prefix.len() {
        match input.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// A file's bytes as UTF-8: see [`as_utf8`].
enum Utf8Input<R> {
    /// Passed on as read (after the bytes looked at).
    Utf8(io::Chain<io::Cursor<Vec<u8>>, R>),
    /// Transcoded from UTF-16.
    Utf16(Utf16Reader<R>),
}

impl<R: Read> Read for Utf8Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Utf8(input) => input.read(buf),
            Self::Utf16(input) => input.read(buf),
        }
    }
}

/// UTF-16 bytes read from `input`, handed out as UTF-8.
struct Utf16Reader<R> {
    input: R,
    decoder: Decoder,
    /// Room for bytes read from `input`.
    raw: Vec<u8>,
    /// Transcoded bytes not handed out yet, from `start`.
    decoded: Vec<u8>,
    start: usize,
    finished: bool,
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.start == self.decoded.len() {
            if self.finished {
                return Ok(0);
            }
            let read = loop {
                match self.input.read(&mut self.raw) {
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    result => break result?,
                }
            };
            let last = read == 0;
            self.finished = last;
            self.start = 0;
            self.decoded.clear();
            let mut source = &self.raw[..read];
            loop {
                let room = self
                    .decoder
                    .max_utf8_buffer_length(source.len())
                    .unwrap_or(source.len() * 3 + 16);
                let filled = self.decoded.len();
                self.decoded.resize(filled + room, 0);
                let (result, consumed, written, _) =
                    self.decoder
                        .decode_to_utf8(source, &mut self.decoded[filled..], last);
                self.decoded.truncate(filled + written);
                source = &source[consumed..];
                if result == CoderResult::InputEmpty {
                    break;
                }
            }
        }
        let n = buf.len().min(self.decoded.len() - self.start);
        buf[..n].copy_from_slice(&self.decoded[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// `input` without its leading UTF-8 byte order marks (all of them, so that the CSV reader,
/// which strips one itself when it sees it whole in its first read, never sees one: what it
/// reads must not depend on how the bytes arrive).
fn without_byte_order_mark(mut input: impl Read) -> io::Result<impl Read> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut prefix = [0_u8; 3];
    let filled = loop {
        let filled = read_prefix(&mut input, &mut prefix)?;
        if prefix[..filled] != *BOM {
            break filled;
        }
    };
    Ok(io::Cursor::new(prefix[..filled].to_vec()).chain(input))
}

fn read_csv(
    input: impl Read,
    delimiter: u8,
    on_entry: &mut dyn FnMut(String),
) -> Result<(), ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut records = reader.records();
    // The header, if any, is the first line with something in it: blank lines before it
    // (empty, or spaces only) may be of any length.
    let first = loop {
        match records.next().transpose().map_err(csv_error)? {
            None => return Ok(()),
            Some(record) if record.iter().all(str::is_empty) => {}
            Some(record) => break record,
        }
    };
    let header_column = first.iter().position(|cell| {
        DOMAIN_COLUMNS
            .iter()
            .any(|name| cell.eq_ignore_ascii_case(name))
    });
    let column = header_column.unwrap_or(0);
    if header_column.is_none()
        && let Some(entry) = first.get(column)
    {
        on_entry(entry.to_owned());
    }
    for record in records {
        let record = record.map_err(csv_error)?;
        if let Some(entry) = record.get(column) {
            on_entry(entry.to_owned());
        }
    }
    Ok(())
}

fn csv_error(error: csv::Error) -> ReadError {
    let line = error.position().map_or(0, csv::Position::line);
    match error.kind() {
        csv::ErrorKind::Io(_) => match error.into_kind() {
            csv::ErrorKind::Io(error) => ReadError::Io(error),
            kind => ReadError::Io(io::Error::other(format!("{kind:?}"))),
        },
        csv::ErrorKind::Utf8 { pos, .. } => {
            let (line, record_start) = pos.as_ref().map_or((line, 0), |p| (p.line(), p.byte()));
            ParseError::NotText {
                line,
                offset: record_start,
            }
            .into()
        }
        _ => ParseError::Csv {
            line,
            reason: error.to_string(),
        }
        .into(),
    }
}

fn read_json(input: impl Read, on_entry: &mut dyn FnMut(String)) -> Result<(), ReadError> {
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    Document { on_entry }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(json_error)
}

fn json_error(error: serde_json::Error) -> ReadError {
    use serde_json::error::Category;
    let (line, column) = (error.line(), error.column());
    match error.classify() {
        Category::Io => ReadError::Io(error.into()),
        Category::Data => ParseError::Shape {
            line,
            column,
            reason: strip_position(&error.to_string()),
        }
        .into(),
        Category::Syntax | Category::Eof => ParseError::Json {
            line,
            column,
            reason: strip_position(&error.to_string()),
        }
        .into(),
    }
}

/// serde_json ends its messages with " at line L column C"; we say that ourselves.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// One entry per line: a JSON string, or an object with `domain` or `url`, read like an item of
/// a JSON array; any other line is handed on as its text, so that it becomes one invalid entry
/// instead of failing the file.
fn read_ndjson(mut input: impl BufRead, on_entry: &mut dyn FnMut(String)) -> Result<(), ReadError> {
    let (mut line, mut number, mut offset) = (Vec::new(), 0_u64, 0_u64);
    loop {
        line.clear();
        let read = input.read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let Ok(text) = std::str::from_utf8(&line) else {
            return Err(ParseError::NotText {
                line: number,
                offset,
            }
            .into());
        };
        offset += read as u64;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let entry = Item { index: 0 }
            .deserialize(&mut deserializer)
            .and_then(|entry| deserializer.end().map(|()| entry));
        on_entry(entry.unwrap_or_else(|_| text.to_owned()));
    }
}

/// The whole JSON document: an array of entries, or an object with a `domains` array.
struct Document<'a> {
    on_entry: &'a mut dyn FnMut(String),
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(r#"an array of domains or an object with a "domains" array"#)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        read_items(seq, self.on_entry)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "domains" && !found {
                map.next_value_seed(Domains {
                    on_entry: &mut *self.on_entry,
                })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(de::Error::custom(
                r#"an object must have a "domains" array"#,
            ))
        }
    }
}

/// The value of `"domains"`: an array of entries.
struct Domains<'a> {
    on_entry: &'a mut dyn FnMut(String),
}

impl<'de> DeserializeSeed<'de> for Domains<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Domains<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(r#"an array under "domains""#)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        read_items(seq, self.on_entry)
    }
}

/// The items of an array, each taken whole as raw JSON first: serde_json refuses a number no
/// `f64` can hold (`1e999999`) while parsing it, which would fail the file, while the raw
/// text only has to be well-formed.
fn read_items<'de, A: SeqAccess<'de>>(
    mut seq: A,
    on_entry: &mut dyn FnMut(String),
) -> Result<(), A::Error> {
    let mut index = 0_usize;
    while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
        on_entry(read_item(raw.get(), index).map_err(de::Error::custom)?);
        index += 1;
    }
    Ok(())
}

/// One raw array item, read by [`Item`]; a number that does not fit is kept as its text.
fn read_item(raw: &str, index: usize) -> Result<String, String> {
    let raw = raw.trim();
    Item { index }
        .deserialize(&mut serde_json::Deserializer::from_str(raw))
        .or_else(|error| {
            if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                Ok(raw.to_owned())
            } else {
                Err(strip_position(&error.to_string()))
            }
        })
}

/// One array item: a string, an object with `domain` or `url`, or a scalar taken as text
/// (it becomes an invalid entry rather than failing the file).
struct Item {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for Item {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            r#"item {} to be a string or an object with a "domain" or "url" string"#,
            self.index
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
        Ok(value)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok("null".to_owned())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        let (mut domain, mut url) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "domain" => domain = map.next_value::<Option<String>>()?,
                "url" => url = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        domain.or(url).ok_or_else(|| {
            de::Error::custom(format!(
                r#"item {} has no "domain" or "url" string"#,
                self.index
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_entries(file_type: FileType, bytes: &[u8]) -> Result<Vec<String>, ParseError> {
        let mut entries = Vec::new();
        match read_entries(file_type, bytes, |entry| entries.push(entry)) {
            Ok(()) => Ok(entries),
            Err(ReadError::Parse(error)) => Err(error),
            Err(ReadError::Io(error)) => panic!("reading a slice failed: {error}"),
        }
    }

    fn csv(text: &str) -> Vec<String> {
        parse_entries(FileType::Csv, text.as_bytes()).unwrap()
    }

    fn json(text: &str) -> Result<Vec<String>, ParseError> {
        parse_entries(FileType::Json, text.as_bytes())
    }

    #[test]
    fn tsv_is_split_on_tabs() {
        let tsv = |text: &str| parse_entries(FileType::Tsv, text.as_bytes()).unwrap();
        assert_eq!(
            tsv("rank\tdomain\n1\ta.com\n2\tb.com, c.com\n"),
            ["a.com", "b.com, c.com"]
        );
        assert_eq!(tsv("a.com\nb.com"), ["a.com", "b.com"]);
    }

    #[test]
    fn ndjson_has_one_entry_per_line_and_a_bad_line_is_one_entry() {
        let ndjson = |text: &str| parse_entries(FileType::Ndjson, text.as_bytes());
        assert_eq!(
            ndjson(
                "\"a.com\"\n{\"domain\":\"b.com\",\"rank\":2}\r\n\n  {\"url\":\"https://c.com\"}"
            )
            .unwrap(),
            ["a.com", "b.com", "https://c.com"]
        );
        assert_eq!(
            ndjson("{\"name\":\"x\"}\n[1,\n\"ok.com\"\n1e999999\nplain.com").unwrap(),
            ["{\"name\":\"x\"}", "[1,", "ok.com", "1e999999", "plain.com"]
        );
        assert_eq!(
            parse_entries(FileType::Ndjson, b"\"a.com\"\n\"b\xff\"").unwrap_err(),
            ParseError::NotText { line: 2, offset: 8 }
        );
    }

    #[test]
    fn csv_with_and_without_header() {
        assert_eq!(csv("a.com\nb.com\n"), ["a.com", "b.com"]);
        assert_eq!(csv("rank,Website\n1,a.com\n2,b.com"), ["a.com", "b.com"]);
        assert_eq!(
            csv("\u{feff}DOMAIN\r\na.com\r\n\r\nb.com"),
            ["a.com", "b.com"]
        );
        assert_eq!(csv("a.com,1\nb.com"), ["a.com", "b.com"]);
        assert_eq!(csv(""), Vec::<String>::new());
    }

    #[test]
    fn json_shapes() {
        assert_eq!(json(r#"["a.com","b.com"]"#).unwrap(), ["a.com", "b.com"]);
        assert_eq!(
            json(r#"[{"domain":"a.com","rank":1},{"url":"https://b.com"}]"#).unwrap(),
            ["a.com", "https://b.com"]
        );
        assert_eq!(
            json(r#"{"source":{"x":[1]},"domains":["a.com"]}"#).unwrap(),
            ["a.com"]
        );
        assert_eq!(
            json("\u{feff}[1, \"a.com\", null, \" \"]").unwrap(),
            ["1", "a.com", "null"]
        );
    }

    #[test]
    fn malformed_files_name_the_place() {
        let error = json("[\"a.com\",\n  \"b.com\"").unwrap_err();
        assert!(matches!(error, ParseError::Json { line: 2, .. }), "{error}");
        let error = json(r#"{"sites":[]}"#).unwrap_err();
        assert!(
            error.to_string().contains(r#"must have a "domains" array"#),
            "{error}"
        );
        let error = json("[\"a.com\",\n{\"name\":\"x\"}]").unwrap_err();
        assert!(
            matches!(&error, ParseError::Shape { line: 2, reason, .. } if reason.contains("item 1")),
            "{error}"
        );
        assert!(matches!(json("42"), Err(ParseError::Shape { .. })));
        assert!(matches!(
            json(r#"["a.com"] trailing"#),
            Err(ParseError::Json { .. })
        ));
        let error = parse_entries(FileType::Csv, b"a.com\n\xff\xfe").unwrap_err();
        assert_eq!(error, ParseError::NotText { line: 2, offset: 6 });
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    /// A reader that fails after some bytes, like an S3 body cut off mid-way.
    struct Interrupted<'a>(&'a [u8]);

    impl Read for Interrupted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
            }
            let n = self.0.read(buf)?;
            Ok(n)
        }
    }

    #[test]
    fn a_broken_stream_is_not_a_malformed_file() {
        for file_type in [FileType::Csv, FileType::Json, FileType::Ndjson] {
            let result = read_entries(file_type, Interrupted(b"[\"a.com\", \"b"), |_| {});
            assert!(matches!(result, Err(ReadError::Io(_))), "{result:?}");
        }
    }

    /// A reader that hands out one byte at a time, like a slow network stream.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn what_is_read_does_not_depend_on_how_the_bytes_arrive() {
        for text in [
            "\u{feff}\u{feff}domain\na.com\n",
            "\u{feff}a.com\nb.com",
            "\u{feff}[\"a.com\"]",
        ] {
            for file_type in [
                FileType::Csv,
                FileType::Tsv,
                FileType::Json,
                FileType::Ndjson,
            ] {
                let mut whole = Vec::new();
                let whole_result = read_entries(file_type, text.as_bytes(), |e| whole.push(e));
                let mut trickled = Vec::new();
                let trickled_result =
                    read_entries(file_type, Trickle(text.as_bytes()), |e| trickled.push(e));
                assert_eq!(whole, trickled, "{text:?} as {file_type:?}");
                assert_eq!(whole_result.is_ok(), trickled_result.is_ok(), "{text:?}");
            }
        }
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_read_as_text() {
        let utf16 = |text: &str, little: bool| {
            let mut bytes = if little {
                vec![0xFF, 0xFE]
            } else {
                vec![0xFE, 0xFF]
            };
            for unit in text.encode_utf16() {
                bytes.extend(if little {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            bytes
        };
        for little in [true, false] {
            let csv = utf16("\u{feff}Domain\r\na.com\r\nbücher.de\r\n", little);
            assert_eq!(
                parse_entries(FileType::Csv, &csv).unwrap(),
                ["a.com", "bücher.de"]
            );
            let json = utf16(r#"{"domains": ["a.com", "b.com"]}"#, little);
            assert_eq!(
                parse_entries(FileType::Json, &json).unwrap(),
                ["a.com", "b.com"]
            );
            let mut trickled = Vec::new();
            read_entries(FileType::Csv, Trickle(&csv), |e| trickled.push(e)).unwrap();
            assert_eq!(trickled, ["a.com", "bücher.de"]);
        }
        // An unpaired surrogate and an odd last byte: replacement characters, not a failure.
        let mut broken = utf16("a.com\n", true);
        broken.extend_from_slice(&[0x00, 0xD8, b'b', 0, b'\n', 0, b'x']);
        assert_eq!(
            parse_entries(FileType::Csv, &broken).unwrap(),
            ["a.com", "\u{fffd}b", "\u{fffd}"]
        );
    }

    #[test]
    fn blank_content_before_the_first_entry_may_be_long() {
        let blank = "\n \r\n\t\n,\n".repeat(10_000);
        assert_eq!(
            csv(&format!("{blank}domain\na.com\n")),
            ["a.com"],
            "the header is found after the blank lines"
        );
        let blank = blank.replace(',', " ");
        assert_eq!(json(&format!("{blank}[\"a.com\"]")).unwrap(), ["a.com"]);
        assert_eq!(
            parse_entries(FileType::Ndjson, format!("{blank}\"a.com\"").as_bytes()).unwrap(),
            ["a.com"]
        );
        assert_eq!(
            parse_entries(FileType::Tsv, format!("{blank}host\na.com").as_bytes()).unwrap(),
            ["a.com"]
        );
    }

    #[test]
    fn a_number_no_float_holds_is_one_entry() {
        assert_eq!(
            json(r#"["a.com", 1e999999, -1e999999, 12, {"domain": "b.com"}]"#).unwrap(),
            ["a.com", "1e999999", "-1e999999", "12", "b.com"]
        );
        assert_eq!(
            json(r#"{"domains": [1e999999], "other": 1e999999}"#).unwrap(),
            ["1e999999"]
        );
        let error = json("[\"a.com\",\n{\"domain\": 1e999999}]").unwrap_err();
        assert!(
            matches!(&error, ParseError::Shape { line: 2, reason, .. } if reason.contains("number")),
            "{error}"
        );
    }

    #[test]
    fn entries_arrive_as_they_are_read() {
        let text = "domain\n".to_owned() + &"x.com\n".repeat(100_000);
        let mut count = 0;
        read_entries(FileType::Csv, text.as_bytes(), |_| count += 1).unwrap();
        assert_eq!(count, 100_000);
    }
}
