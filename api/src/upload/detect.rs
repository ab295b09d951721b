//! Recognising CSV, TSV, JSON and NDJSON by content as well as by name and media type.

use entity::FileType;

use crate::error::ApiError;

/// How many leading bytes [`detect_file_type`] wants to see.
pub const SNIFF_BYTES: usize = 4096;

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

/// Decides whether an upload is CSV, TSV, JSON or NDJSON from its name, its declared media type
/// and its first bytes. A declared TSV or NDJSON (by extension or media type) is read as
/// declared; otherwise content decides: a JSON document, JSON values one per line (NDJSON), a
/// first line with tabs and no comma (TSV), else CSV. A name or media type that declares
/// another format, binary content, or JSON declared but not present is a 415. Empty content is
/// a 400.
pub fn detect_file_type(
    file_name: Option<&str>,
    media_type: Option<&str>,
    head: &[u8],
) -> Result<FileType, ApiError> {
    let extension = file_name
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    if let Some(reason) = declares_other(extension.as_deref(), media_type) {
        return Err(ApiError::UnsupportedMediaType(reason));
    }
    let content = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = content.iter().find(|byte| !byte.is_ascii_whitespace());
    let Some(first) = first else {
        return Err(ApiError::bad_request(
            "empty_file",
            "the uploaded file is empty",
        ));
    };
    if content.contains(&0) || !is_text(content) {
        return Err(ApiError::UnsupportedMediaType(
            "the file content is binary, not CSV, TSV, JSON or NDJSON text".to_owned(),
        ));
    }
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
    let looks_like_json = matches!(first, b'[' | b'{');
    match (looks_like_json, declares(&["json"], &["json"])) {
        (true, _) => Ok(FileType::Json),
        (false, true) => Err(ApiError::UnsupportedMediaType(
            "the file is declared as JSON but its content is not a JSON array or object".to_owned(),
        )),
        (false, false) if is_tab_separated(content) => Ok(FileType::Tsv),
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

/// A first line with a tab and no comma: a spreadsheet's tab-separated export.
fn is_tab_separated(content: &[u8]) -> bool {
    let first_line = content
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or_default();
    first_line.contains(&b'\t') && !first_line.contains(&b',')
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
            detect("a.csv", "text/csv", b"\xff\xfe\xfd\xfc garbage"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            detect("a.json", "application/json", b"example.com"),
            Err(ApiError::UnsupportedMediaType(_))
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
    fn a_character_cut_by_the_window_is_still_text() {
        let mut head = b"caf".to_vec();
        head.extend_from_slice(&"\u{e9}".as_bytes()[..1]);
        assert!(is_text(&head));
    }
}
