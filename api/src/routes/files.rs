//! `/files`: upload, look up and list a client's files.

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, State, multipart::MultipartRejection},
    http::StatusCode,
    routing::{get, post},
};
use entity::FileStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppJson, AppPath, AppQuery},
    files::{self, FileView},
    publish,
    state::AppState,
    upload,
};

/// Room for multipart boundaries and headers around the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = state
        .settings
        .api
        .max_upload_bytes
        .saturating_add(MULTIPART_OVERHEAD);
    Router::new()
        .route(
            "/files/upload",
            post(upload_file).layer(DefaultBodyLimit::max(
                usize::try_from(upload_limit).unwrap_or(usize::MAX),
            )),
        )
        .route("/files", get(list_files))
        .route("/files/{id}", get(get_file))
}

/// `POST /files/upload`: store, record, announce; 202 with the file.
async fn upload_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, AppJson<FileView>)> {
    let multipart = multipart
        .map_err(|rejection| ApiError::bad_request("invalid_multipart", rejection.body_text()))?;
    let new_file = upload::receive_upload(&state, client.id, multipart).await?;
    let file = files::insert_pending(&state.db, new_file).await?;
    tracing::info!(file.id = %file.id, file.size = file.size_bytes, "accepted file {}", file.id);
    publish::announce(&state, &file).await;
    Ok((StatusCode::ACCEPTED, AppJson(FileView::from(file))))
}

/// `GET /files/{id}`.
async fn get_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<FileView>> {
    let file = files::find_for_client(&state.db, client.id, id)
        .await?
        .ok_or(ApiError::NotFound("file"))?;
    Ok(AppJson(file.into()))
}

/// Query of `GET /files`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
}

/// A page of files.
#[derive(Debug, Serialize)]
struct FilePage {
    items: Vec<FileView>,
    page: u64,
    limit: u64,
    total: u64,
}

/// Largest `limit` of `GET /files`.
const MAX_LIMIT: u64 = 100;

/// `GET /files?status=&page=&limit=`: the caller's files, newest first.
async fn list_files(
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
                format!("status: {e}; expected PENDING, PROCESSING, COMPLETED or FAILED"),
            )
        })?;
    let page = query.page.unwrap_or(1);
    let limit = query.limit.unwrap_or(20);
    if page == 0 {
        return Err(ApiError::bad_request("invalid_page", "page starts at 1"));
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let (items, total) = files::list_for_client(&state.db, client.id, status, page, limit).await?;
    Ok(AppJson(FilePage {
        items: items.into_iter().map(FileView::from).collect(),
        page,
        limit,
        total,
    }))
}
