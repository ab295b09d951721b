//! Safe object names from whatever a browser or script calls its file.

use entity::FileType;

const MAX_NAME_CHARS: usize = 100;

/// The last path component of `original`, with control characters dropped, anything but
/// ASCII letters, digits, `.`, `-` and `_` replaced by `_`, no leading dots (so never `..`),
/// at most 100 characters; `upload.{type}` when nothing is left (`upload.txt` while the type
/// is not known).
pub fn sanitize_file_name(original: &str, file_type: Option<FileType>) -> String {
    let last = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = last
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_start_matches('.').to_owned();
    if name.chars().count() > MAX_NAME_CHARS {
        name = name
            .chars()
            .rev()
            .take(MAX_NAME_CHARS)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        name = name.trim_start_matches('.').to_owned();
    }
    if name.trim_matches('_').is_empty() {
        return format!("upload.{}", file_type.map_or("txt", FileType::as_str));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_traversal_and_control_characters_are_removed() {
        assert_eq!(
            sanitize_file_name("../../etc/passwd", Some(FileType::Csv)),
            "passwd"
        );
        assert_eq!(
            sanitize_file_name("..\\..\\win.ini", Some(FileType::Csv)),
            "win.ini"
        );
        assert_eq!(sanitize_file_name("..", Some(FileType::Csv)), "upload.csv");
        assert_eq!(
            sanitize_file_name("a\u{0}b\nc.csv", Some(FileType::Csv)),
            "abc.csv"
        );
        assert_eq!(
            sanitize_file_name("my list (1).csv", Some(FileType::Csv)),
            "my_list__1_.csv"
        );
        assert_eq!(sanitize_file_name("", Some(FileType::Json)), "upload.json");
        assert_eq!(
            sanitize_file_name("données.json", Some(FileType::Json)),
            "donn_es.json"
        );
    }

    #[test]
    fn long_names_keep_their_extension() {
        let name = format!("{}.csv", "a".repeat(300));
        let sanitized = sanitize_file_name(&name, Some(FileType::Csv));
        assert_eq!(sanitized.chars().count(), MAX_NAME_CHARS);
        assert!(sanitized.ends_with(".csv"));
    }
}
