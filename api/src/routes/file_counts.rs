//! `GET /files/counts`: how many of the caller's files are in each status, for dashboards.

use std::collections::BTreeMap;

use axum::{Router, extract::State, routing::get};
use entity::FileStatus;
use sea_orm::Iterable;

use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{AppJson, ErrorBody},
    state::AppState,
};

/// The `/files/counts` endpoint.
pub fn router() -> Router<AppState> {
    Router::new().route("/files/counts", get(file_counts))
}

/// The caller's files by status: every status is present, 0 when it has none.
#[utoipa::path(get, path = "/files/counts", tag = "files",
    responses(
        (status = 200, description = "Files per status: every status of a file (as `status` of \
            `GET /files/{id}` spells it) with its count", body = BTreeMap<String, u64>),
        (status = 401, body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn file_counts(
    State(state): State<AppState>,
    client: AuthenticatedClient,
) -> Result<AppJson<BTreeMap<&'static str, u64>>> {
    let mut counts: BTreeMap<&'static str, u64> = FileStatus::iter()
        .map(|status| (status.as_str(), 0))
        .collect();
    for (status, count) in store::files::count_by_status(&state.db, client.id).await? {
        counts.insert(status.as_str(), count);
    }
    Ok(AppJson(counts))
}
