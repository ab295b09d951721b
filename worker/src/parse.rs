//! Reading the entries of an uploaded domain list, CSV, TSV, JSON or NDJSON, as a stream:
//! entries are handed to a callback as they are read, so a file is never held whole in memory.
//!
//! CSV and TSV: with or without a header; the domain column is the one named `domain`, `url`,
//! `website` or `host` (any case), else the first. JSON: an array of strings, an array of
//! objects with a `domain` (or `url`) field, or `{"domains": [...]}`. NDJSON: one such string
//! or object per line; a line that is neither is kept as its text (an invalid entry).

use std::{
    fmt,
    io::{self, BufRead, BufReader, Read},
};

use entity::FileType;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
    let input = BufReader::with_capacity(64 * 1024, without_byte_order_mark(input)?);
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

/// `input` without its leading UTF-8 byte order marks (all of them, so that the CSV reader,
/// which strips one itself when it sees it whole in its first read, never sees one: what it
/// reads must not depend on how the bytes arrive).
fn without_byte_order_mark(mut input: impl Read) -> io::Result<impl Read> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut prefix = [0_u8; 3];
    let filled = loop {
        let mut filled = 0;
        while filled < prefix.len() {
            match input.read(&mut prefix[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
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
    let Some(first) = records.next().transpose().map_err(csv_error)? else {
        return Ok(());
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

fn read_items<'de, A: SeqAccess<'de>>(
    mut seq: A,
    on_entry: &mut dyn FnMut(String),
) -> Result<(), A::Error> {
    let mut index = 0_usize;
    while let Some(entry) = seq.next_element_seed(Item { index })? {
        on_entry(entry);
        index += 1;
    }
    Ok(())
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
    fn entries_arrive_as_they_are_read() {
        let text = "domain\n".to_owned() + &"x.com\n".repeat(100_000);
        let mut count = 0;
        read_entries(FileType::Csv, text.as_bytes(), |_| count += 1).unwrap();
        assert_eq!(count, 100_000);
    }
}
