//! The `file_chunks` table: the parts a large file is split into so that several workers share
//! it. Planning is idempotent (chunks recorded by an earlier attempt are kept); the last chunk
//! to finish completes its file.

use chrono::Utc;
use entity::{FileStatus, file_chunks, files};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Iterable, PaginatorTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    errors::retrying,
    leases::{Lease, Work, chunk_held_by, file_held_by},
    results::rows_per_insert,
    transitions::{self, Change, TransitionError},
};

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

/// Records the chunks of a file; chunks recorded by an earlier attempt are kept. Outages are
/// retried.
pub async fn insert_chunks(
    db: &DatabaseConnection,
    file_id: Uuid,
    chunks: &[NewChunk],
) -> Result<(), DbErr> {
    retrying("recording the chunks", || async move {
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
                .on_conflict_do_nothing_on([
                    file_chunks::Column::FileId,
                    file_chunks::Column::Number,
                ])
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    })
    .await
}

/// Notes that the file's `chunk_count` chunks are recorded and announced, and gives up the
/// file's lease: from now on the chunks' messages carry the work. `NotHeld` when the lease
/// was lost meanwhile. Outages are retried.
pub async fn mark_planned(
    db: &DatabaseConnection,
    lease: &Lease,
    chunk_count: i32,
) -> Result<(), TransitionError> {
    let file_id = lease.work.file_id();
    let updated = retrying("recording the plan", || async move {
        files::Entity::update_many()
            .col_expr(files::Column::ChunkCount, Expr::value(chunk_count))
            .col_expr(files::Column::LeaseOwner, Expr::value(Option::<Uuid>::None))
            .col_expr(
                files::Column::LeaseExpiresAt,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .col_expr(files::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(file_held_by(file_id, lease.owner))
            .exec(db)
            .await
    })
    .await?;
    if updated.rows_affected == 1 {
        Ok(())
    } else {
        Err(TransitionError::NotHeld(file_id))
    }
}

/// Marks the chunk `lease` holds done and, when it was the file's last, the file COMPLETED
/// with counters recounted ([`transitions`]). The file's row is locked first, so of two
/// workers finishing the last two chunks at once exactly one sees none left. True when this
/// call completed the file; `NotHeld` when the chunk's lease was lost. Outages are retried.
pub async fn finish_chunk(db: &DatabaseConnection, lease: &Lease) -> Result<bool, TransitionError> {
    let Work::Chunk { file_id, number } = lease.work else {
        return Err(TransitionError::NotHeld(lease.work.file_id()));
    };
    let owner = lease.owner;
    retrying("finishing the chunk", || async move {
        let txn = db.begin().await?;
        let file = files::Entity::find_by_id(file_id)
            .lock_exclusive()
            .one(&txn)
            .await?;
        let Some(file) = file else {
            return Ok(false);
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
            return Err(TransitionError::NotHeld(file_id));
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
        let last = remaining == 0
            && file.status == FileStatus::Processing
            && u64::try_from(file.chunk_count).is_ok_and(|count| count == planned);
        let completed = last
            && match transitions::change(&txn, file_id, Change::Complete { owner: None }).await {
                Ok(()) => true,
                Err(TransitionError::Database(error)) => return Err(error.into()),
                Err(_) => false,
            };
        txn.commit().await?;
        Ok(completed)
    })
    .await
}
