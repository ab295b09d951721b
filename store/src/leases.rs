//! Leases: which worker holds a file or a chunk, and until when. Every write of held work is
//! conditional on its lease, so two workers never both process it; a lease that is not renewed
//! lapses, so the work of a crashed worker is free again when its message reappears. Files and
//! chunks follow the one rule here: [`Lease::claim`], [`Lease::renew`], [`Lease::release`] and
//! what counts as takeable.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use entity::{file_chunks, files};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    errors::retrying,
    transitions::{self, Change, TransitionError},
};

/// What a lease is on: a whole file, or one chunk of a large one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Work {
    /// A file processed whole (or being split into chunks).
    File(Uuid),
    /// Chunk `number` of a file that was split.
    Chunk {
        /// The file.
        file_id: Uuid,
        /// From 0.
        number: i32,
    },
    /// A retry of a COMPLETED file's failed results ([`crate::retries`]), held on the file's
    /// own lease whether the file was split into chunks or not.
    Retry(Uuid),
}

impl Work {
    /// The file the work belongs to.
    pub fn file_id(self) -> Uuid {
        match self {
            Self::File(file_id) | Self::Chunk { file_id, .. } | Self::Retry(file_id) => file_id,
        }
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(file_id) => write!(f, "file {file_id}"),
            Self::Chunk { file_id, number } => write!(f, "chunk {number} of file {file_id}"),
            Self::Retry(file_id) => write!(f, "the retry of file {file_id}"),
        }
    }
}

/// A lease that `owner` holds, or asks for, on `work` for `duration` at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// What it is on.
    pub work: Work,
    /// The worker holding it.
    pub owner: Uuid,
    /// How long it lasts unless renewed.
    pub duration: Duration,
}

/// The outcome of [`Lease::claim`].
#[derive(Debug)]
pub enum Claim {
    /// The lease is held now; `file` is the work's file as it was when claimed.
    Claimed(Box<files::Model>),
    /// Nothing is left to do: the file is COMPLETED, FAILED or CANCELLED, or the chunk done.
    Finished,
    /// Another worker holds an unexpired lease on it.
    HeldElsewhere,
    /// The file was split into chunks, whose own messages carry the work.
    Planned,
    /// No such file (deleted by its owner, or a message from elsewhere).
    Missing,
}

/// A lease `owner` may take: none, lapsed (its holder crashed), or its own already.
fn takeable<C: ColumnTrait>(
    expires_at: C,
    holder: C,
    owner: Uuid,
    now: DateTime<Utc>,
) -> Condition {
    Condition::any()
        .add(expires_at.is_null())
        .add(expires_at.lt(now))
        .add(holder.eq(owner))
}

/// [`takeable`] for a file's own lease.
pub(crate) fn takeable_file(owner: Uuid, now: DateTime<Utc>) -> Condition {
    takeable(
        files::Column::LeaseExpiresAt,
        files::Column::LeaseOwner,
        owner,
        now,
    )
}

impl Lease {
    /// A lease of `owner` on `work`, not yet claimed.
    pub fn new(work: Work, owner: Uuid, duration: Duration) -> Self {
        Self {
            work,
            owner,
            duration,
        }
    }

    /// When the lease would end if taken or renewed now.
    fn end(&self) -> DateTime<Utc> {
        Utc::now()
            + chrono::Duration::from_std(self.duration).unwrap_or(chrono::Duration::minutes(5))
    }

    /// Takes the work unless it is finished or another worker's lease on it runs. A file goes
    /// PENDING (or PROCESSING with a lapsed lease) to PROCESSING through the one status rule
    /// ([`transitions`]); a chunk is taken only while its file is not finished. Outages are
    /// retried ([`retrying`]).
    pub async fn claim(
        &self,
        db: &(impl ConnectionTrait + TransactionTrait),
    ) -> Result<Claim, DbErr> {
        retrying("claiming the work", || self.try_claim(db)).await
    }

