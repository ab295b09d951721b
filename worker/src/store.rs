//! The worker's reads and writes of `files` and `results`. Every change of a file that a
//! worker holds is conditional on its lease, so two workers never both process one file.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::Utc;
use entity::{FileStatus, ResultStatus, file_chunks, files, results};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::resolver::{Failure, FailureCategory, Icon};

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

/// Failure categories worth remembering: the site answered, or its name does not exist.
/// Time-outs, connection failures and blocked addresses are tried afresh each time.
const CACHED_FAILURES: [FailureCategory; 6] = [
    FailureCategory::Dns,
    FailureCategory::Tls,
    FailureCategory::HttpStatus,
    FailureCategory::NotImage,
    FailureCategory::NoIcon,
    FailureCategory::TooLarge,
];

/// The newest fetched (not itself cached) result of each of `domains` since `since`, from
/// any file of any client: favicons are public, and only the icon or the failure is copied.
pub async fn recent_outcomes(
    db: &DatabaseConnection,
    domains: Vec<String>,
    since: chrono::DateTime<Utc>,
) -> Result<HashMap<String, Result<IconRecord, FailureRecord>>, DbErr> {
    if domains.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = results::Entity::find()
        .distinct_on([results::Column::Domain])
        .filter(results::Column::Domain.is_in(domains))
        .filter(results::Column::CreatedAt.gt(since))
        .filter(results::Column::FromCache.eq(false))
        .filter(
            Condition::any()
                .add(results::Column::Status.eq(ResultStatus::Success))
                .add(
                    results::Column::ErrorCategory
                        .is_in(CACHED_FAILURES.iter().map(|category| category.as_str())),
                ),
        )
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

/// Runs `operation` again after a short, growing pause when it fails, up to [`DB_TRIES`]
/// times. A connection that dies under a query (a failover, `pg_terminate_backend`, a
/// restarted pooler) is replaced by the pool at once, so the next try usually succeeds;
/// giving the message back instead would spend one of its few receives on the blip, and a
/// long file meeting three of them would be dead-lettered. Only for operations that are safe
/// to repeat: every write here is conditional or `ON CONFLICT DO NOTHING`.
pub async fn retrying<T, F, Fut>(what: &str, mut operation: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let mut pause = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match operation().await {
            Err(error) if tries < DB_TRIES => {
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

/// Writes a batch of results, skipping domains already recorded, and adds exactly the rows
/// written to the file's counters, in one transaction.
pub async fn record_results(
    db: &DatabaseConnection,
    file_id: Uuid,
    batch: Vec<NewResult>,
) -> Result<u64, DbErr> {
    if batch.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let rows = batch.into_iter().map(|result| {
        let mut row = results::ActiveModel {
            id: Set(Uuid::now_v7()),
            file_id: Set(file_id),
            position: Set(result.position),
            domain: Set(result.domain),
            favicon_url: Set(None),
            status: Set(ResultStatus::Success),
            error: Set(None),
            tries: Set(result.tries),
            icon_format: Set(None),
            icon_width: Set(None),
            icon_height: Set(None),
            icon_bytes: Set(None),
            icon_source: Set(None),
            error_category: Set(None),
            from_cache: Set(result.from_cache),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match result.outcome {
            Ok(icon) => {
                row.favicon_url = Set(Some(icon.url));
                row.icon_format = Set(Some(icon.format));
                row.icon_width = Set(Some(icon.width));
                row.icon_height = Set(Some(icon.height));
                row.icon_bytes = Set(Some(icon.bytes));
                row.icon_source = Set(Some(icon.source));
            }
            Err(failure) => {
                row.status = Set(ResultStatus::Failed);
                row.error_category = Set(Some(failure.category));
                row.error = Set(Some(failure.message));
            }
        }
        row
    });
    let txn = db.begin().await?;
    let inserted = match results::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([results::Column::FileId, results::Column::Domain])
        .exec_with_returning_many(&txn)
        .await?
    {
        TryInsertResult::Inserted(models) => models,
        TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
    };
    let succeeded = inserted
        .iter()
        .filter(|r| r.status == ResultStatus::Success)
        .count();
    let failed = inserted.len() - succeeded;
    if !inserted.is_empty() {
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
    }
    txn.commit().await?;
    Ok(inserted.len() as u64)
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
    files::Entity::update_many()
        .col_expr(
            files::Column::Status,
            Expr::value(FileStatus::Failed.as_str()),
        )
        .col_expr(files::Column::ErrorMessage, Expr::value(reason))
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

/// Remembers the last transient error of a file that is still being retried, so the DLQ
/// consumer can report it.
pub async fn note_error(db: &DatabaseConnection, file_id: Uuid, error: &str) -> Result<(), DbErr> {
    files::Entity::update_many()
        .col_expr(files::Column::ErrorMessage, Expr::value(error))
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
    let rows = chunks.iter().map(|chunk| file_chunks::ActiveModel {
        file_id: Set(file_id),
        number: Set(chunk.number),
        s3_key: Set(chunk.s3_key.clone()),
        domain_count: Set(i32::try_from(chunk.entries.len()).unwrap_or(i32::MAX)),
        done: Set(false),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    });
    file_chunks::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([file_chunks::Column::FileId, file_chunks::Column::Number])
        .exec_without_returning(db)
        .await?;
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
