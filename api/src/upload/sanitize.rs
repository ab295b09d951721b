//! Safe names from whatever a browser or script calls its file: the name shown back to the
//! client, the S3 object's name and the download's name.
//!
//! The name a client gives is data, shown in JSON and in logs, and becomes part of a download's
//! `Content-Disposition`. Invisible characters are dropped from it: controls, which forge log
//! lines, and Unicode format characters (category Cf), among them the bidirectional overrides
//! that make `report\u{202E}vsc.exe` display as `reportexe.csv`. It is capped in length.

use entity::FileType;
use uuid::Uuid;

/// The most characters of an object's name.
const MAX_NAME_CHARS: usize = 100;
/// The most bytes of a stored (displayed) file name.
pub const MAX_DISPLAY_NAME_BYTES: usize = 255;
/// The most characters of a download's name before `-results.csv`.
const MAX_DOWNLOAD_STEM_CHARS: usize = 100;
/// Where a capped name was cut.
const ELLIPSIS: &str = "\u{2026}";

/// Unicode's format characters (general category Cf, Unicode 16.0): invisible, and among them
/// the bidirectional controls (U+202A–U+202E, U+2066–U+2069) that reorder what is displayed.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{ad}', '\u{ad}'),
    ('\u{600}', '\u{605}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{6dd}', '\u{6dd}'),
    ('\u{70f}', '\u{70f}'),
    ('\u{890}', '\u{891}'),
    ('\u{8e2}', '\u{8e2}'),
    ('\u{180e}', '\u{180e}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{fff9}', '\u{fffb}'),
    ('\u{110bd}', '\u{110bd}'),
    ('\u{110cd}', '\u{110cd}'),
    ('\u{13430}', '\u{1343f}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0001}', '\u{e0001}'),
    ('\u{e0020}', '\u{e007f}'),
];

/// Controls (Cc), format characters (Cf) and the line and paragraph separators (U+2028,
/// U+2029): characters that are invisible or break lines.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || FORMAT_CHARACTERS
            .binary_search_by(|&(first, last)| {
                if last < c {
                    std::cmp::Ordering::Less
                } else if first > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// `name` without invisible characters ([`is_invisible`]), not yet capped.
pub fn visible(name: &str) -> String {
    name.chars().filter(|c| !is_invisible(*c)).collect()
}

/// The name stored and shown for an upload called `original`: its visible characters, at
/// most [`MAX_DISPLAY_NAME_BYTES`] bytes. A longer name keeps its start and its extension,
/// joined by `…`, cut on a character boundary.
pub fn display_name(original: &str) -> String {
    cap_bytes(&visible(original), MAX_DISPLAY_NAME_BYTES)
}

/// `name` in at most `max` bytes (`max` above a few dozen): its start, `…` and its extension
/// (when it has a short one).
fn cap_bytes(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension)
        .filter(|extension| extension.len() <= 16 && !extension.contains(['/', '\\']))
        .map(|extension| format!(".{extension}"))
        .unwrap_or_default();
    let mut end = max - ELLIPSIS.len() - extension.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}{extension}", &name[..end])
}

/// The last component of a path-like name (after the last `/` or `\\`): what a type is
/// judged by.
pub fn last_component(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or_default()
}

