//! The one rule for a file's status, and the one function that changes it.
//!
//! A file is created PENDING ([`crate::files::insert_pending`]); from there a worker claims it
//! (PROCESSING), another worker may take it over when the holder's lease lapses (PROCESSING
//! again), and it ends COMPLETED when every entry has a result or FAILED when it cannot be
//! processed (by the worker, or by the DLQ consumer, from PENDING or PROCESSING). Its owner may
//! cancel it while PENDING or PROCESSING (CANCELLED). COMPLETED, FAILED and CANCELLED are
//! final, with one exception that only a retry makes ([`Change::Reopen`]): a COMPLETED file
//! with failed results goes back to PROCESSING while those are resolved again, then COMPLETED
//! again. A late or duplicated message can never move a file back. [`allowed`] says so once;
//! [`change`] derives its SQL condition from it (and from which change may leave which status,
//! [`Change::permits`]) and turns a refused change into a [`TransitionError::Refused`].

use chrono::{DateTime, Utc};
use entity::{FileStatus, ResultStatus, files, result_retries, results};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable, QueryFilter, QuerySelect,
    QueryTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{
    errors::{Classified, ErrorClass},
    leases::takeable_file,
    stored_text::{MAX_ERROR_CHARS, storable},
};

/// Whether a file may go from `from` to `to`: the whole life of a file in one place.
pub fn allowed(from: FileStatus, to: FileStatus) -> bool {
    use FileStatus::{Cancelled, Completed, Failed, Pending, Processing};
    matches!(
        (from, to),
        // A worker claims a new file.
        (Pending, Processing)
        // A worker takes over a file whose holder's lease lapsed (it crashed), or its own.
        | (Processing, Processing)
        // Every distinct entry has a result.
        | (Processing, Completed)
        // It cannot be processed (unreadable, refused, dead-lettered without progress).
        | (Pending | Processing, Failed)
        // Its owner cancelled it.
        | (Pending | Processing, Cancelled)
        // Its owner asked for its failed results to be resolved again (a retry, only).
        | (Completed, Processing)
    )
}

/// A status change that [`allowed`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("file {file_id} may not go from {} to {}", .from.as_str(), .to.as_str())]
pub struct RefusedTransition {
    /// The file.
    pub file_id: Uuid,
    /// Its status.
    pub from: FileStatus,
    /// The status asked for.
    pub to: FileStatus,
}

/// Why a status change was not made.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// The rule refuses it: the file is COMPLETED, FAILED or CANCELLED already, say.
    #[error(transparent)]
    Refused(#[from] RefusedTransition),
    /// The status allows it, but the caller does not hold the file (another worker's lease
    /// runs, or it was split into chunks).
    #[error("file {0} is not held by this worker")]
    NotHeld(Uuid),
    /// No such file.
    #[error("no file {0}")]
    Missing(Uuid),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl Classified for TransitionError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Database(error) => ErrorClass::of(error),
            Self::Refused(_) | Self::NotHeld(_) | Self::Missing(_) => ErrorClass::Permanent,
        }
    }
}

/// A status change and what comes with it.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// To PROCESSING, held by `owner` until `until`, when the file is not split into chunks and
    /// its lease is takeable ([`crate::leases`]).
    Claim {
        /// The worker taking it.
        owner: Uuid,
        /// When its lease ends unless renewed.
        until: DateTime<Utc>,
    },
    /// To COMPLETED with its counters recounted from its results and its lease cleared; when
    /// `owner` is given, only while that worker holds it (a chunked file has no holder).
    Complete {
        /// The worker that must hold it.
        owner: Option<Uuid>,
    },
    /// To FAILED with `reason` (made storable), its lease cleared.
    Fail {
        /// Why, for users.
        reason: &'a str,
    },
    /// To CANCELLED, asked by the file's owner: its lease is cleared, so the worker holding it
    /// loses it and stops at its next batch; what was recorded stays.
    Cancel,
    /// COMPLETED to PROCESSING: a retry of its failed results begins. The one change that
    /// leaves COMPLETED ([`crate::retries::begin`]).
    Reopen,
    /// PROCESSING (reopened by a retry) to PROCESSING held by `owner` until `until`, when its
    /// lease is takeable: a worker takes up a retry, whether the file was split into chunks
    /// or not.
    ClaimRetry {
        /// The worker taking it.
        owner: Uuid,
        /// When its lease ends unless renewed.
        until: DateTime<Utc>,
    },
}

