//! Streaming a file's results as a download, in any of its formats: batches of rows are read
//! by position as the client consumes them, so memory stays flat however many rows there are.
//! The one place downloads are streamed; each format only says how a batch is rendered.

use axum::{
    body::Body,
    http::header,
    response::{IntoResponse, Response},
};
use entity::{files, results};
use futures::StreamExt;

use crate::{csv_export, error::ApiError, state::AppState, upload, views::ResultView};

/// Rows fetched per database round trip while streaming a download.
const DOWNLOAD_BATCH: u64 = 2000;

/// The formats a file's results download in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownloadFormat {
    /// CSV with a header line ([`csv_export`]); the default.
    #[default]
    Csv,
    /// Newline-delimited JSON: one result per line, shaped as in `GET /files/{id}/results`.
    Jsonl,
}

impl DownloadFormat {
    /// Reads `?format=`: `csv` or `jsonl` (any case); anything else is a 400.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("csv") => Ok(Self::Csv),
            Some("jsonl") => Ok(Self::Jsonl),
            Some(_) => Err(ApiError::bad_request(
                "invalid_format",
                "format: expected csv or jsonl",
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }

    /// A batch of rows in this format; `first` is the download's first batch (the CSV header
    /// goes before it).
    fn render(self, rows: Vec<results::Model>, first: bool) -> std::io::Result<Vec<u8>> {
        match self {
            Self::Csv => csv_export::csv_rows(&rows, first).map_err(std::io::Error::other),
            Self::Jsonl => {
                let mut out = Vec::with_capacity(rows.len() * 160);
                for row in rows {
                    serde_json::to_writer(&mut out, &ResultView::from(row))?;
                    out.push(b'\n');
                }
                Ok(out)
            }
        }
    }
}

/// The results of `file` as a streamed attachment in `format`.
pub fn results_download(state: &AppState, file: &files::Model, format: DownloadFormat) -> Response {
    let db = state.db.clone();
    let file_id = file.id;
    let stream = futures::stream::unfold(Some(-1), move |after| {
        let db = db.clone();
        async move {
            let after = after?;
            let batch = match store::results::batch_after(&db, file_id, after, DOWNLOAD_BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::error!(file.id = %file_id, error.message = %error, "download of file {file_id} failed");
                    return Some((Err(std::io::Error::other(error)), None));
                }
            };
            let next = (batch.len() as u64 == DOWNLOAD_BATCH).then(|| batch.last().map_or(after, |row| row.position));
            Some((format.render(batch, after < 0), next))
        }
    })
    .filter(|chunk| std::future::ready(!matches!(chunk, Ok(bytes) if bytes.is_empty())));
    (
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                upload::download_disposition_as(&file.original_name, file.id, format.extension()),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The results of `file` as a streamed CSV attachment.
pub fn csv_download(state: &AppState, file: &files::Model) -> Response {
    results_download(state, file, DownloadFormat::Csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_defaults_to_csv_and_unknown_ones_are_refused() {
        assert_eq!(DownloadFormat::parse(None).unwrap(), DownloadFormat::Csv);
        assert_eq!(
            DownloadFormat::parse(Some("CSV")).unwrap(),
            DownloadFormat::Csv
        );
        assert_eq!(
            DownloadFormat::parse(Some("jsonl")).unwrap(),
            DownloadFormat::Jsonl
        );
        assert!(DownloadFormat::parse(Some("xml")).is_err());
        assert!(DownloadFormat::parse(Some("")).is_err());
    }
}
