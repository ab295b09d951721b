//! The `files` table: recording uploads for the api (always scoped to the calling client:
//! another client's file is as absent as one that never existed), and the worker's writes of
//! a file it holds. Status changes go through [`crate::transitions`], the one place that
//! decides which are allowed.

use chrono::Utc;
use entity::{FileStatus, FileType, files};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, NotSet, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    Statement, TransactionTrait,
    sea_query::{Expr, SimpleExpr},
};
use uuid::Uuid;

use crate::{
    errors::retrying,
    leases::{Lease, file_held_by},
    stored_text::{MAX_ERROR_CHARS, storable},
    transitions::{self, Change, TransitionError},
};

/// What is known of a file when its upload has been stored.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Chosen before the upload so the S3 key can contain it.
    pub id: Uuid,
    /// The uploading client.
    pub client_id: Uuid,
    /// The name the client gave, invisible characters removed, at most 255 bytes.
    pub original_name: String,
    /// Where it is stored.
    pub s3_bucket: String,
    /// Its key.
    pub s3_key: String,
    /// CSV, TSV, JSON or NDJSON.
    pub file_type: FileType,
    /// Its size.
    pub size_bytes: i64,
    /// Where its webhook notifications go instead of the client's webhook URL (checked by
    /// the caller).
    pub callback_url: Option<String>,
}

/// Why a stored file was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// The client already has `limit` files PENDING or PROCESSING.
    #[error("the client already has {limit} files in flight")]
    TooManyInFlight {
        /// The limit that was reached.
        limit: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// The statuses of a file that is not finished: it counts against the in-flight cap.
const IN_FLIGHT: [FileStatus; 2] = [FileStatus::Pending, FileStatus::Processing];

/// How many of the client's files are PENDING or PROCESSING: one count on the
/// `(client_id, status, created_at)` index.
pub async fn count_in_flight(db: &impl ConnectionTrait, client_id: Uuid) -> Result<u64, DbErr> {
    files::Entity::find()
        .filter(files::Column::ClientId.eq(client_id))
        .filter(files::Column::Status.is_in(IN_FLIGHT))
        .count(db)
        .await
}

/// Inserts the `files` row of a stored upload, PENDING and not yet published, unless the
/// client already has `max_in_flight` files PENDING or PROCESSING.
///
/// Count and insert run in one transaction holding a per-client advisory lock, so concurrent
/// uploads of one client are counted one after the other and the cap is exact. The lock is
/// held for two short statements, never while a file is being received.
pub async fn insert_pending(
    db: &DatabaseConnection,
    new: NewFile,
    max_in_flight: u64,
) -> Result<files::Model, InsertError> {
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT pg_advisory_xact_lock(hashtextextended('files_in_flight:' || $1::text, 0))",
        [new.client_id.into()],
    ))
    .await?;
    if count_in_flight(&txn, new.client_id).await? >= max_in_flight {
        txn.rollback().await?;
        return Err(InsertError::TooManyInFlight {
            limit: max_in_flight,
        });
    }
    let file = pending_row(new).insert(&txn).await?;
    txn.commit().await?;
    Ok(file)
}

/// The active model of a new PENDING file: the one status a file starts in.
fn pending_row(new: NewFile) -> files::ActiveModel {
    let now = Utc::now();
    files::ActiveModel {
        id: Set(new.id),
        client_id: Set(new.client_id),
        original_name: Set(new.original_name),
        s3_bucket: Set(new.s3_bucket),
        s3_key: Set(new.s3_key),
        file_type: Set(new.file_type),
        size_bytes: Set(new.size_bytes),
        status: Set(FileStatus::Pending),
        error_message: Set(None),
        total_count: Set(0),
        succeeded_count: Set(0),
        failed_count: Set(0),
        published_at: Set(None),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        processed_at: Set(None),
        chunk_count: Set(0),
        callback_url: Set(new.callback_url),
        created_at: Set(now),
        updated_at: Set(now),
        // Numbered by the database when the insert commits.
        change_seq: NotSet,
    }
}

/// The client's file `file_id`, if it exists and is theirs.
pub async fn find_for_client(
    db: &DatabaseConnection,
    client_id: Uuid,
    file_id: Uuid,
) -> Result<Option<files::Model>, DbErr> {
    files::Entity::find_by_id(file_id)
        .filter(files::Column::ClientId.eq(client_id))
        .one(db)
        .await
}

