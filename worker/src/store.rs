//! The worker's reads and writes of `files`, `file_chunks`, `results` and `redrives`. Every
//! change of a file that a worker holds is conditional on its lease, so two workers never both
//! process one file. Multi-row writes are cut so that no statement carries more than
//! PostgreSQL's 65,535 bind parameters; [`errors`] tells outages from refusals.

mod errors;

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::Utc;
use domain_lists::stored_text::{self as text, MAX_DOMAIN_CHARS, MAX_ERROR_CHARS};
use entity::{FileStatus, ResultStatus, file_chunks, files, redrives, results};
use favicon::{CacheClass, Failure, FailureCategory, Icon};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Iterable,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

pub use self::errors::{ErrorClass, Refusal, sqlstate};

/// Most bind parameters one statement may carry: the protocol counts them in 16 bits.
const MAX_BIND_PARAMETERS: usize = 65_535;

/// Rows of `columns` columns one INSERT may carry within [`MAX_BIND_PARAMETERS`].
fn rows_per_insert(columns: usize) -> usize {
    (MAX_BIND_PARAMETERS / columns.max(1)).max(1)
}

/// The outcome of trying to take a file.
#[derive(Debug)]
pub enum Claim {
    /// This worker now holds the file, which is PROCESSING.
    Claimed(Box<files::Model>),
    /// The file is COMPLETED or FAILED already.
    Terminal,
    /// Another worker holds an unexpired lease on it.
    HeldElsewhere,
    /// It was split into chunks, whose own messages carry the work.
    Planned,
    /// No such file (deleted, or a message from elsewhere).
    Missing,
}

/// One domain's result, ready to be written.
#[derive(Debug, Clone)]
pub struct NewResult {
    /// Index among the file's distinct entries.
    pub position: i32,
    /// The normalised domain, or the raw entry when it is invalid.
    pub domain: String,
    /// The favicon, or why not.
    pub outcome: Result<IconRecord, FailureRecord>,
    /// Attempts made.
    pub tries: i32,
    /// Copied from a recent result of the same domain instead of fetched.
    pub from_cache: bool,
    /// What the cache may copy from it: set on fetched results only ([`CacheClass::of`]).
    pub cache_class: Option<CacheClass>,
}

impl NewResult {
    /// The result of an entry that is no domain: failed at once, never fetched nor cached.
    pub fn invalid(position: i32, key: String, failure: Failure) -> Self {
        Self {
            position,
            domain: key,
            outcome: Err(failure.into()),
            tries: 0,
            from_cache: false,
            cache_class: None,
        }
    }
}

/// A found icon as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconRecord {
    /// Where it is.
    pub url: String,
    /// `png`, `ico`, …
    pub format: String,
    /// Real width in pixels.
    pub width: i32,
    /// Real height in pixels.
    pub height: i32,
    /// Size in bytes.
    pub bytes: i64,
    /// `link`, `manifest` or `fallback`.
    pub source: String,
}

/// A failure as stored: its category and the full `category: detail` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// `dns`, `timeout`, …
    pub category: String,
    /// `category: detail`.
    pub message: String,
}

impl From<Icon> for IconRecord {
    fn from(icon: Icon) -> Self {
        Self {
            url: icon.url,
            format: icon.format.as_str().to_owned(),
            width: i32::try_from(icon.width).unwrap_or(i32::MAX),
            height: i32::try_from(icon.height).unwrap_or(i32::MAX),
            bytes: i64::try_from(icon.bytes).unwrap_or(i64::MAX),
            source: icon.source.as_str().to_owned(),
        }
    }
}

impl From<Failure> for FailureRecord {
    fn from(failure: Failure) -> Self {
        Self {
            category: failure.category.as_str().to_owned(),
            message: failure.to_string(),
        }
    }
}

