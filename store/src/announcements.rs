//! Which files have been announced on SNS. The api publishes; this module records that it did
//! and finds the PENDING files whose announcement never got through, for the re-publisher.

use chrono::{DateTime, Utc};
use entity::{FileStatus, files};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, LockBehavior, LockType},
};
use uuid::Uuid;

/// Records that the event of `file_id` reached SNS.
pub async fn mark_published(db: &impl ConnectionTrait, file_id: Uuid) -> Result<(), DbErr> {
    mark_all_published(db, &[file_id]).await
}

/// Records that the events of `file_ids` reached SNS, in one update.
pub async fn mark_all_published(db: &impl ConnectionTrait, file_ids: &[Uuid]) -> Result<(), DbErr> {
    files::Entity::update_many()
        .col_expr(files::Column::PublishedAt, Expr::value(Utc::now()))
        .filter(files::Column::Id.is_in(file_ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// PENDING files never announced, taken by one re-publisher: their rows stay locked
/// (`FOR UPDATE SKIP LOCKED`, so several api instances share the work) until [`Self::commit`].
#[derive(Debug)]
pub struct Unannounced {
    txn: DatabaseTransaction,
    /// The files to announce, oldest first.
    pub files: Vec<files::Model>,
}

impl Unannounced {
    /// Takes up to `limit` PENDING files created before `cutoff` without a recorded publish.
    pub async fn take(
        db: &DatabaseConnection,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Self, DbErr> {
        let txn = db.begin().await?;
        let files = files::Entity::find()
            .filter(files::Column::Status.eq(FileStatus::Pending))
            .filter(files::Column::PublishedAt.is_null())
            .filter(files::Column::CreatedAt.lt(cutoff))
            .order_by_asc(files::Column::CreatedAt)
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .all(&txn)
            .await?;
        Ok(Self { txn, files })
    }

    /// Records that the event of `file_id`, one of [`Self::files`], reached SNS.
    pub async fn mark_published(&self, file_id: Uuid) -> Result<(), DbErr> {
        mark_published(&self.txn, file_id).await
    }

    /// Keeps what was recorded and lets the rows go.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}