/// The last path component of `original`, with control characters dropped, anything but
/// ASCII letters, digits, `.`, `-` and `_` replaced by `_`, no leading dots (so never `..`),
/// at most 100 characters; `upload.{type}` when nothing is left (`upload.txt` while the type
/// is not known).
pub fn sanitize_file_name(original: &str, file_type: Option<FileType>) -> String {
    let mut name: String = last_component(original)
        .chars()
        .filter(|c| !is_invisible(*c))
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

/// The `Content-Disposition` of the results download of a file called `original_name`:
/// `attachment; filename="{stem}-results.csv"`, where the stem is the name's last component
/// without extension, reduced to ASCII letters, digits, `.`, `-` and `_` (others become `_`),
/// never starting with a dot (no hidden files) and at most 100 characters (the file id when
/// nothing is left). When the visible stem holds other characters, `filename*` (RFC 6266)
/// carries it in UTF-8 too, equally capped, for clients that read it; curl's `-J` and older
/// clients use `filename`.
pub fn download_disposition(original_name: &str, file_id: Uuid) -> String {
    download_disposition_as(original_name, file_id, "csv")
}

/// [`download_disposition`] for a download in another format: `{stem}-results.{extension}`.
pub fn download_disposition_as(original_name: &str, file_id: Uuid, extension: &str) -> String {
    let last = last_component(original_name);
    let stem = last.rsplit_once('.').map_or(last, |(stem, _)| stem);
    let stem: String = visible(stem)
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(MAX_DOWNLOAD_STEM_CHARS)
        .collect();
    let ascii: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = if ascii.trim_matches('_').is_empty() {
        file_id.to_string()
    } else {
        ascii
    };
    let mut disposition = format!("attachment; filename=\"{ascii}-results.{extension}\"");
    if !stem.is_empty() && stem != ascii {
        disposition.push_str("; filename*=UTF-8''");
        disposition.push_str(&percent_encode(&format!("{stem}-results.{extension}")));
    }
    disposition
}

/// RFC 8187's encoding of a parameter value: `attr-char`s as they are, every other byte as
/// `%XX`.
fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
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
    fn displayed_names_lose_invisible_characters_and_are_capped_on_a_character_boundary() {
        assert_eq!(display_name("report\u{202E}vsc.csv"), "reportvsc.csv");
        assert_eq!(
            display_name("a\u{200B}b\u{2066}c\u{FEFF}d\u{2028}e\u{E0041}\u{0}\n.csv"),
            "abcde.csv"
        );
        assert_eq!(display_name("données (1).csv"), "données (1).csv");
        let long = display_name(&format!("{}.csv", "é".repeat(300)));
        assert!(long.len() <= MAX_DISPLAY_NAME_BYTES, "{}", long.len());
        assert!(long.ends_with("\u{2026}.csv"), "{long}");
        assert!(long.starts_with("ééé"), "{long}");
        let no_extension = display_name(&"x".repeat(100_000));
        assert_eq!(no_extension.len(), MAX_DISPLAY_NAME_BYTES);
        assert!(no_extension.ends_with('\u{2026}'));
    }

    #[test]
    fn every_format_character_range_is_sorted_and_found() {
        assert!(FORMAT_CHARACTERS.windows(2).all(|w| w[0].1 < w[1].0));
        for (first, last) in FORMAT_CHARACTERS {
            assert!(is_invisible(*first) && is_invisible(*last));
        }
        for visible in ['a', 'é', '\u{2026}', '\u{202F}', '\u{E0080}'] {
            assert!(!is_invisible(visible), "{visible:?}");
        }
    }

    #[test]
    fn downloads_are_named_after_the_file_never_hidden_never_long() {
        let id = Uuid::nil();
        let disposition = |name: &str| download_disposition(name, id);
        assert_eq!(
            disposition("domains.csv"),
            "attachment; filename=\"domains-results.csv\""
        );
        assert_eq!(
            disposition(".hidden.csv"),
            "attachment; filename=\"hidden-results.csv\""
        );
        assert_eq!(
            disposition("../../etc/passwd"),
            "attachment; filename=\"passwd-results.csv\""
        );
        assert_eq!(
            disposition("données.csv"),
            "attachment; filename=\"donn_es-results.csv\"; \
             filename*=UTF-8''donn%C3%A9es-results.csv"
        );
        assert_eq!(
            disposition("отчёт.csv"),
            format!(
                "attachment; filename=\"{id}-results.csv\"; filename*=UTF-8''\
                 %D0%BE%D1%82%D1%87%D1%91%D1%82-results.csv"
            )
        );
        assert_eq!(
            disposition(".csv"),
            format!("attachment; filename=\"{id}-results.csv\"")
        );
        assert_eq!(
            disposition("a\"b;c\u{202E}.csv"),
            "attachment; filename=\"a_b_c-results.csv\"; filename*=UTF-8''a%22b%3Bc-results.csv"
        );
        let long = disposition(&format!("{}.csv", "n".repeat(200_000)));
        assert_eq!(
            long,
            format!("attachment; filename=\"{}-results.csv\"", "n".repeat(100))
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