/// The newest fetched result of each of `domains` that the cache may still copy: one whose
/// class is in `fresh` with a creation time after the class's limit
/// ([`favicon::Resolution::cache_class`] says which and why). From any file of any client:
/// favicons are public, and only the icon or the failure is copied. `domains` holds at most a few hundred names (one cache lookup batch).
pub async fn recent_outcomes(
    db: &DatabaseConnection,
    domains: Vec<String>,
    fresh: &[(CacheClass, chrono::DateTime<Utc>)],
) -> Result<HashMap<String, Result<IconRecord, FailureRecord>>, DbErr> {
    if domains.is_empty() || fresh.is_empty() {
        return Ok(HashMap::new());
    }
    let mut copyable = Condition::any();
    for (class, since) in fresh {
        copyable = copyable.add(
            Condition::all()
                .add(results::Column::CacheClass.eq(class.as_str()))
                .add(results::Column::CreatedAt.gt(*since)),
        );
    }
    let rows = results::Entity::find()
        .distinct_on([results::Column::Domain])
        .filter(results::Column::Domain.is_in(domains))
        .filter(copyable)
        .order_by_asc(results::Column::Domain)
        .order_by_desc(results::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.domain.clone(), stored_outcome(row)?)))
        .collect())
}

/// The outcome a stored row records, if it is complete.
fn stored_outcome(row: results::Model) -> Option<Result<IconRecord, FailureRecord>> {
    match row.status {
        ResultStatus::Success => Some(Ok(IconRecord {
            url: row.favicon_url?,
            format: row.icon_format?,
            width: row.icon_width?,
            height: row.icon_height?,
            bytes: row.icon_bytes?,
            source: row.icon_source?,
        })),
        ResultStatus::Failed => Some(Err(FailureRecord {
            category: row.error_category?,
            message: row.error?,
        })),
    }
}

/// Tries of a database operation in [`retrying`] before its error is returned.
const DB_TRIES: u32 = 5;

