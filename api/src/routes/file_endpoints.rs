//! `/files`: upload, look up, list, page through results, download, fetch the original.
//! What owners do to a file afterwards (cancel, retry, delete) is [`super::file_actions`].

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::presigning::PresigningConfig;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, State, multipart::MultipartRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
    routing::{get, post},
};
use common::metrics::{self, ApiPhase};
use entity::{FileStatus, ResultStatus, files as file_rows};
use serde::{Deserialize, Serialize};
use store::results::{PageStart, ResultsPage};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    Result,
    auth::AuthenticatedClient,
    downloads::{self, DownloadFormat},
    error::{ApiError, AppJson, AppPath, AppQuery, ErrorBody},
    intake,
    state::AppState,
    upload,
    views::{FileView, ResultView},
};

/// Room for multipart boundaries and headers around the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// Largest `limit` of `GET /files`.
const MAX_LIMIT: u64 = 100;
/// Largest page number: beyond it no offset fits the database's 64-bit integers (a file
/// holds far fewer rows anyway).
const MAX_PAGE: u64 = 1_000_000_000;

/// Largest `per_page` of results.
const MAX_PER_PAGE: u64 = 1000;
/// Lifetime of presigned source URLs.
const SOURCE_URL_TTL: Duration = Duration::from_secs(300);

/// `POST /files/upload`, apart because its body limit and timeout are the upload's own.
pub fn upload_router(state: &AppState) -> Router<AppState> {
    let upload_limit = state
        .settings
        .api
        .max_upload_bytes
        .saturating_add(MULTIPART_OVERHEAD);
    Router::new().route(
        "/files/upload",
        post(upload_file).layer(DefaultBodyLimit::max(
            usize::try_from(upload_limit).unwrap_or(usize::MAX),
        )),
    )
}

/// Adds `Connection: close` to an upload's answer other than 202. A refused upload is often
/// answered before its body was read; the server then closes the connection rather than read
/// the rest, and a client that was not told so may send its next request on it and see it
/// fail. Saying so lets it open a new one.
pub async fn close_unless_accepted(mut response: Response) -> Response {
    if response.status() != StatusCode::ACCEPTED {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The other `/files` endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/files", get(list_files))
        .route("/files/{id}", get(get_file))
        .route("/files/{id}/results", get(file_results))
        .route("/files/{id}/download", get(download_file))
        .route("/files/{id}/source", get(file_source))
}

/// The multipart body of an upload.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "documents the multipart form for OpenAPI only")]
pub struct UploadForm {
    /// The CSV, TSV, JSON or NDJSON file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Where this file's webhook notification goes instead of the client's webhook URL
    /// (which must be registered: its secret signs).
    callback_url: Option<String>,
}

/// Store, record and announce a CSV, TSV, JSON or NDJSON file of domains.
#[utoipa::path(post, path = "/files/upload", tag = "files",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted; processing is asynchronous", body = FileView),
        (status = 400, description = "Empty file, malformed multipart or missing `file` field; `invalid_callback_url`: `callback_url` refused (the reason is given), or no webhook registered", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 408, description = "Not received and stored within `UPLOAD_TIMEOUT_SECS`", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 415, description = "Not CSV, TSV, JSON or NDJSON, UTF-16 without a byte order mark, or a body that is not multipart/form-data", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `too_many_auth_failures`; `too_many_files_in_flight`: the client already has `MAX_FILES_IN_FLIGHT` files PENDING or PROCESSING; or `too_many_uploads`: it is already sending `MAX_UPLOADS_PER_CLIENT` uploads",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 503, description = "`server_busy`: the uploads in progress fill `UPLOAD_BUFFER_BYTES`; or `storage_unavailable`: S3 could not store the file (nothing was recorded)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ),
    security(("api_key" = [])))]
pub async fn upload_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, AppJson<FileView>)> {
    let multipart = multipart.map_err(|rejection| multipart_rejection(&headers, &rejection))?;
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    let buffer = upload::buffer_needed(state.settings.api.max_upload_bytes, content_length);
    // Held until the upload is answered: counts against the client's uploads in progress and
    // the instance's buffer budget.
    let _slot = state.uploads.claim(client.id, buffer)?;
    intake::ensure_room_for_another(&state, client.id).await?;
    let started = std::time::Instant::now();
    let new_file = upload::receive_upload(&state, client.id, multipart, buffer).await?;
    metrics::api_phase(ApiPhase::ReceiveAndStore, started.elapsed());
    let file = intake::accept(&state, new_file).await?;
    Ok((StatusCode::ACCEPTED, AppJson(FileView::from(file))))
}

/// Why a body could not be read as multipart: 415 with what to send when it is not
/// `multipart/form-data` at all, 400 when it is but its boundary is missing.
fn multipart_rejection(headers: &HeaderMap, rejection: &MultipartRejection) -> ApiError {
    let is_form_data = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| {
            media_type
                .trim()
                .eq_ignore_ascii_case("multipart/form-data")
        });
    if is_form_data {
        ApiError::bad_request("invalid_multipart", rejection.body_text())
    } else {
        ApiError::UnsupportedMediaType(
            "send the file as multipart/form-data in a field named `file` \
             (curl -F file=@domains.csv)"
                .to_owned(),
        )
    }
}