impl Change<'_> {
    /// The status it leads to.
    pub fn target(&self) -> FileStatus {
        match self {
            Self::Claim { .. } | Self::Reopen | Self::ClaimRetry { .. } => FileStatus::Processing,
            Self::Complete { .. } => FileStatus::Completed,
            Self::Fail { .. } => FileStatus::Failed,
            Self::Cancel => FileStatus::Cancelled,
        }
    }

    /// Whether this change may be made from `from`: [`allowed`] says which moves exist, and
    /// COMPLETED to PROCESSING is a [`Change::Reopen`]'s alone (a late claim never reopens a
    /// file), while a [`Change::ClaimRetry`] takes up only a file a retry reopened.
    pub fn permits(&self, from: FileStatus) -> bool {
        allowed(from, self.target())
            && match self {
                Self::Reopen => from == FileStatus::Completed,
                Self::ClaimRetry { .. } => from == FileStatus::Processing,
                _ => from != FileStatus::Completed,
            }
    }

    /// The statuses this change may be made from.
    fn sources(&self) -> Vec<FileStatus> {
        FileStatus::iter()
            .filter(|from| self.permits(*from))
            .collect()
    }
}

/// Results of `file_id` with `status`, counted in the statement that uses them.
fn count_results(file_id: Uuid, status: ResultStatus) -> Expr {
    let select = results::Entity::find()
        .select_only()
        .expr(Expr::col(results::Column::Id).count())
        .filter(results::Column::FileId.eq(file_id))
        .filter(results::Column::Status.eq(status))
        .into_query();
    Expr::SubQuery(None, Box::new(select.into()))
}

/// The pending retries of `file_id`, as a subquery.
fn pending_retries(file_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    result_retries::Entity::find()
        .select_only()
        .expr(Expr::val(1))
        .filter(result_retries::Column::FileId.eq(file_id))
        .into_query()
}

