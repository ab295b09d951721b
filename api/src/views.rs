//! What the API shows of files and results: the JSON shapes of its answers, built from the
//! rows the data layer returns.

use chrono::Utc;
use entity::{FileStatus, FileType, ResultStatus, files, results};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Progress counters of a file, as the API shows them.
///
/// `percent` always agrees with the counters: `processed / total`, rounded down to a tenth,
/// 0 while `total` is not known. A COMPLETED file is at 100 (its counters add up:
/// `processed == total`). A FAILED file says how far it got before it failed: 0 when it could
/// not be read at all, less than 100 when it failed midway, never a 100 that `processed`
/// contradicts.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Progress {
    /// Distinct domains in the file (known once the worker has read it; 0 for a file that
    /// failed before).
    pub total: i32,
    /// Domains with a favicon.
    pub succeeded: i32,
    /// Domains without one.
    pub failed: i32,
    /// `succeeded + failed`: domains with a result.
    pub processed: i32,
    /// `processed / total` in percent, rounded down to a tenth: 0 to 100, 100 for a COMPLETED
    /// file, what was done before the failure for a FAILED one.
    pub percent: f64,
}

impl Progress {
    /// The counters of `file`.
    pub fn of(file: &files::Model) -> Self {
        let processed = file.succeeded_count + file.failed_count;
        let percent = if file.status == FileStatus::Completed {
            100.0
        } else if file.total_count > 0 {
            let tenths = (f64::from(processed) * 1000.0 / f64::from(file.total_count)).floor();
            (tenths / 10.0).min(100.0)
        } else {
            0.0
        };
        Self {
            total: file.total_count,
            succeeded: file.succeeded_count,
            failed: file.failed_count,
            processed,
            percent,
        }
    }
}

/// A file as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    /// The file's id.
    pub id: Uuid,
    /// The name it was uploaded with.
    pub original_name: String,
    /// `csv`, `tsv`, `json` or `ndjson`.
    pub file_type: FileType,
    /// Its size in bytes.
    pub size_bytes: i64,
    /// `PENDING`, `PROCESSING`, `COMPLETED`, `FAILED` or `CANCELLED`.
    pub status: FileStatus,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
    /// Counters.
    pub progress: Progress,
    /// When it was uploaded.
    pub created_at: chrono::DateTime<Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<Utc>,
    /// When it reached a terminal status.
    pub processed_at: Option<chrono::DateTime<Utc>>,
}

impl From<files::Model> for FileView {
    fn from(file: files::Model) -> Self {
        Self {
            progress: Progress::of(&file),
            id: file.id,
            original_name: file.original_name,
            file_type: file.file_type,
            size_bytes: file.size_bytes,
            status: file.status,
            error_message: file.error_message,
            created_at: file.created_at,
            updated_at: file.updated_at,
            processed_at: file.processed_at,
        }
    }
}

/// One domain's result as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultView {
    /// Index of the domain among the file's distinct entries, from 0.
    pub position: i32,
    /// The normalised domain (or the raw entry when it was invalid).
    pub domain: String,
    /// The favicon's URL at its origin, on success.
    pub favicon_url: Option<String>,
    /// The icon from our own store, on success: `/icons/{domain}` (same API key; takes
    /// `size`, `format`, `theme`).
    pub icon_url: Option<String>,
    /// What the favicon is, on success.
    pub icon: Option<IconView>,
    /// `success` or `failed`.
    pub status: ResultStatus,
    /// Why it failed, by kind: `invalid_domain`, `dns`, `connect`, `tls`, `timeout`,
    /// `http_status`, `not_image`, `no_icon`, `blocked` or `too_large`.
    pub error_category: Option<String>,
    /// Why it failed: `category: detail`.
    pub error: Option<String>,
    /// Fetch attempts made.
    pub tries: i32,
    /// Answered from a recent result of the same domain, without fetching.
    pub from_cache: bool,
}

/// The chosen icon, as read from its bytes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IconView {
    /// `ico`, `png`, `gif`, `jpeg`, `webp`, `bmp` or `svg`.
    pub format: String,
    /// Width in pixels (the largest entry of an ICO; 0 for an SVG without a size).
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Size in bytes.
    pub bytes: i64,
    /// Where it was declared: `link`, `manifest` or `fallback`.
    pub source: String,
}

impl From<results::Model> for ResultView {
    fn from(result: results::Model) -> Self {
        let icon = match (result.icon_format, result.icon_source) {
            (Some(format), Some(source)) => Some(IconView {
                format,
                width: result.icon_width.unwrap_or_default(),
                height: result.icon_height.unwrap_or_default(),
                bytes: result.icon_bytes.unwrap_or_default(),
                source,
            }),
            _ => None,
        };
        Self {
            icon_url: icon_url(&result.domain, result.status),
            position: result.position,
            domain: result.domain,
            favicon_url: result.favicon_url,
            icon,
            status: result.status,
            error_category: result.error_category,
            error: result.error,
            tries: result.tries,
            from_cache: result.from_cache,
        }
    }
}

/// Where our own copy of a result's icon is served: `/icons/{domain}` for a found icon (a
/// normalised domain is a host name, safe in a path).
pub fn icon_url(domain: &str, status: ResultStatus) -> Option<String> {
    (status == ResultStatus::Success).then(|| format!("/icons/{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(status: FileStatus, total: i32, succeeded: i32, failed: i32) -> files::Model {
        let now = Utc::now();
        files::Model {
            id: Uuid::nil(),
            client_id: Uuid::nil(),
            original_name: "d.csv".to_owned(),
            s3_bucket: "b".to_owned(),
            s3_key: "k".to_owned(),
            file_type: FileType::Csv,
            size_bytes: 1,
            status,
            error_message: None,
            total_count: total,
            succeeded_count: succeeded,
            failed_count: failed,
            published_at: None,
            lease_owner: None,
            lease_expires_at: None,
            processed_at: None,
            chunk_count: 0,
            callback_url: None,
            created_at: now,
            updated_at: now,
            change_seq: 0,
        }
    }

    fn percent(status: FileStatus, total: i32, succeeded: i32, failed: i32) -> f64 {
        Progress::of(&file(status, total, succeeded, failed)).percent
    }

    #[test]
    fn percent_agrees_with_the_counters_whatever_the_status() {
        assert_eq!(percent(FileStatus::Pending, 0, 0, 0), 0.0);
        assert_eq!(percent(FileStatus::Processing, 3, 1, 0), 33.3);
        assert_eq!(percent(FileStatus::Processing, 3, 2, 1), 100.0);
        assert_eq!(percent(FileStatus::Completed, 3, 2, 1), 100.0);
        assert_eq!(percent(FileStatus::Failed, 0, 0, 0), 0.0, "unreadable file");
        assert_eq!(
            percent(FileStatus::Failed, 200, 120, 30),
            75.0,
            "failed midway"
        );
        let progress = Progress::of(&file(FileStatus::Failed, 200, 120, 30));
        assert_eq!((progress.processed, progress.total), (150, 200));
    }
}
