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
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    file_endpoints::{ResultPage, ResultsQuery, owned_file, results_page},
    webhooks,
};
use crate::downloads::csv_download;
use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppJson, AppPath, AppQuery, ErrorBody},
    intake,
    state::AppState,
    views::Progress,
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

/// Body of `POST /jobs`: a JSON object (a bare array is refused, though serde would read one
/// as this struct's fields in order).
#[derive(Debug, ToSchema)]
pub struct NewJob {
    /// The caller's client id (compared as a UUID, any case) or name, when given; another
    /// client's is refused.
    pub client_id: Option<String>,
    /// Domains or URLs to find favicons for; every entry a string.
    pub domains: Vec<String>,
    /// Where this job's webhook notification goes instead of the client's webhook URL (which
    /// must be registered: its secret signs).
    pub callback_url: Option<String>,
}

impl NewJob {
    /// Reads a job from its JSON body, saying precisely what is wrong: `400 invalid_json` when
    /// the body is not an object with a `domains` array (and a string `client_id`, if any),
    /// `422 invalid_entry` naming the first entry of `domains` that is not a string. Other
    /// fields are ignored.
    pub fn from_json(body: Value) -> Result<Self> {
        let invalid = |message: String| ApiError::bad_request("invalid_json", message);
        let Value::Object(mut fields) = body else {
            return Err(invalid(format!(
                "the body must be a JSON object such as {{\"domains\": [\"example.com\"]}}, not {}",
                kind(&body)
            )));
        };
        let client_id = match fields.remove("client_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id),
            Some(other) => {
                return Err(invalid(format!(
                    "client_id must be a string, not {}",
                    kind(&other)
                )));
            }
        };
        let callback_url = match fields.remove("callback_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(url)) => Some(url),
            Some(other) => {
                return Err(invalid(format!(
                    "callback_url must be a string, not {}",
                    kind(&other)
                )));
            }
        };
        let entries = match fields.remove("domains") {
            Some(Value::Array(entries)) => entries,
            None => {
                return Err(invalid(
                    "domains is required: a list of domains or URLs".to_owned(),
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "domains must be an array of strings, not {}",
                    kind(&other)
                )));
            }
        };
        let domains = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| match entry {
                Value::String(domain) => Ok(domain),
                other => Err(ApiError::Unprocessable {
                    code: "invalid_entry",
                    message: format!(
                        "domains[{index}] is {}; every entry must be a string",
                        kind(&other)
                    ),
                }),
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            client_id,
            domains,
            callback_url,
        })
    }

    /// Whether `client_id`, if given, names `client`: its id as a UUID in any form and case,
    /// or its name exactly.
    fn names(&self, client: &AuthenticatedClient) -> bool {
        self.client_id.as_deref().is_none_or(|claimed| {
            Uuid::parse_str(claimed.trim())
                .map_or_else(|_| claimed == client.name, |id| id == client.id)
        })
    }
}

/// What a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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
    /// Percent done, `(completed + failed) / total`, 0 to 100: 100 once completed, how far it
    /// got for a failed job (see [`Progress`]).
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
            FileStatus::Cancelled => "cancelled",
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
        (status = 400, description = "`invalid_json`: not JSON, or not an object with a `domains` array; `empty_job`: no non-blank entry; `invalid_callback_url`: `callback_url` refused (the reason is given), or no webhook registered", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`client_id` names another client", body = ErrorBody),
        (status = 413, description = "Body larger than `MAX_JSON_BODY_BYTES`", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`invalid_entry`: an entry of `domains` is not a string (the first is named); `too_many_domains`: more entries than `MAX_DOMAINS_PER_FILE`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, `too_many_auth_failures`, or `too_many_files_in_flight`: the client already has `MAX_FILES_IN_FLIGHT` files PENDING or PROCESSING",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 503, description = "`storage_unavailable`: S3 could not store the list (nothing was recorded)",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ),
    security(("api_key" = [])))]
pub async fn create_job(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppJson(body): AppJson<Value>,
) -> Result<(StatusCode, AppJson<JobAccepted>)> {
    let job = NewJob::from_json(body)?;
    if !job.names(&client) {
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
    let limit = state.settings.limits.max_domains_per_file;
    if count > limit {
        return Err(ApiError::TooManyDomains { count, limit });
    }
    let callback_url = match &job.callback_url {
        Some(url) => Some(webhooks::override_callback_url(&state, client.id, url).await?),
        None => None,
    };
    intake::ensure_room_for_another(&state, client.id).await?;
    let new_file = intake::store_job_domains(&state, client.id, &job.domains, callback_url).await?;
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
    Ok(AppJson(
        results_page(&state, &client, ("/jobs", id), &query).await?,
    ))
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
