//! The worker's reads and writes of `files` and `results`. Every change of a file that a
//! worker holds is conditional on its lease, so two workers never both process one file.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use entity::{FileStatus, ResultStatus, files, results};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

/// The outcome of trying to take a file.
#[derive(Debug)]
pub enum Claim {
    /// This worker now holds the file, which is PROCESSING.
    Claimed(Box<files::Model>),
    /// The file is COMPLETED or FAILED already.
    Terminal,
    /// Another worker holds an unexpired lease on it.
    HeldElsewhere,
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
    pub outcome: Result<String, String>,
    /// Attempts made.
    pub tries: i32,
}

fn lease_end(lease: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5))
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
        .filter(
            Condition::any()
                .add(files::Column::LeaseExpiresAt.is_null())
                .add(files::Column::LeaseExpiresAt.lt(now))
                .add(files::Column::LeaseOwner.eq(owner)),
        )
        .exec(db)
        .await?;
    let file = files::Entity::find_by_id(file_id).one(db).await?;
    Ok(match file {
        None => Claim::Missing,
        Some(file) if file.status.is_terminal() => Claim::Terminal,
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

/// The domains of `file_id` that already have a result (from an interrupted run).
pub async fn recorded_domains(
    db: &DatabaseConnection,
    file_id: Uuid,
) -> Result<HashSet<String>, DbErr> {
    let domains: Vec<String> = results::Entity::find()
        .select_only()
        .column(results::Column::Domain)
        .filter(results::Column::FileId.eq(file_id))
        .into_tuple()
        .all(db)
        .await?;
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
        let (status, favicon_url, error) = match result.outcome {
            Ok(url) => (ResultStatus::Success, Some(url), None),
            Err(reason) => (ResultStatus::Failed, None, Some(reason)),
        };
        results::ActiveModel {
            id: Set(Uuid::now_v7()),
            file_id: Set(file_id),
            position: Set(result.position),
            domain: Set(result.domain),
            favicon_url: Set(favicon_url),
            status: Set(status),
            error: Set(error),
            tries: Set(result.tries),
            created_at: Set(now),
            updated_at: Set(now),
        }
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

/// Marks the file COMPLETED with counters recomputed from its results; false when `owner`
/// no longer holds it.
pub async fn complete(db: &DatabaseConnection, file_id: Uuid, owner: Uuid) -> Result<bool, DbErr> {
    let sql = r#"
        UPDATE files SET
            status = 'COMPLETED',
            succeeded_count = (SELECT count(*) FROM results WHERE file_id = $1 AND status = 'success'),
            failed_count = (SELECT count(*) FROM results WHERE file_id = $1 AND status = 'failed'),
            error_message = NULL,
            lease_owner = NULL,
            lease_expires_at = NULL,
            processed_at = now(),
            updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND status = 'PROCESSING'
    "#;
    let result = db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [file_id.into(), owner.into()],
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
