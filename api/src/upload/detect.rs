//! Recognising CSV and JSON by content as well as by name and media type.

use entity::FileType;

use crate::error::ApiError;

/// How many leading bytes [`detect_file_type`] wants to see.
pub const SNIFF_BYTES: usize = 4096;

/// Extensions and media types that declare something other than CSV or JSON.
fn declares_other(extension: Option<&str>, media_type: Option<&str>) -> Option<String> {
    let text_extensions = ["csv", "json", "txt", "tsv", "ndjson"];
    if let Some(ext) = extension
        && !text_extensions.contains(&ext)
    {
        return Some(format!(
            "files of type .{ext} are not accepted; upload CSV or JSON"
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
    (!accepted).then(|| format!("media type {media_type} is not accepted; upload CSV or JSON"))
}

/// Decides whether an upload is CSV or JSON from its name, its declared media type and its
/// first bytes. Content decides between the two; a name or media type that declares another
/// format, binary content, or JSON declared but not present is a 415. Empty content is a 400.
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
            "the file content is binary, not CSV or JSON text".to_owned(),
        ));
    }
    let looks_like_json = matches!(first, b'[' | b'{');
    let declared_json = extension.as_deref() == Some("json")
        || media_type.is_some_and(|media_type| media_type.to_ascii_lowercase().contains("json"));
    match (looks_like_json, declared_json) {
        (true, _) => Ok(FileType::Json),
        (false, true) => Err(ApiError::UnsupportedMediaType(
            "the file is declared as JSON but its content is not a JSON array or object".to_owned(),
        )),
        (false, false) => Ok(FileType::Csv),
    }
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