/// The caller's file `id`, or 404.
pub async fn owned_file(
    state: &AppState,
    client: &AuthenticatedClient,
    id: Uuid,
) -> Result<file_rows::Model> {
    store::files::find_for_client(&state.reads, client.id, id)
        .await?
        .ok_or(ApiError::NotFound("file"))
}

/// A file with its status, counters and progress.
#[utoipa::path(get, path = "/files/{id}", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, body = FileView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or another client's", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<FileView>> {
    Ok(AppJson(owned_file(&state, &client, id).await?.into()))
}

/// Validates a page number (from 1, default 1) and a page size given as
/// `(value, parameter name, default, maximum)`.
fn paging(page: Option<u64>, size: (Option<u64>, &'static str, u64, u64)) -> Result<(u64, u64)> {
    let (value, name, default, max) = size;
    let page = page.unwrap_or(1);
    let size = value.unwrap_or(default);
    if page == 0 || page > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_page",
            format!("page must be between 1 and {MAX_PAGE}"),
        ));
    }
    if size == 0 || size > max {
        let code = if name == "limit" {
            "invalid_limit"
        } else {
            "invalid_per_page"
        };
        return Err(ApiError::bad_request(
            code,
            format!("{name} must be between 1 and {max}"),
        ));
    }
    Ok((page, size))
}

/// Query of `GET /files`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `PENDING`, `PROCESSING`, `COMPLETED`, `FAILED` or `CANCELLED` (any case).
    status: Option<String>,
    /// Page number, from 1 (default 1).
    page: Option<u64>,
    /// Files per page, 1 to 100 (default 20).
    limit: Option<u64>,
}

/// A page of files.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilePage {
    /// The files, newest first.
    items: Vec<FileView>,
    /// This page.
    page: u64,
    /// Files per page.
    limit: u64,
    /// Files matching in all.
    total: u64,
}

/// The caller's files, newest first, optionally by status.
#[utoipa::path(get, path = "/files", tag = "files", params(ListQuery),
    responses(
        (status = 200, body = FilePage),
        (status = 400, description = "Bad status, page or limit", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_files(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppQuery(query): AppQuery<ListQuery>,
) -> Result<AppJson<FilePage>> {
    let status = query
        .status
        .as_deref()
        .map(str::parse::<FileStatus>)
        .transpose()
        .map_err(|e| {
            ApiError::bad_request(
                "invalid_status",
                format!(
                    "status: {e}; expected PENDING, PROCESSING, COMPLETED, FAILED or CANCELLED"
                ),
            )
        })?;
    let (page, limit) = paging(query.page, (query.limit, "limit", 20, MAX_LIMIT))?;
    let started = std::time::Instant::now();
    let (items, total) =
        store::files::list_for_client(&state.reads, client.id, status, page, limit).await?;
    metrics::api_phase(ApiPhase::ListQuery, started.elapsed());
    Ok(AppJson(FilePage {
        items: items.into_iter().map(FileView::from).collect(),
        page,
        limit,
        total,
    }))
}

/// Query of the results endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Page number, from 1 (default 1). Deep filtered pages cost more than the first: follow
    /// `next` (or give `after`) instead.
    page: Option<u64>,
    /// Cursor: only results after this position (the `position` of the last result of the
    /// previous page, as given in `next`). As fast at the end of a file as at its start.
    /// Not with `page`.
    after: Option<i64>,
    /// Results per page, 1 to 1000 (default 100).
    per_page: Option<u64>,
    /// `success` or `failed`.
    status: Option<String>,
    /// Only failures of this category: `invalid_domain`, `dns`, `connect`, `tls`, `timeout`,
    /// `http_status`, `not_image`, `no_icon`, `blocked` or `too_large`.
    error_category: Option<String>,
}

impl ResultsQuery {
    fn validate(&self) -> Result<ResultsPage> {
        let status = self
            .status
            .as_deref()
            .map(str::parse::<ResultStatus>)
            .transpose()
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_status",
                    format!("status: {e}; expected success or failed"),
                )
            })?;
        let error_category = self
            .error_category
            .as_deref()
            .map(|wanted| {
                favicon::FailureCategory::ALL
                    .iter()
                    .map(|category| category.as_str())
                    .find(|category| category.eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_error_category",
                            format!(
                                "error_category: unknown category {wanted:?}; expected one of {}",
                                favicon::FailureCategory::ALL.map(|c| c.as_str()).join(", ")
                            ),
                        )
                    })
            })
            .transpose()?;
        let (page, per_page) = paging(self.page, (self.per_page, "per_page", 100, MAX_PER_PAGE))?;
        let start = match self.after {
            None => PageStart::Number(page),
            Some(_) if self.page.is_some() => {
                return Err(ApiError::bad_request(
                    "invalid_after",
                    "give either page or after, not both",
                ));
            }
            Some(after) => PageStart::After(
                i32::try_from(after)
                    .ok()
                    .filter(|after| *after >= 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_after",
                            format!("after must be a result position between 0 and {}", i32::MAX),
                        )
                    })?,
            ),
        };
        Ok(ResultsPage {
            status,
            error_category,
            start,
            per_page,
        })
    }
}

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultPage {
    /// Results in the file's order.
    pub items: Vec<ResultView>,
    /// This page's number when asked by `page` (1 when neither `page` nor `after` was
    /// given); absent when asked by `after`.
    pub page: Option<u64>,
    /// Results per page.
    pub per_page: u64,
    /// Results matching in all (so far, while the file runs).
    pub total: u64,
    /// The cursor of the next page (the `position` of this page's last result), to pass as
    /// `after`; absent when no result follows (so far, while the file runs).
    pub next_after: Option<i32>,
    /// The next page's path and query (same filters and `per_page`, `after` set), absent when
    /// no result follows.
    pub next: Option<String>,
}