    async fn try_claim(
        &self,
        db: &(impl ConnectionTrait + TransactionTrait),
    ) -> Result<Claim, DbErr> {
        let file_id = self.work.file_id();
        match self.work {
            Work::File(_) | Work::Retry(_) => {
                let (owner, until) = (self.owner, self.end());
                let claim = match self.work {
                    Work::Retry(_) => Change::ClaimRetry { owner, until },
                    _ => Change::Claim { owner, until },
                };
                let outcome = match transitions::change(db, file_id, claim).await {
                    Ok(()) => None,
                    Err(TransitionError::Database(error)) => return Err(error),
                    Err(TransitionError::Missing(_)) => return Ok(Claim::Missing),
                    Err(TransitionError::Refused(_)) => return Ok(Claim::Finished),
                    Err(TransitionError::NotHeld(_)) => Some(()),
                };
                let Some(file) = files::Entity::find_by_id(file_id).one(db).await? else {
                    return Ok(Claim::Missing);
                };
                Ok(match outcome {
                    None => Claim::Claimed(Box::new(file)),
                    Some(()) if file.status.is_terminal() => Claim::Finished,
                    Some(()) if self.work == Work::Retry(file_id) => Claim::HeldElsewhere,
                    Some(()) if file.chunk_count > 0 => Claim::Planned,
                    Some(()) => Claim::HeldElsewhere,
                })
            }
            Work::Chunk { number, .. } => {
                let file = files::Entity::find_by_id(file_id).one(db).await?;
                let Some(file) = file.filter(|file| !file.status.is_terminal()) else {
                    return Ok(Claim::Finished);
                };
                let now = Utc::now();
                let taken = file_chunks::Entity::update_many()
                    .col_expr(file_chunks::Column::LeaseOwner, Expr::value(self.owner))
                    .col_expr(file_chunks::Column::LeaseExpiresAt, Expr::value(self.end()))
                    .col_expr(file_chunks::Column::UpdatedAt, Expr::value(now))
                    .filter(file_chunks::Column::FileId.eq(file_id))
                    .filter(file_chunks::Column::Number.eq(number))
                    .filter(file_chunks::Column::Done.eq(false))
                    .filter(takeable(
                        file_chunks::Column::LeaseExpiresAt,
                        file_chunks::Column::LeaseOwner,
                        self.owner,
                        now,
                    ))
                    .exec(db)
                    .await?;
                if taken.rows_affected == 1 {
                    return Ok(Claim::Claimed(Box::new(file)));
                }
                let chunk = file_chunks::Entity::find_by_id((file_id, number))
                    .one(db)
                    .await?;
                Ok(match chunk {
                    Some(chunk) if !chunk.done => Claim::HeldElsewhere,
                    _ => Claim::Finished,
                })
            }
        }
    }

    /// Extends the lease; false when the owner no longer holds the work.
    pub async fn renew(&self, db: &impl ConnectionTrait) -> Result<bool, DbErr> {
        self.set(db, Some(self.end())).await
    }

    /// Gives the work up at once (graceful shutdown, an outage), so another worker can resume
    /// it without waiting for the lease to lapse.
    pub async fn release(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        self.set(db, None).await.map(|_| ())
    }

    /// Sets the end of the owner's lease (`None`: gives it up); false when it holds none.
    async fn set(
        &self,
        db: &impl ConnectionTrait,
        until: Option<DateTime<Utc>>,
    ) -> Result<bool, DbErr> {
        let owner = until.map(|_| self.owner);
        let updated = match self.work {
            Work::File(file_id) | Work::Retry(file_id) => {
                files::Entity::update_many()
                    .col_expr(files::Column::LeaseOwner, Expr::value(owner))
                    .col_expr(files::Column::LeaseExpiresAt, Expr::value(until))
                    .filter(files::Column::Id.eq(file_id))
                    .filter(files::Column::LeaseOwner.eq(self.owner))
                    .exec(db)
                    .await?
            }
            Work::Chunk { file_id, number } => {
                file_chunks::Entity::update_many()
                    .col_expr(file_chunks::Column::LeaseOwner, Expr::value(owner))
                    .col_expr(file_chunks::Column::LeaseExpiresAt, Expr::value(until))
                    .filter(file_chunks::Column::FileId.eq(file_id))
                    .filter(file_chunks::Column::Number.eq(number))
                    .filter(file_chunks::Column::LeaseOwner.eq(self.owner))
                    .exec(db)
                    .await?
            }
        };
        Ok(updated.rows_affected == 1)
    }
}

/// When a live worker holds `work`: the end of its lease, or `None` when nobody does (never
/// taken, finished, or the holder's lease lapsed).
pub async fn live_until(
    db: &impl ConnectionTrait,
    work: Work,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let expires_at = match work {
        Work::File(file_id) | Work::Retry(file_id) => files::Entity::find_by_id(file_id)
            .one(db)
            .await?
            .filter(|file| !file.status.is_terminal())
            .and_then(|file| file.lease_expires_at),
        Work::Chunk { file_id, number } => file_chunks::Entity::find_by_id((file_id, number))
            .one(db)
            .await?
            .filter(|chunk| !chunk.done)
            .and_then(|chunk| chunk.lease_expires_at),
    };
    Ok(expires_at.filter(|expires_at| *expires_at > Utc::now()))
}

/// The condition "`owner` holds chunk `number` of `file_id`", for writes that need it.
pub(crate) fn chunk_held_by(file_id: Uuid, number: i32, owner: Uuid) -> Condition {
    Condition::all()
        .add(file_chunks::Column::FileId.eq(file_id))
        .add(file_chunks::Column::Number.eq(number))
        .add(file_chunks::Column::LeaseOwner.eq(owner))
}

/// The condition "`owner` holds file `file_id`", for writes that need it.
pub(crate) fn file_held_by(file_id: Uuid, owner: Uuid) -> Condition {
    Condition::all()
        .add(files::Column::Id.eq(file_id))
        .add(files::Column::LeaseOwner.eq(owner))
}
