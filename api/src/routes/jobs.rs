//! `/jobs`: the Favicon Finder contract. A job is a file whose domains came in a JSON body;
//! these handlers are a second face of the files endpoints and share their code.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use entity::{FileStatus, files as file_rows};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::files::{ResultPage, ResultsQuery, csv_download, owned_file, results_page};
use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppJson, AppPath, AppQuery, ErrorBody},
    files::Progress,
    intake,
    state::AppState,
};

/// The `/jobs` endpoints. `POST /jobs` has the JSON body limit set for every endpoint in
/// [`super::router`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs", post(create_job))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/results", get(job_results))
        .route("/jobs/{id}/download", get(download_job))
}

/// Body of `POST /jobs`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewJob {
    /// The caller's client id or name, when given; another client's is refused.
    pub client_id: Option<String>,
    /// Domains or URLs to find favicons for.
    pub domains: Vec<String>,
}

/// Answer of `POST /jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobAccepted {
    /// The job's id (also its file id).
    pub job_id: Uuid,
    /// Always `processing`.
    pub status: String,
}

/// A job's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// The job's id.
    pub job_id: Uuid,
    /// `processing`, `completed` or `failed`.
    pub status: String,
    /// Percent done, 0 to 100.
    pub progress: f64,
    /// Distinct domains.
    pub total: i32,
    /// Domains with a favicon.
    pub completed: i32,
    /// Domains without one.
    pub failed: i32,
    /// Why the job failed, when it did.
    pub error: Option<String>,
}

impl From<file_rows::Model> for JobView {
    fn from(file: file_rows::Model) -> Self {
        let progress = Progress::of(&file);
        let status = match file.status {
            FileStatus::Pending | FileStatus::Processing => "processing",
            FileStatus::Completed => "completed",
            FileStatus::Failed => "failed",
        };
        Self {
            job_id: file.id,
            status: status.to_owned(),
            progress: progress.percent,
            total: progress.total,
            completed: progress.succeeded,
            failed: progress.failed,
            error: file.error_message,
        }
    }
}

/// Start a job for a list of domains; it runs through the same pipeline as uploads.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = NewJob,
    responses(
        (status = 202, body = JobAccepted),
        (status = 400, description = "Invalid JSON or an empty list", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`client_id` names another client", body = ErrorBody),
        (status = 413, description = "Body larger than `MAX_JSON_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`too_many_domains`: more entries than `MAX_DOMAINS_PER_FILE`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `too_many_auth_failures`, or `too_many_files_in_flight`: the client already has `MAX_FILES_IN_FLIGHT` files PENDING or PROCESSING",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 503, description = "`storage_unavailable`: S3 could not store the list (nothing was recorded)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ),
    security(("api_key" = [])))]
pub async fn create_job(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppJson(job): AppJson<NewJob>,
) -> Result<(StatusCode, AppJson<JobAccepted>)> {
    if let Some(claimed) = &job.client_id
        && claimed != &client.id.to_string()
        && claimed != &client.name
    {
        return Err(ApiError::Forbidden(
            "client_id does not match the API key's client",
        ));
    }
    let count = job
        .domains
        .iter()
        .filter(|domain| !domain.trim().is_empty())
        .count();
    if count == 0 {
        return Err(ApiError::bad_request(
            "empty_job",
            "domains must hold at least one domain",
        ));
    }
    let limit = state.settings.api.max_domains_per_file;
    if count > limit {
        return Err(ApiError::TooManyDomains { count, limit });
    }
    intake::ensure_room_for_another(&state, client.id).await?;
    let new_file = intake::store_job_domains(&state, client.id, &job.domains).await?;
    let file = intake::accept(&state, new_file).await?;
    Ok((
        StatusCode::ACCEPTED,
        AppJson(JobAccepted {
            job_id: file.id,
            status: "processing".to_owned(),
        }),
    ))
}

/// A job's status and counters.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<JobView>> {
    Ok(AppJson(owned_file(&state, &client, id).await?.into()))
}

/// A job's results, paged, as for files.
#[utoipa::path(get, path = "/jobs/{id}/results", tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id"), ResultsQuery),
    responses((status = 200, body = ResultPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn job_results(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<ResultsQuery>,
) -> Result<AppJson<ResultPage>> {
    Ok(AppJson(results_page(&state, &client, id, &query).await?))
}

/// A job's results as CSV.
#[utoipa::path(get, path = "/jobs/{id}/download", tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, description = "CSV attachment", content_type = "text/csv", body = String), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn download_job(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<Response> {
    let file = owned_file(&state, &client, id).await?;
    Ok(csv_download(&state, &file))
}
