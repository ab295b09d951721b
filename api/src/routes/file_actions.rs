//! What an owner does to a file after uploading it: cancel it, retry its failed results,
//! delete it. Each answers 404 for a file that is not the caller's, like every `/files`
//! endpoint; the status rules live in the data layer (`store::transitions`).

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, post},
};
use common::metrics;
use entity::FileStatus;
use store::actions::ActionError;
use uuid::Uuid;

use super::file_endpoints::owned_file;
use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppJson, AppPath, ErrorBody},
    file_objects, publish,
    state::AppState,
    views::FileView,
};

/// `POST /files/{id}/cancel`, `POST /files/{id}/retry`, `DELETE /files/{id}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/files/{id}/cancel", post(cancel_file))
        .route("/files/{id}/retry", post(retry_file))
        .route("/files/{id}", delete(delete_file))
}

/// The answer to an action the data layer refused; `refused` is the 409's code.
fn refusal(error: ActionError, refused: &'static str) -> ApiError {
    match error {
        ActionError::NotFound => ApiError::NotFound("file"),
        ActionError::WrongStatus(status) => ApiError::Conflict {
            code: refused,
            message: match refused {
                "not_retryable" => format!(
                    "the file is {}; only a COMPLETED file with failed results can be retried",
                    status.as_str()
                ),
                _ => format!(
                    "the file is {} already; only a PENDING or PROCESSING file can be cancelled",
                    status.as_str()
                ),
            },
        },
        ActionError::NothingToRetry => ApiError::Conflict {
            code: refused,
            message: "the file has no failed result to retry (entries that are not domains \
                      are never retried)"
                .to_owned(),
        },
        ActionError::Database(error) => error.into(),
    }
}

/// Cancel a PENDING or PROCESSING file: it becomes CANCELLED; workers stop at their next batch
/// and delete its messages; the results recorded so far stay.
#[utoipa::path(post, path = "/files/{id}/cancel", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, description = "Cancelled", body = FileView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or another client's", body = ErrorBody),
        (status = 409, description = "`not_cancellable`: COMPLETED, FAILED or CANCELLED already", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn cancel_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<FileView>> {
    let file = store::actions::cancel(&state.db, client.id, id)
        .await
        .map_err(|error| refusal(error, "not_cancellable"))?;
    metrics::file_finished(FileStatus::Cancelled);
    tracing::info!(file.id = %id, "file {id} cancelled");
    Ok(AppJson(file.into()))
}

/// Resolve again the failed results of a COMPLETED file (entries that are not domains
/// excepted), like redriving a Map Run: the file is PROCESSING until they are done, then
/// COMPLETED; the counters move as results change, and each retried result's `tries` adds
/// the new attempts. The cache is not used for them.
#[utoipa::path(post, path = "/files/{id}/retry", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 202, description = "Accepted; the failed results are being resolved again", body = FileView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or another client's", body = ErrorBody),
        (status = 409, description = "`not_retryable`: not COMPLETED, or no failed result to retry", body = ErrorBody),
        (status = 503, description = "`unavailable`: the queue could not be reached; nothing was retried", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn retry_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<(StatusCode, AppJson<FileView>)> {
    let file = store::retries::begin(&state.db, client.id, id)
        .await
        .map_err(|error| refusal(error, "not_retryable"))?;
    if let Err(error) = publish::publish_retry(&state, &file).await {
        tracing::error!(file.id = %id, error.message = %format!("{error:#}"), "retry of file {id} not announced; abandoned");
        store::retries::abandon(&state.db, id).await?;
        return Err(ApiError::Unavailable(
            "the queue could not be reached; nothing was retried, try again".to_owned(),
        ));
    }
    tracing::info!(file.id = %id, "retry of file {id} requested");
    Ok((StatusCode::ACCEPTED, AppJson(file.into())))
}

/// Delete a file: its row, results and S3 objects (the upload, chunk objects). A PENDING or
/// PROCESSING file is cancelled first, so workers drop it. Its id then answers 404.
#[utoipa::path(delete, path = "/files/{id}", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or another client's", body = ErrorBody),
        (status = 503, description = "`unavailable`: S3 could not delete its objects; the file stays (cancelled if it was running) and the delete can be asked again", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn delete_file(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode> {
    let file = owned_file(&state, &client, id).await?;
    if !file.status.is_terminal() {
        match store::actions::cancel(&state.db, client.id, id).await {
            Ok(_) => metrics::file_finished(FileStatus::Cancelled),
            // It finished meanwhile.
            Err(ActionError::WrongStatus(_)) => {}
            Err(error) => return Err(refusal(error, "not_cancellable")),
        }
    }
    if let Err(error) = file_objects::delete_objects(&state, &file).await {
        tracing::error!(file.id = %id, error.message = %format!("{error:#}"), "objects of file {id} not deleted");
        return Err(ApiError::Unavailable(
            "the file store could not delete the file's objects; retry the delete".to_owned(),
        ));
    }
    if !store::actions::delete(&state.db, client.id, id).await? {
        return Err(ApiError::NotFound("file"));
    }
    tracing::info!(file.id = %id, "file {id} deleted");
    Ok(StatusCode::NO_CONTENT)
}