/// One page of the results of the caller's file `id`, served under `collection`
/// (`/files` or `/jobs`: where the `next` link points).
pub async fn results_page(
    state: &AppState,
    client: &AuthenticatedClient,
    (collection, id): (&str, Uuid),
    query: &ResultsQuery,
) -> Result<ResultPage> {
    let request = query.validate()?;
    let file = owned_file(state, client, id).await?;
    let rows = store::results::page(&state.reads, &file, request).await?;
    let next_after = rows
        .more
        .then(|| rows.items.last().map(|last| last.position))
        .flatten();
    let next = next_after.map(|after| {
        let mut link = format!(
            "{collection}/{id}/results?after={after}&per_page={}",
            request.per_page
        );
        if let Some(status) = request.status {
            link.push_str(&format!("&status={}", status.as_str()));
        }
        if let Some(category) = request.error_category {
            link.push_str(&format!("&error_category={category}"));
        }
        link
    });
    Ok(ResultPage {
        items: rows.items.into_iter().map(ResultView::from).collect(),
        page: match request.start {
            PageStart::Number(page) => Some(page),
            PageStart::After(_) => None,
        },
        per_page: request.per_page,
        total: rows.total,
        next_after,
        next,
    })
}

/// A file's results in the file's order, paged: by `page` number, or by cursor (`after`,
/// following `next`), which reads deep pages as fast as the first.
#[utoipa::path(get, path = "/files/{id}/results", tag = "files",
    params(("id" = Uuid, Path, description = "File id"), ResultsQuery),
    responses(
        (status = 200, body = ResultPage),
        (status = 400, description = "Malformed id; `invalid_status`, `invalid_error_category`, `invalid_page`, `invalid_per_page`; `invalid_after`: `after` not a position, or given with `page`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn file_results(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<ResultsQuery>,
) -> Result<AppJson<ResultPage>> {
    Ok(AppJson(
        results_page(&state, &client, ("/files", id), &query).await?,
    ))
}

/// Query of `GET /files/{id}/download`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadQuery {
    /// `csv` (default) or `jsonl` (one JSON object per line, shaped as the results JSON).
    format: Option<String>,
}

/// A file's results as CSV (`domain,favicon_url,status,format,width,height,bytes,source,error_category,error,tries,icon_url`)
/// or, with `format=jsonl`, as newline-delimited JSON, one result per line shaped as in
/// `GET /files/{id}/results`. Streamed.
#[utoipa::path(get, path = "/files/{id}/download", tag = "files",
    params(("id" = Uuid, Path, description = "File id"), DownloadQuery),
    responses(
        (status = 200, description = "CSV or NDJSON attachment",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Malformed id, or `invalid_format`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn download_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<DownloadQuery>,
) -> Result<Response> {
    let format = DownloadFormat::parse(query.format.as_deref())?;
    let file = owned_file(&state, &client, id).await?;
    Ok(downloads::results_download(&state, &file, format))
}

/// A short-lived link to the original upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceLink {
    /// Presigned S3 GET URL.
    pub url: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A presigned S3 URL of the original upload, valid for five minutes.
#[utoipa::path(get, path = "/files/{id}/source", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, body = SourceLink),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn file_source(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<SourceLink>> {
    let file = owned_file(&state, &client, id).await?;
    let config =
        PresigningConfig::expires_in(SOURCE_URL_TTL).context("invalid presigning duration")?;
    let presigned = state
        .aws
        .s3
        .get_object()
        .bucket(&file.s3_bucket)
        .key(&file.s3_key)
        .presigned(config)
        .await
        .context("failed to presign the source URL")?;
    let expires_at =
        chrono::Utc::now() + chrono::Duration::from_std(SOURCE_URL_TTL).unwrap_or_default();
    Ok(AppJson(SourceLink {
        url: presigned.uri().to_owned(),
        expires_at,
    }))
}
