//! Queries and mutations on files, always scoped to the calling client: another client's file
//! is as absent as one that never existed.

use chrono::Utc;
use entity::{FileStatus, FileType, files};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What is known of a file when its upload has been stored.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Chosen before the upload so the S3 key can contain it.
    pub id: Uuid,
    /// The uploading client.
    pub client_id: Uuid,
    /// The name the client gave, invisible characters removed, at most 255 bytes
    /// ([`crate::upload::display_name`]).
    pub original_name: String,
    /// Where it is stored.
    pub s3_bucket: String,
    /// Its key.
    pub s3_key: String,
    /// CSV, TSV, JSON or NDJSON.
    pub file_type: FileType,
    /// Its size.
    pub size_bytes: i64,
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

/// How many of the client's files are PENDING or PROCESSING: one count on the
/// `(client_id, status, created_at)` index.
pub async fn count_in_flight(db: &impl ConnectionTrait, client_id: Uuid) -> Result<u64, DbErr> {
    files::Entity::find()
        .filter(files::Column::ClientId.eq(client_id))
        .filter(files::Column::Status.is_in([FileStatus::Pending, FileStatus::Processing]))
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

/// The active model of a new PENDING file.
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
        created_at: Set(now),
        updated_at: Set(now),
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

/// One page of a client's files, newest first, and how many there are in all.
pub async fn list_for_client(
    db: &DatabaseConnection,
    client_id: Uuid,
    status: Option<FileStatus>,
    page: u64,
    limit: u64,
) -> Result<(Vec<files::Model>, u64), DbErr> {
    let mut query = files::Entity::find().filter(files::Column::ClientId.eq(client_id));
    if let Some(status) = status {
        query = query.filter(files::Column::Status.eq(status));
    }
    let total = query.clone().count(db).await?;
    let items = query
        .order_by_desc(files::Column::CreatedAt)
        .order_by_desc(files::Column::Id)
        .offset((page - 1) * limit)
        .limit(limit)
        .all(db)
        .await?;
    Ok((items, total))
}

/// Progress counters of a file, as the API shows them.
///
/// `percent` always agrees with the counters: `processed / total`, rounded down to a tenth,
/// 0 while `total` is not known. A COMPLETED file is at 100 (its counters add up:
/// `processed == total`). A FAILED file says how far it got before it failed: 0 when it could
/// not be read at all, less than 100 when it failed midway, never a 100 that `processed`
/// contradicts.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Progress {
    /// Distinct domains in the file (known once the worker has read it; 0 for a file that
    /// failed before).
    pub total: i32,
    /// Domains with a favicon.
    pub succeeded: i32,
    /// Domains without one.
    pub failed: i32,
    /// `succeeded + failed`: domains with a result.
    pub processed: i32,
    /// `processed / total` in percent, rounded down to a tenth: 0 to 100, 100 for a COMPLETED
    /// file, what was done before the failure for a FAILED one.
    pub percent: f64,
}

impl Progress {
    /// The counters of `file`.
    pub fn of(file: &files::Model) -> Self {
        let processed = file.succeeded_count + file.failed_count;
        let percent = if file.status == FileStatus::Completed {
            100.0
        } else if file.total_count > 0 {
            let tenths = (f64::from(processed) * 1000.0 / f64::from(file.total_count)).floor();
            (tenths / 10.0).min(100.0)
        } else {
            0.0
        };
        Self {
            total: file.total_count,
            succeeded: file.succeeded_count,
            failed: file.failed_count,
            processed,
            percent,
        }
    }
}

/// A file as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    /// The file's id.
    pub id: Uuid,
    /// The name it was uploaded with.
    pub original_name: String,
    /// `csv`, `tsv`, `json` or `ndjson`.
    pub file_type: FileType,
    /// Its size in bytes.
    pub size_bytes: i64,
    /// `PENDING`, `PROCESSING`, `COMPLETED` or `FAILED`.
    pub status: FileStatus,
    /// Why it failed, when it did.
    pub error_message: Option<String>,
    /// Counters.
    pub progress: Progress,
    /// When it was uploaded.
    pub created_at: chrono::DateTime<Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<Utc>,
    /// When it reached a terminal status.
    pub processed_at: Option<chrono::DateTime<Utc>>,
}

impl From<files::Model> for FileView {
    fn from(file: files::Model) -> Self {
        Self {
            progress: Progress::of(&file),
            id: file.id,
            original_name: file.original_name,
            file_type: file.file_type,
            size_bytes: file.size_bytes,
            status: file.status,
            error_message: file.error_message,
            created_at: file.created_at,
            updated_at: file.updated_at,
            processed_at: file.processed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(status: FileStatus, total: i32, succeeded: i32, failed: i32) -> files::Model {
        let now = Utc::now();
        files::Model {
            id: Uuid::nil(),
            client_id: Uuid::nil(),
            original_name: "d.csv".to_owned(),
            s3_bucket: "b".to_owned(),
            s3_key: "k".to_owned(),
            file_type: FileType::Csv,
            size_bytes: 1,
            status,
            error_message: None,
            total_count: total,
            succeeded_count: succeeded,
            failed_count: failed,
            published_at: None,
            lease_owner: None,
            lease_expires_at: None,
            processed_at: None,
            chunk_count: 0,
            created_at: now,
            updated_at: now,
        }
    }

    fn percent(status: FileStatus, total: i32, succeeded: i32, failed: i32) -> f64 {
        Progress::of(&file(status, total, succeeded, failed)).percent
    }

    #[test]
    fn percent_agrees_with_the_counters_whatever_the_status() {
        assert_eq!(percent(FileStatus::Pending, 0, 0, 0), 0.0);
        assert_eq!(percent(FileStatus::Processing, 3, 1, 0), 33.3);
        assert_eq!(percent(FileStatus::Processing, 3, 2, 1), 100.0);
        assert_eq!(percent(FileStatus::Completed, 3, 2, 1), 100.0);
        assert_eq!(percent(FileStatus::Failed, 0, 0, 0), 0.0, "unreadable file");
        assert_eq!(
            percent(FileStatus::Failed, 200, 120, 30),
            75.0,
            "failed midway"
        );
        let progress = Progress::of(&file(FileStatus::Failed, 200, 120, 30));
        assert_eq!((progress.processed, progress.total), (150, 200));
    }
}