/// Makes `change` to file `file_id` when [`allowed`] permits it from the file's status and
/// the change's own condition holds; otherwise says why not. One conditional UPDATE: two
/// callers racing cannot both succeed.
pub async fn change(
    db: &impl ConnectionTrait,
    file_id: Uuid,
    change: Change<'_>,
) -> Result<(), TransitionError> {
    let to = change.target();
    let now = Utc::now();
    let no_owner = Option::<Uuid>::None;
    let no_end = Option::<DateTime<Utc>>::None;
    let mut update = files::Entity::update_many()
        .col_expr(files::Column::Status, Expr::value(to))
        .col_expr(files::Column::UpdatedAt, Expr::value(now))
        .filter(files::Column::Id.eq(file_id))
        .filter(files::Column::Status.is_in(change.sources()));
    update = match change {
        Change::Claim { owner, until } => update
            .col_expr(files::Column::LeaseOwner, Expr::value(owner))
            .col_expr(files::Column::LeaseExpiresAt, Expr::value(until))
            .filter(files::Column::ChunkCount.eq(0))
            .filter(takeable_file(owner, now)),
        Change::ClaimRetry { owner, until } => update
            .col_expr(files::Column::LeaseOwner, Expr::value(owner))
            .col_expr(files::Column::LeaseExpiresAt, Expr::value(until))
            .filter(takeable_file(owner, now)),
        Change::Complete { owner } => {
            let update = update
                // A result that a retry resolves again is not final yet.
                .filter(Expr::exists(pending_retries(file_id)).not())
                .col_expr(
                    files::Column::SucceededCount,
                    count_results(file_id, ResultStatus::Success),
                )
                .col_expr(
                    files::Column::FailedCount,
                    count_results(file_id, ResultStatus::Failed),
                )
                .col_expr(
                    files::Column::ErrorMessage,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(files::Column::LeaseOwner, Expr::value(no_owner))
                .col_expr(files::Column::LeaseExpiresAt, Expr::value(no_end))
                .col_expr(files::Column::ProcessedAt, Expr::value(now));
            match owner {
                Some(owner) => update.filter(files::Column::LeaseOwner.eq(owner)),
                None => update,
            }
        }
        Change::Fail { reason } => update
            .col_expr(
                files::Column::ErrorMessage,
                Expr::value(storable(reason, MAX_ERROR_CHARS).into_owned()),
            )
            .col_expr(files::Column::LeaseOwner, Expr::value(no_owner))
            .col_expr(files::Column::LeaseExpiresAt, Expr::value(no_end))
            .col_expr(files::Column::ProcessedAt, Expr::value(now)),
        Change::Cancel => update
            .col_expr(files::Column::LeaseOwner, Expr::value(no_owner))
            .col_expr(files::Column::LeaseExpiresAt, Expr::value(no_end))
            .col_expr(files::Column::ProcessedAt, Expr::value(now)),
        Change::Reopen => update
            .col_expr(files::Column::LeaseOwner, Expr::value(no_owner))
            .col_expr(files::Column::LeaseExpiresAt, Expr::value(no_end)),
    };
    if update.exec(db).await?.rows_affected == 1 {
        return Ok(());
    }
    let status: Option<FileStatus> = files::Entity::find_by_id(file_id)
        .select_only()
        .column(files::Column::Status)
        .into_tuple()
        .one(db)
        .await?;
    match status {
        None => Err(TransitionError::Missing(file_id)),
        Some(from) if !change.permits(from) => Err(RefusedTransition { file_id, from, to }.into()),
        Some(_) => Err(TransitionError::NotHeld(file_id)),
    }
}

#[cfg(test)]
mod tests {
    use entity::FileType;
    use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, Set};

    use super::*;

    #[test]
    fn finished_files_never_change_and_nothing_skips_processing() {
        use FileStatus::{Cancelled, Completed, Failed, Pending, Processing};
        for from in FileStatus::iter() {
            for to in FileStatus::iter() {
                let expected = matches!(
                    (from, to),
                    (Pending, Processing)
                        | (Processing, Processing)
                        | (Processing, Completed)
                        | (Pending, Failed)
                        | (Processing, Failed)
                        | (Pending, Cancelled)
                        | (Processing, Cancelled)
                        | (Completed, Processing)
                );
                assert_eq!(allowed(from, to), expected, "{from:?} -> {to:?}");
            }
        }
        assert!(!allowed(Pending, Completed));
        assert!(!allowed(Failed, Pending));
        assert!(
            !allowed(Cancelled, Processing),
            "a cancelled file stays cancelled"
        );
        assert!(
            !allowed(Completed, Cancelled),
            "a finished file is not cancelled"
        );
        for status in [Completed, Failed, Cancelled] {
            assert!(status.is_terminal(), "{status:?}");
        }
    }

    /// COMPLETED to PROCESSING exists for a retry only: no claim of a worker reopens a file.
    #[test]
    fn only_a_retry_reopens_a_completed_file() {
        let (owner, until) = (Uuid::nil(), Utc::now());
        assert!(Change::Reopen.permits(FileStatus::Completed));
        for from in FileStatus::iter().filter(|from| *from != FileStatus::Completed) {
            assert!(!Change::Reopen.permits(from), "{from:?}");
        }
        assert!(!Change::Claim { owner, until }.permits(FileStatus::Completed));
        assert!(!Change::ClaimRetry { owner, until }.permits(FileStatus::Completed));
        assert!(!Change::ClaimRetry { owner, until }.permits(FileStatus::Pending));
        assert!(Change::ClaimRetry { owner, until }.permits(FileStatus::Processing));
    }

    async fn database() -> DatabaseConnection {
        let url = test_support::database::isolated_database().await;
        Database::connect(&url).await.expect("connect")
    }

    /// A file in `status`, held by `owner` when given.
    async fn file(db: &DatabaseConnection, status: FileStatus, owner: Option<Uuid>) -> Uuid {
        let client = crate::clients::create(db, &format!("c-{}", Uuid::now_v7()), false)
            .await
            .expect("client")
            .0;
        let now = Utc::now();
        let id = Uuid::now_v7();
        files::ActiveModel {
            id: Set(id),
            client_id: Set(client.id),
            original_name: Set("d.csv".to_owned()),
            s3_bucket: Set("b".to_owned()),
            s3_key: Set("k".to_owned()),
            file_type: Set(FileType::Csv),
            size_bytes: Set(1),
            status: Set(status),
            error_message: Set(None),
            total_count: Set(0),
            succeeded_count: Set(0),
            failed_count: Set(0),
            published_at: Set(None),
            lease_owner: Set(owner),
            lease_expires_at: Set(owner.map(|_| now + chrono::Duration::minutes(5))),
            processed_at: Set(None),
            chunk_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            change_seq: sea_orm::NotSet,
        }
        .insert(db)
        .await
        .expect("file");
        id
    }

    async fn status(db: &DatabaseConnection, id: Uuid) -> FileStatus {
        files::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("read")
            .expect("row")
            .status
    }

    /// Tries every change from every status, each on a file of its own held by `owner`.
    #[tokio::test]
    async fn every_change_is_made_exactly_when_the_rule_allows_it() {
        let db = database().await;
        let owner = Uuid::now_v7();
        let until = Utc::now() + chrono::Duration::seconds(60);
        for from in FileStatus::iter() {
            for change in [
                Change::Claim { owner, until },
                Change::Complete { owner: Some(owner) },
                Change::Complete { owner: None },
                Change::Fail { reason: "why" },
                Change::Cancel,
                Change::Reopen,
                Change::ClaimRetry { owner, until },
            ] {
                let id = file(&db, from, Some(owner)).await;
                let to = change.target();
                let outcome = super::change(&db, id, change).await;
                if change.permits(from) {
                    assert!(outcome.is_ok(), "{from:?} -> {change:?}: {outcome:?}");
                    assert_eq!(status(&db, id).await, to);
                } else {
                    match outcome {
                        Err(TransitionError::Refused(refused)) => {
                            assert_eq!(
                                refused,
                                RefusedTransition {
                                    file_id: id,
                                    from,
                                    to
                                }
                            );
                        }
                        other => panic!("{from:?} -> {change:?} gave {other:?}"),
                    }
                    assert_eq!(
                        status(&db, id).await,
                        from,
                        "a refused change changes nothing"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn a_completed_file_is_never_processed_again() {
        let db = database().await;
        let owner = Uuid::now_v7();
        let id = file(&db, FileStatus::Processing, Some(owner)).await;
        change(&db, id, Change::Complete { owner: Some(owner) })
            .await
            .expect("completes");
        let claim = Change::Claim {
            owner,
            until: Utc::now(),
        };
        assert!(matches!(
            change(&db, id, claim).await,
            Err(TransitionError::Refused(RefusedTransition {
                from: FileStatus::Completed,
                to: FileStatus::Processing,
                ..
            }))
        ));
        let fail = Change::Fail { reason: "late" };
        assert!(matches!(
            change(&db, id, fail).await,
            Err(TransitionError::Refused(_))
        ));
        assert_eq!(status(&db, id).await, FileStatus::Completed);
    }

    #[tokio::test]
    async fn a_cancelled_file_is_never_processed_again_and_loses_its_lease() {
        let db = database().await;
        let owner = Uuid::now_v7();
        let id = file(&db, FileStatus::Processing, Some(owner)).await;
        change(&db, id, Change::Cancel).await.expect("cancels");
        let row = files::Entity::find_by_id(id)
            .one(&db)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.status, FileStatus::Cancelled);
        assert_eq!((row.lease_owner, row.lease_expires_at), (None, None));
        assert!(row.processed_at.is_some());
        let until = Utc::now() + chrono::Duration::minutes(1);
        for late in [
            Change::Claim { owner, until },
            Change::Complete { owner: Some(owner) },
            Change::Complete { owner: None },
            Change::Fail { reason: "late" },
            Change::Cancel,
            Change::Reopen,
            Change::ClaimRetry { owner, until },
        ] {
            assert!(
                matches!(
                    change(&db, id, late).await,
                    Err(TransitionError::Refused(RefusedTransition {
                        from: FileStatus::Cancelled,
                        ..
                    }))
                ),
                "{late:?}"
            );
        }
        assert_eq!(status(&db, id).await, FileStatus::Cancelled);
    }

    #[tokio::test]
    async fn an_allowed_change_by_a_worker_that_does_not_hold_the_file_is_not_made() {
        let db = database().await;
        let (holder, other) = (Uuid::now_v7(), Uuid::now_v7());
        let id = file(&db, FileStatus::Processing, Some(holder)).await;
        let complete = Change::Complete { owner: Some(other) };
        assert!(matches!(
            change(&db, id, complete).await,
            Err(TransitionError::NotHeld(_))
        ));
        let claim = Change::Claim {
            owner: other,
            until: Utc::now(),
        };
        assert!(matches!(
            change(&db, id, claim).await,
            Err(TransitionError::NotHeld(_))
        ));
        assert!(matches!(
            change(&db, Uuid::now_v7(), Change::Fail { reason: "x" }).await,
            Err(TransitionError::Missing(_))
        ));
        assert_eq!(status(&db, id).await, FileStatus::Processing);
    }
}