/// Runs `operation` again after a short, growing pause when it fails with an outage
/// ([`ErrorClass::Transient`]), up to [`DB_TRIES`] times. A connection that dies under a query
/// (a failover, `pg_terminate_backend`, a restarted pooler) is replaced by the pool at once, so
/// the next try usually succeeds; giving the message back instead would spend one of its few
/// receives on the blip. An error about the data itself is returned at once: it would come
/// back every time. Only for operations that are safe to repeat: every write here is
/// conditional or `ON CONFLICT DO NOTHING`.
pub async fn retrying<T, F, Fut>(what: &str, mut operation: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let mut pause = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match operation().await {
            Err(error) if tries < DB_TRIES && ErrorClass::of(&error) == ErrorClass::Transient => {
                tracing::warn!(error.message = %error, tries, "{what} failed; trying again in {pause:?}");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

fn lease_end(lease: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5))
}

/// A lease `owner` may take: none, lapsed (its holder crashed), or its own already. The one
/// rule for files and chunks alike.
fn takeable<C: ColumnTrait>(
    expires_at: C,
    holder: C,
    owner: Uuid,
    now: chrono::DateTime<Utc>,
) -> Condition {
    Condition::any()
        .add(expires_at.is_null())
        .add(expires_at.lt(now))
        .add(holder.eq(owner))
}

fn held_by(file_id: Uuid, owner: Uuid) -> Condition {
    Condition::all()
        .add(files::Column::Id.eq(file_id))
        .add(files::Column::LeaseOwner.eq(owner))
}

/// Takes `file_id` for `owner` until `lease` from now: PENDING files, and PROCESSING files
/// whose previous holder's lease has lapsed (it crashed), can be taken.
pub async fn claim(
    db: &DatabaseConnection,
    file_id: Uuid,
    owner: Uuid,
    lease: Duration,
) -> Result<Claim, DbErr> {
    let now = Utc::now();
    let updated = files::Entity::update_many()
        .col_expr(
            files::Column::Status,
            Expr::value(FileStatus::Processing.as_str()),
        )
        .col_expr(files::Column::LeaseOwner, Expr::value(owner))
        .col_expr(files::Column::LeaseExpiresAt, Expr::value(lease_end(lease)))
        .col_expr(files::Column::UpdatedAt, Expr::value(now))
        .filter(files::Column::Id.eq(file_id))
        .filter(files::Column::Status.is_in([FileStatus::Pending, FileStatus::Processing]))
        .filter(files::Column::ChunkCount.eq(0))
        .filter(takeable(
            files::Column::LeaseExpiresAt,
            files::Column::LeaseOwner,
            owner,
            now,
        ))
        .exec(db)
        .await?;
    let file = files::Entity::find_by_id(file_id).one(db).await?;
    Ok(match file {
        None => Claim::Missing,
        Some(file) if file.status.is_terminal() => Claim::Terminal,
        Some(file) if file.chunk_count > 0 => Claim::Planned,
        Some(file) if updated.rows_affected == 1 => Claim::Claimed(Box::new(file)),
        Some(_) => Claim::HeldElsewhere,
    })
}

/// Extends `owner`'s lease; false when it no longer holds the file.
pub async fn renew_lease(
    db: &DatabaseConnection,
    file_id: Uuid,
    owner: Uuid,
    lease: Duration,
) -> Result<bool, DbErr> {
    let updated = files::Entity::update_many()
        .col_expr(files::Column::LeaseExpiresAt, Expr::value(lease_end(lease)))
        .filter(held_by(file_id, owner))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Gives the file up at once (graceful shutdown), so another worker can resume it.
pub async fn release(db: &DatabaseConnection, file_id: Uuid, owner: Uuid) -> Result<(), DbErr> {
    files::Entity::update_many()
        .col_expr(files::Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
        .col_expr(
            files::Column::LeaseExpiresAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(held_by(file_id, owner))
        .exec(db)
        .await?;
    Ok(())
}

/// Records how many distinct entries the file has.
pub async fn set_total(
    db: &DatabaseConnection,
    file_id: Uuid,
    owner: Uuid,
    total: i32,
) -> Result<(), DbErr> {
    files::Entity::update_many()
        .col_expr(files::Column::TotalCount, Expr::value(total))
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held_by(file_id, owner))
        .exec(db)
        .await?;
    Ok(())
}

/// The domains of `file_id` that already have a result (from an interrupted run), only
/// those at positions `first..=last` when given.
pub async fn recorded_domains(
    db: &DatabaseConnection,
    file_id: Uuid,
    positions: Option<(i32, i32)>,
) -> Result<HashSet<String>, DbErr> {
    let mut query = results::Entity::find()
        .select_only()
        .column(results::Column::Domain)
        .filter(results::Column::FileId.eq(file_id));
    if let Some((first, last)) = positions {
        query = query.filter(results::Column::Position.between(first, last));
    }
    let domains: Vec<String> = query.into_tuple().all(db).await?;
    Ok(domains.into_iter().collect())
}

/// The row the worker writes for `result`: the domain and the error made storable
/// ([`text::storable`]: no NUL, bounded), whatever the entry held.
pub fn result_row(file_id: Uuid, result: NewResult, now: chrono::DateTime<Utc>) -> results::Model {
    let mut row = results::Model {
        id: Uuid::now_v7(),
        file_id,
        position: result.position,
        domain: text::storable(&result.domain, MAX_DOMAIN_CHARS).into_owned(),
        favicon_url: None,
        status: ResultStatus::Success,
        error: None,
        tries: result.tries,
        icon_format: None,
        icon_width: None,
        icon_height: None,
        icon_bytes: None,
        icon_source: None,
        error_category: None,
        from_cache: result.from_cache,
        cache_class: result.cache_class.map(|class| class.as_str().to_owned()),
        created_at: now,
        updated_at: now,
    };
    match result.outcome {
        Ok(icon) => {
            // A URL is never cut (a `data:` icon is its URL), and holds no NUL once parsed.
            row.favicon_url = Some(text::storable(&icon.url, usize::MAX).into_owned());
            row.icon_format = Some(icon.format);
            row.icon_width = Some(icon.width);
            row.icon_height = Some(icon.height);
            row.icon_bytes = Some(icon.bytes);
            row.icon_source = Some(icon.source);
        }
        Err(failure) => {
            row.status = ResultStatus::Failed;
            row.error_category = Some(failure.category);
            row.error = Some(text::storable(&failure.message, MAX_ERROR_CHARS).into_owned());
        }
    }
    row
}

/// What replaces a row the database refused for its data: a failed `invalid_domain` result
/// that says so, with the domain spelled in printable ASCII in case the text was the trouble.
fn refused_row(row: results::Model, error: &DbErr) -> results::Model {
    let domain: String = row.domain.escape_default().collect();
    results::Model {
        domain: text::storable(&domain, MAX_DOMAIN_CHARS).into_owned(),
        favicon_url: None,
        status: ResultStatus::Failed,
        error: Some(format!(
            "{}: this entry's result could not be stored: {}",
            FailureCategory::InvalidDomain,
            Refusal(error)
        )),
        icon_format: None,
        icon_width: None,
        icon_height: None,
        icon_bytes: None,
        icon_source: None,
        error_category: Some(FailureCategory::InvalidDomain.as_str().to_owned()),
        cache_class: None,
        ..row
    }
}

/// Writes a batch of results of `file_id` (of its chunk `chunk`, when given), skipping
/// domains already recorded, and adds exactly the rows written to the counters, trying again
/// after outages. When the database refuses the batch for its data, the rows are written one
/// at a time and each one it refuses becomes a failed result saying so; only a refusal of
/// that too (nothing of the file can be stored) is returned, as a permanent error.
pub async fn record_results(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunk: Option<i32>,
    batch: Vec<NewResult>,
) -> Result<u64, DbErr> {
    if batch.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let rows: Vec<results::Model> = batch
        .into_iter()
        .map(|result| result_row(file_id, result, now))
        .collect();
    let write = |rows: Vec<results::Model>| {
        retrying("writing results", move || {
            insert_results(db, file_id, chunk, rows.clone())
        })
    };
    match write(rows.clone()).await {
        Err(error) if ErrorClass::of(&error) == ErrorClass::Permanent => {
            tracing::warn!(file.id = %file_id, error.message = %error, "the database refused a batch of {} results of file {file_id}; writing them one by one", rows.len());
        }
        outcome => return outcome,
    }
    let mut written = 0;
    for row in rows {
        written += match write(vec![row.clone()]).await {
            Err(error) if ErrorClass::of(&error) == ErrorClass::Permanent => {
                tracing::warn!(file.id = %file_id, position = row.position, error.message = %error, "the database refused the result of entry {} of file {file_id}; recording it as failed", row.position);
                write(vec![refused_row(row, &error)]).await?
            }
            outcome => outcome?,
        };
    }
    Ok(written)
}

/// Inserts `rows` in statements within the bind-parameter limit and adds the rows written to
/// the file's counters (and the chunk's progress), in one transaction.
async fn insert_results(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunk: Option<i32>,
    rows: Vec<results::Model>,
) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let (mut succeeded, mut failed) = (0, 0);
    for part in rows.chunks(rows_per_insert(results::Column::iter().count())) {
        let inserted = match results::Entity::insert_many(part.iter().cloned().map(active_result))
            .on_conflict_do_nothing_on([results::Column::FileId, results::Column::Domain])
            .exec_with_returning_many(&txn)
            .await?
        {
            TryInsertResult::Inserted(models) => models,
            TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
        };
        for row in inserted {
            match row.status {
                ResultStatus::Success => succeeded += 1,
                ResultStatus::Failed => failed += 1,
            }
        }
    }
    let now = Utc::now();
    let written = succeeded + failed;
    if written > 0 {
        files::Entity::update_many()
            .col_expr(
                files::Column::SucceededCount,
                Expr::col(files::Column::SucceededCount).add(count(succeeded)),
            )
            .col_expr(
                files::Column::FailedCount,
                Expr::col(files::Column::FailedCount).add(count(failed)),
            )
            .col_expr(files::Column::UpdatedAt, Expr::value(now))
            .filter(files::Column::Id.eq(file_id))
            .exec(&txn)
            .await?;
        if let Some(number) = chunk {
            file_chunks::Entity::update_many()
                .col_expr(
                    file_chunks::Column::RecordedCount,
                    Expr::col(file_chunks::Column::RecordedCount).add(count(written)),
                )
                .filter(file_chunks::Column::FileId.eq(file_id))
                .filter(file_chunks::Column::Number.eq(number))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(written as u64)
}

fn active_result(row: results::Model) -> results::ActiveModel {
    results::ActiveModel {
        id: Set(row.id),
        file_id: Set(row.file_id),
        position: Set(row.position),
        domain: Set(row.domain),
        favicon_url: Set(row.favicon_url),
        status: Set(row.status),
        error: Set(row.error),
        tries: Set(row.tries),
        icon_format: Set(row.icon_format),
        icon_width: Set(row.icon_width),
        icon_height: Set(row.icon_height),
        icon_bytes: Set(row.icon_bytes),
        icon_source: Set(row.icon_source),
        error_category: Set(row.error_category),
        from_cache: Set(row.from_cache),
        cache_class: Set(row.cache_class),
        created_at: Set(row.created_at),
        updated_at: Set(row.updated_at),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Sets a file COMPLETED with its counters recomputed from its results and its lease
/// cleared, when `condition` (SQL over `$1` = file id, `$2` = owner) holds.
const COMPLETE_SQL: &str = r#"
    UPDATE files SET
        status = 'COMPLETED',
        succeeded_count = (SELECT count(*) FROM results WHERE file_id = $1 AND status = 'success'),
        failed_count = (SELECT count(*) FROM results WHERE file_id = $1 AND status = 'failed'),
        error_message = NULL,
        lease_owner = NULL,
        lease_expires_at = NULL,
        processed_at = now(),
        updated_at = now()
    WHERE id = $1 AND status = 'PROCESSING'
"#;

/// Marks the file COMPLETED with counters recomputed from its results; false when `owner`
/// no longer holds it.
pub async fn complete(db: &DatabaseConnection, file_id: Uuid, owner: Uuid) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("{COMPLETE_SQL} AND lease_owner = $2"),
            [file_id.into(), owner.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a chunked file COMPLETED (its chunks are all done; no file lease is held).
async fn complete_unleased(db: &impl ConnectionTrait, file_id: Uuid) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            COMPLETE_SQL,
            [file_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Marks a file that cannot be processed FAILED with `reason`, unless it is terminal already.
pub async fn fail(db: &DatabaseConnection, file_id: Uuid, reason: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let updated = files::Entity::update_many()
        .col_expr(
            files::Column::Status,
            Expr::value(FileStatus::Failed.as_str()),
        )
        .col_expr(
            files::Column::ErrorMessage,
            Expr::value(text::storable(reason, MAX_ERROR_CHARS).into_owned()),
        )
        .col_expr(files::Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
        .col_expr(
            files::Column::LeaseExpiresAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(files::Column::ProcessedAt, Expr::value(now))
        .col_expr(files::Column::UpdatedAt, Expr::value(now))
        .filter(files::Column::Id.eq(file_id))
        .filter(files::Column::Status.is_in([FileStatus::Pending, FileStatus::Processing]))
        .exec(db)
        .await?;
    if updated.rows_affected == 1 {
        common::metrics::file_finished(FileStatus::Failed);
    }
    Ok(())
}

/// When a live worker holds the work an event names (the file, or its chunk `chunk`): the
/// end of that lease, or `None` when nobody does (never taken, finished, or the holder's
/// lease lapsed).
pub async fn live_lease(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunk: Option<i32>,
) -> Result<Option<chrono::DateTime<Utc>>, DbErr> {
    let now = Utc::now();
    let expires_at = match chunk {
        None => files::Entity::find_by_id(file_id)
            .one(db)
            .await?
            .filter(|file| !file.status.is_terminal())
            .and_then(|file| file.lease_expires_at),
        Some(number) => file_chunks::Entity::find_by_id((file_id, number))
            .one(db)
            .await?
            .filter(|chunk| !chunk.done)
            .and_then(|chunk| chunk.lease_expires_at),
    };
    Ok(expires_at.filter(|expires_at| *expires_at > now))
}

/// How far a dead-lettered file or chunk has got, and what the DLQ consumer noted when it
/// last sent it back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Results recorded: by the file (its counters), or by the chunk.
    pub recorded: i32,
    /// `recorded` when it was last sent back (0 before).
    pub mark: i32,
    /// Times it was sent back.
    pub redrives: i32,
}

impl Progress {
    /// It recorded results since it was last sent back (or ever, the first time).
    pub fn advanced(&self) -> bool {
        self.recorded > self.mark
    }
}

/// The `redrives` key of a file (-1) or of its chunk.
fn redrive_key(chunk: Option<i32>) -> i32 {
    chunk.unwrap_or(-1)
}

/// The progress of the work an event names (the file, or its chunk `chunk`); `None` when
/// there is nothing left to do (no such file or chunk, a terminal file, a done chunk).
pub async fn progress(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunk: Option<i32>,
) -> Result<Option<Progress>, DbErr> {
    let recorded = match chunk {
        None => files::Entity::find_by_id(file_id)
            .one(db)
            .await?
            .filter(|file| !file.status.is_terminal())
            .map(|file| file.succeeded_count.saturating_add(file.failed_count)),
        Some(number) => file_chunks::Entity::find_by_id((file_id, number))
            .one(db)
            .await?
            .filter(|chunk| !chunk.done)
            .map(|chunk| chunk.recorded_count),
    };
    let Some(recorded) = recorded else {
        return Ok(None);
    };
    let noted = redrives::Entity::find_by_id((file_id, redrive_key(chunk)))
        .one(db)
        .await?;
    Ok(Some(Progress {
        recorded,
        mark: noted.as_ref().map_or(0, |noted| noted.progress_mark),
        redrives: noted.map_or(0, |noted| noted.redrive_count),
    }))
}

/// Notes that the work was sent back to the queue at `progress.recorded` results, unless
/// another consumer noted a redrive since `progress` was read; false then.
pub async fn note_redrive(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunk: Option<i32>,
    progress: Progress,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            r#"
            INSERT INTO redrives (file_id, chunk, redrive_count, progress_mark)
            VALUES ($1, $2, 1, $3)
            ON CONFLICT (file_id, chunk) DO UPDATE SET
                redrive_count = redrives.redrive_count + 1,
                progress_mark = EXCLUDED.progress_mark,
                updated_at = now()
            WHERE redrives.redrive_count = $4
            "#,
            [
                file_id.into(),
                redrive_key(chunk).into(),
                progress.recorded.into(),
                progress.redrives.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Remembers why a file that is still being retried was interrupted (a reason for users,
/// never a raw error), so the api can show it and the DLQ consumer report it.
pub async fn note_error(db: &DatabaseConnection, file_id: Uuid, reason: &str) -> Result<(), DbErr> {
    files::Entity::update_many()
        .col_expr(
            files::Column::ErrorMessage,
            Expr::value(text::storable(reason, MAX_ERROR_CHARS).into_owned()),
        )
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(files::Column::Id.eq(file_id))
        .filter(files::Column::Status.is_in([FileStatus::Pending, FileStatus::Processing]))
        .exec(db)
        .await?;
    Ok(())
}

/// The file's last recorded error.
pub async fn last_error(db: &DatabaseConnection, file_id: Uuid) -> Result<Option<String>, DbErr> {
    Ok(files::Entity::find_by_id(file_id)
        .one(db)
        .await?
        .and_then(|file| file.error_message))
}

/// A chunk of a large file, about to be recorded.
#[derive(Debug, Clone)]
pub struct NewChunk {
    /// From 0.
    pub number: i32,
    /// Where its entries are written.
    pub s3_key: String,
    /// `(position, domain)` of each of its domains.
    pub entries: Vec<(i32, String)>,
}

/// Records the chunks of a file; chunks recorded by an earlier attempt are kept.
pub async fn insert_chunks(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunks: &[NewChunk],
) -> Result<(), DbErr> {
    let now = Utc::now();
    for part in chunks.chunks(rows_per_insert(file_chunks::Column::iter().count())) {
        let rows = part.iter().map(|chunk| file_chunks::ActiveModel {
            file_id: Set(file_id),
            number: Set(chunk.number),
            s3_key: Set(chunk.s3_key.clone()),
            domain_count: Set(i32::try_from(chunk.entries.len()).unwrap_or(i32::MAX)),
            done: Set(false),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            recorded_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        });
        file_chunks::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([file_chunks::Column::FileId, file_chunks::Column::Number])
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Notes that the file's `chunk_count` chunks are recorded and announced, and gives up the
/// file's lease: from now on the chunks' messages carry the work. False when `owner` no
/// longer held the file.
pub async fn mark_planned(
    db: &DatabaseConnection,
    file_id: Uuid,
    owner: Uuid,
    chunk_count: i32,
) -> Result<bool, DbErr> {
    let updated = files::Entity::update_many()
        .col_expr(files::Column::ChunkCount, Expr::value(chunk_count))
        .col_expr(files::Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
        .col_expr(
            files::Column::LeaseExpiresAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(held_by(file_id, owner))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The outcome of trying to take a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkClaim {
    /// This worker now holds the chunk.
    Claimed,
    /// The chunk is done, or its file is terminal or gone.
    Done,
    /// Another worker holds an unexpired lease on it.
    HeldElsewhere,
}

fn chunk_held_by(file_id: Uuid, number: i32, owner: Uuid) -> Condition {
    Condition::all()
        .add(file_chunks::Column::FileId.eq(file_id))
        .add(file_chunks::Column::Number.eq(number))
        .add(file_chunks::Column::LeaseOwner.eq(owner))
}

/// Takes chunk `number` of `file_id` for `owner` until `lease` from now, unless it is done
/// or another worker's lease on it is still running.
pub async fn claim_chunk(
    db: &DatabaseConnection,
    file_id: Uuid,
    number: i32,
    owner: Uuid,
    lease: Duration,
) -> Result<ChunkClaim, DbErr> {
    let file = files::Entity::find_by_id(file_id).one(db).await?;
    if file.is_none_or(|file| file.status.is_terminal()) {
        return Ok(ChunkClaim::Done);
    }
    let now = Utc::now();
    let updated = file_chunks::Entity::update_many()
        .col_expr(file_chunks::Column::LeaseOwner, Expr::value(owner))
        .col_expr(
            file_chunks::Column::LeaseExpiresAt,
            Expr::value(lease_end(lease)),
        )
        .col_expr(file_chunks::Column::UpdatedAt, Expr::value(now))
        .filter(file_chunks::Column::FileId.eq(file_id))
        .filter(file_chunks::Column::Number.eq(number))
        .filter(file_chunks::Column::Done.eq(false))
        .filter(takeable(
            file_chunks::Column::LeaseExpiresAt,
            file_chunks::Column::LeaseOwner,
            owner,
            now,
        ))
        .exec(db)
        .await?;
    if updated.rows_affected == 1 {
        return Ok(ChunkClaim::Claimed);
    }
    let chunk = file_chunks::Entity::find_by_id((file_id, number))
        .one(db)
        .await?;
    Ok(match chunk {
        Some(chunk) if !chunk.done => ChunkClaim::HeldElsewhere,
        _ => ChunkClaim::Done,
    })
}

/// Extends `owner`'s lease on a chunk; false when it no longer holds it.
pub async fn renew_chunk(
    db: &DatabaseConnection,
    file_id: Uuid,
    number: i32,
    owner: Uuid,
    lease: Duration,
) -> Result<bool, DbErr> {
    let updated = file_chunks::Entity::update_many()
        .col_expr(
            file_chunks::Column::LeaseExpiresAt,
            Expr::value(lease_end(lease)),
        )
        .filter(chunk_held_by(file_id, number, owner))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Gives a chunk up at once, so another worker can resume it.
pub async fn release_chunk(
    db: &DatabaseConnection,
    file_id: Uuid,
    number: i32,
    owner: Uuid,
) -> Result<(), DbErr> {
    file_chunks::Entity::update_many()
        .col_expr(
            file_chunks::Column::LeaseOwner,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            file_chunks::Column::LeaseExpiresAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(chunk_held_by(file_id, number, owner))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks `owner`'s chunk done and, when it was the file's last, the file COMPLETED with
/// counters recomputed. The file's row is locked first, so of two workers finishing the last
/// two chunks at once exactly one sees none left. `None` when `owner` no longer held the
/// chunk; otherwise whether this call completed the file.
pub async fn finish_chunk(
    db: &DatabaseConnection,
    file_id: Uuid,
    number: i32,
    owner: Uuid,
) -> Result<Option<bool>, DbErr> {
    let txn = db.begin().await?;
    let file = files::Entity::find_by_id(file_id)
        .lock_exclusive()
        .one(&txn)
        .await?;
    let Some(file) = file else {
        return Ok(Some(false));
    };
    let updated = file_chunks::Entity::update_many()
        .col_expr(file_chunks::Column::Done, Expr::value(true))
        .col_expr(
            file_chunks::Column::LeaseOwner,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            file_chunks::Column::LeaseExpiresAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(file_chunks::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(chunk_held_by(file_id, number, owner))
        .filter(file_chunks::Column::Done.eq(false))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(None);
    }
    let remaining = file_chunks::Entity::find()
        .filter(file_chunks::Column::FileId.eq(file_id))
        .filter(file_chunks::Column::Done.eq(false))
        .count(&txn)
        .await?;
    let planned = file_chunks::Entity::find()
        .filter(file_chunks::Column::FileId.eq(file_id))
        .count(&txn)
        .await?;
    let completed = remaining == 0
        && file.status == FileStatus::Processing
        && u64::try_from(file.chunk_count).is_ok_and(|count| count == planned)
        && complete_unleased(&txn, file_id).await?;
    txn.commit().await?;
    Ok(Some(completed))
}
