//! Reading the entries of an uploaded domain list, CSV or JSON.
//!
//! CSV: with or without a header; the domain column is the one named `domain`, `url`,
//! `website` or `host` (any case), else the first. JSON: an array of strings, an array of
//! objects with a `domain` (or `url`) field, or `{"domains": [...]}`.

use entity::FileType;
use serde_json::Value;

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
    #[error("unsupported JSON shape: {0}")]
    Shape(String),
    /// Bytes that are not UTF-8 text.
    #[error("the file is not UTF-8 text: invalid byte at line {line} (byte offset {offset})")]
    NotText {
        /// 1-based line of the first invalid byte.
        line: usize,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
}

/// The raw entries of a file, in order, blank ones dropped.
pub fn parse_entries(file_type: FileType, bytes: &[u8]) -> Result<Vec<String>, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        let line = 1 + bytes[..offset]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count();
        ParseError::NotText { line, offset }
    })?;
    let entries = match file_type {
        FileType::Csv => parse_csv(text)?,
        FileType::Json => parse_json(text)?,
    };
    Ok(entries
        .into_iter()
        .filter(|entry| !entry.trim().is_empty())
        .collect())
}

fn parse_csv(text: &str) -> Result<Vec<String>, ParseError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let csv_error = |error: csv::Error| ParseError::Csv {
        line: error.position().map_or(0, csv::Position::line),
        reason: error.to_string(),
    };
    let Some(first) = records.next().transpose().map_err(csv_error)? else {
        return Ok(Vec::new());
    };
    let header_column = first.iter().position(|cell| {
        DOMAIN_COLUMNS
            .iter()
            .any(|name| cell.eq_ignore_ascii_case(name))
    });
    let column = header_column.unwrap_or(0);
    let mut entries = Vec::new();
    if header_column.is_none() {
        entries.extend(first.get(column).map(str::to_owned));
    }
    for record in records {
        let record = record.map_err(csv_error)?;
        entries.extend(record.get(column).map(str::to_owned));
    }
    Ok(entries)
}

fn parse_json(text: &str) -> Result<Vec<String>, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(|error| ParseError::Json {
        line: error.line(),
        column: error.column(),
        reason: error.to_string(),
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("domains") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(ParseError::Shape(
                    "an object must have a \"domains\" array".to_owned(),
                ));
            }
        },
        _ => {
            return Err(ParseError::Shape(
                "expected an array or an object".to_owned(),
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(domain) => Ok(domain),
            Value::Object(object) => ["domain", "url"]
                .iter()
                .find_map(|key| object.get(*key).and_then(Value::as_str))
                .map(str::to_owned)
                .ok_or_else(|| {
                    ParseError::Shape(format!("item {index} has no \"domain\" or \"url\" string"))
                }),
            other => Ok(other.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Vec<String> {
        parse_entries(FileType::Csv, text.as_bytes()).unwrap()
    }

    fn json(text: &str) -> Result<Vec<String>, ParseError> {
        parse_entries(FileType::Json, text.as_bytes())
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
    }

    #[test]
    fn json_shapes() {
        assert_eq!(json(r#"["a.com","b.com"]"#).unwrap(), ["a.com", "b.com"]);
        assert_eq!(
            json(r#"[{"domain":"a.com"},{"url":"https://b.com"}]"#).unwrap(),
            ["a.com", "https://b.com"]
        );
        assert_eq!(json(r#"{"domains":["a.com"]}"#).unwrap(), ["a.com"]);
        assert_eq!(json(r#"[1, "a.com"]"#).unwrap(), ["1", "a.com"]);
    }

    #[test]
    fn malformed_files_name_the_place() {
        let error = json("[\"a.com\",\n  \"b.com\"").unwrap_err();
        assert!(matches!(error, ParseError::Json { line: 2, .. }), "{error}");
        assert!(matches!(json(r#"{"sites":[]}"#), Err(ParseError::Shape(_))));
        assert!(matches!(
            json(r#"[{"name":"x"}]"#),
            Err(ParseError::Shape(_))
        ));
        let error = parse_entries(FileType::Csv, b"a.com\n\xff\xfe").unwrap_err();
        assert_eq!(error, ParseError::NotText { line: 2, offset: 6 });
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