/// One page of a client's files, newest first, and how many there are in all. One statement
/// (the count rides along as a subquery evaluated once), so a dashboard's listing costs one
/// round trip to the database; only a page past the end asks for the count again.
pub async fn list_for_client(
    db: &DatabaseConnection,
    client_id: Uuid,
    status: Option<FileStatus>,
    page: u64,
    limit: u64,
) -> Result<(Vec<files::Model>, u64), DbErr> {
    let mut matching = files::Entity::find().filter(files::Column::ClientId.eq(client_id));
    if let Some(status) = status {
        matching = matching.filter(files::Column::Status.eq(status));
    }
    let count = matching
        .clone()
        .select_only()
        .column_as(files::Column::Id.count(), TOTAL)
        .into_query();
    let page_with_total = matching
        .clone()
        .column_as(SimpleExpr::SubQuery(None, Box::new(count.into())), TOTAL)
        .order_by_desc(files::Column::CreatedAt)
        .order_by_desc(files::Column::Id)
        .offset((page - 1) * limit)
        .limit(limit);
    let rows = db.query_all(page_with_total.as_query()).await?;
    let total = match rows.first() {
        Some(row) => u64::try_from(row.try_get::<i64>("", TOTAL)?).unwrap_or(0),
        None if page == 1 => 0,
        None => matching.count(db).await?,
    };
    let items = rows
        .iter()
        .map(|row| files::Model::from_query_result(row, ""))
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// The column carrying the matching files' count beside each row of a listing.
const TOTAL: &str = "total";

/// How many files `client_id` has in each status (statuses without files are left out).
pub async fn count_by_status(
    db: &DatabaseConnection,
    client_id: Uuid,
) -> Result<Vec<(FileStatus, u64)>, DbErr> {
    let rows: Vec<(FileStatus, i64)> = files::Entity::find()
        .select_only()
        .column(files::Column::Status)
        .column_as(files::Column::Id.count(), "count")
        .filter(files::Column::ClientId.eq(client_id))
        .group_by(files::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(status, count)| (status, u64::try_from(count).unwrap_or(0)))
        .collect())
}

/// Records how many distinct entries the file `lease` holds has. Outages are retried.
pub async fn set_total(db: &DatabaseConnection, lease: &Lease, total: i32) -> Result<(), DbErr> {
    let file_id = lease.work.file_id();
    retrying("recording the total", || async move {
        files::Entity::update_many()
            .col_expr(files::Column::TotalCount, Expr::value(total))
            .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(file_held_by(file_id, lease.owner))
            .exec(db)
            .await
            .map(|_| ())
    })
    .await
}

/// Marks the file `lease` holds COMPLETED with its counters recounted from its results
/// ([`transitions`]). Outages are retried; any other error means the lease is lost (another
/// worker took the file over, or it was failed meanwhile).
pub async fn complete(db: &DatabaseConnection, lease: &Lease) -> Result<(), TransitionError> {
    let file_id = lease.work.file_id();
    let owner = Some(lease.owner);
    retrying("completing the file", || {
        transitions::change(db, file_id, Change::Complete { owner })
    })
    .await
}

/// Marks a file that cannot be processed FAILED with `reason` (worker or DLQ consumer). A file
/// that is COMPLETED, FAILED or CANCELLED already, or gone, keeps what it has: the rule refuses the
/// change, which is expected here (a late message of a finished file), so it is no error.
/// True when this call made the file FAILED.
pub async fn fail(db: &DatabaseConnection, file_id: Uuid, reason: &str) -> Result<bool, DbErr> {
    match transitions::change(db, file_id, Change::Fail { reason }).await {
        Ok(()) => Ok(true),
        Err(TransitionError::Refused(_) | TransitionError::Missing(_)) => Ok(false),
        Err(TransitionError::Database(error)) => Err(error),
        // Failing asks for no lease.
        Err(TransitionError::NotHeld(_)) => Ok(false),
    }
}

/// Remembers why a file that is still being retried was interrupted (a reason for users,
/// never a raw error), so the api can show it and the DLQ consumer report it.
pub async fn note_error(db: &DatabaseConnection, file_id: Uuid, reason: &str) -> Result<(), DbErr> {
    files::Entity::update_many()
        .col_expr(
            files::Column::ErrorMessage,
            Expr::value(storable(reason, MAX_ERROR_CHARS).into_owned()),
        )
        .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(files::Column::Id.eq(file_id))
        .filter(files::Column::Status.is_in(IN_FLIGHT))
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
