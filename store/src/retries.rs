//! Retrying a COMPLETED file's failed results, like redriving a Step Functions Map Run: the
//! api [`begin`]s (a `result_retries` row per failed result, the file back to PROCESSING,
//! in one transaction), a worker reads what is [`pending`], resolves it again and records each
//! new outcome in place of the old one ([`record_retried`]: the counters move by the
//! difference, `tries` adds up, the pending row goes in the same transaction), then completes
//! the file. Entries that are no domain (`invalid_domain`) are never retried: resolving them
//! again cannot change their answer.

use chrono::Utc;
use entity::{FileStatus, ResultStatus, files, result_retries, results};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{
    actions::ActionError,
    errors::retrying,
    results::{INVALID_DOMAIN, NewResult, result_row},
    transitions::{self, Change, TransitionError},
};

/// Starts a retry of the client's file `file_id`: only a COMPLETED file with failed results
/// (other than entries that are no domain). Marks those results pending and moves the file
/// to PROCESSING ([`Change::Reopen`]), in one transaction; returns the file as it is now.
/// The caller then announces the retry to the workers, or [`abandon`]s it.
pub async fn begin(
    db: &DatabaseConnection,
    client_id: Uuid,
    file_id: Uuid,
) -> Result<files::Model, ActionError> {
    let txn = db.begin().await?;
    let file = files::Entity::find_by_id(file_id)
        .filter(files::Column::ClientId.eq(client_id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(ActionError::NotFound)?;
    if file.status != FileStatus::Completed {
        return Err(ActionError::WrongStatus(file.status));
    }
    let marked = txn
        .execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            "INSERT INTO result_retries (result_id, file_id, position) \
             SELECT id, file_id, position FROM results \
             WHERE file_id = $1 AND status = $2 AND error_category IS DISTINCT FROM $3 \
             ON CONFLICT DO NOTHING",
            [
                file_id.into(),
                ResultStatus::Failed.as_str().into(),
                INVALID_DOMAIN.into(),
            ],
        ))
        .await?
        .rows_affected();
    if marked == 0 {
        return Err(ActionError::NothingToRetry);
    }
    match transitions::change(&txn, file_id, Change::Reopen).await {
        Ok(()) => {}
        Err(TransitionError::Database(error)) => return Err(error.into()),
        Err(TransitionError::Missing(_)) => return Err(ActionError::NotFound),
        Err(TransitionError::Refused(refused)) => {
            return Err(ActionError::WrongStatus(refused.from));
        }
        Err(TransitionError::NotHeld(_)) => return Err(ActionError::WrongStatus(file.status)),
    }
    let file = files::Entity::find_by_id(file_id)
        .one(&txn)
        .await?
        .ok_or(ActionError::NotFound)?;
    txn.commit().await?;
    Ok(file)
}

/// Gives up a retry that could not be announced: its pending results are forgotten and the
/// file is COMPLETED again as it was (counters recounted).
pub async fn abandon(db: &DatabaseConnection, file_id: Uuid) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    result_retries::Entity::delete_many()
        .filter(result_retries::Column::FileId.eq(file_id))
        .exec(&txn)
        .await?;
    match transitions::change(&txn, file_id, Change::Complete { owner: None }).await {
        Ok(()) | Err(TransitionError::Refused(_) | TransitionError::Missing(_)) => {}
        Err(TransitionError::NotHeld(_)) => {}
        Err(TransitionError::Database(error)) => return Err(error),
    }
    txn.commit().await
}

/// `(position, domain)` of each result of `file_id` a retry still has to resolve, in file
/// order. Outages are retried.
pub async fn pending(db: &DatabaseConnection, file_id: Uuid) -> Result<Vec<(i32, String)>, DbErr> {
    retrying("reading the results to retry", || async move {
        let ids = result_retries::Entity::find()
            .select_only()
            .column(result_retries::Column::ResultId)
            .filter(result_retries::Column::FileId.eq(file_id))
            .into_query();
        results::Entity::find()
            .select_only()
            .column(results::Column::Position)
            .column(results::Column::Domain)
            .filter(results::Column::FileId.eq(file_id))
            .filter(results::Column::Id.in_subquery(ids))
            .order_by_asc(results::Column::Position)
            .into_tuple()
            .all(db)
            .await
    })
    .await
}

/// Records the new outcomes of a batch of retried results of `file_id`, each in place of the
/// failed result at its position that is still pending: `tries` adds the new attempts to the
/// old, the counters move by the difference (the failed count goes down for each one that now
/// succeeds), and the pending row goes, in one transaction. Nothing is written when the file is
/// no longer PROCESSING (cancelled or deleted meanwhile). Returns how many were recorded.
/// Outages are retried.
pub async fn record_retried(
    db: &DatabaseConnection,
    file_id: Uuid,
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
    retrying("recording retried results", || {
        let rows = rows.clone();
        async move {
            let txn = db.begin().await?;
            let status: Option<FileStatus> = files::Entity::find_by_id(file_id)
                .select_only()
                .column(files::Column::Status)
                .lock_exclusive()
                .into_tuple()
                .one(&txn)
                .await?;
            if status != Some(FileStatus::Processing) {
                return Ok(0);
            }
            let (mut succeeded, mut recorded) = (0_i32, 0_i32);
            for row in rows {
                let taken = result_retries::Entity::delete_many()
                    .filter(result_retries::Column::FileId.eq(file_id))
                    .filter(result_retries::Column::Position.eq(row.position))
                    .exec(&txn)
                    .await?;
                if taken.rows_affected != 1 {
                    continue;
                }
                if row.status == ResultStatus::Success {
                    succeeded += 1;
                }
                recorded += 1;
                results::Entity::update_many()
                    .col_expr(results::Column::Status, Expr::value(row.status))
                    .col_expr(results::Column::FaviconUrl, Expr::value(row.favicon_url))
                    .col_expr(results::Column::IconFormat, Expr::value(row.icon_format))
                    .col_expr(results::Column::IconWidth, Expr::value(row.icon_width))
                    .col_expr(results::Column::IconHeight, Expr::value(row.icon_height))
                    .col_expr(results::Column::IconBytes, Expr::value(row.icon_bytes))
                    .col_expr(results::Column::IconSource, Expr::value(row.icon_source))
                    .col_expr(
                        results::Column::ResolutionId,
                        Expr::value(row.resolution_id),
                    )
                    .col_expr(results::Column::IconHash, Expr::value(row.icon_hash))
                    .col_expr(
                        results::Column::ErrorCategory,
                        Expr::value(row.error_category),
                    )
                    .col_expr(results::Column::Error, Expr::value(row.error))
                    .col_expr(
                        results::Column::Tries,
                        Expr::col(results::Column::Tries).add(row.tries),
                    )
                    .col_expr(results::Column::FromCache, Expr::value(false))
                    .col_expr(results::Column::CacheClass, Expr::value(row.cache_class))
                    .col_expr(results::Column::UpdatedAt, Expr::value(now))
                    .filter(results::Column::FileId.eq(file_id))
                    .filter(results::Column::Position.eq(row.position))
                    .exec(&txn)
                    .await?;
            }
            if succeeded > 0 {
                files::Entity::update_many()
                    .col_expr(
                        files::Column::SucceededCount,
                        Expr::col(files::Column::SucceededCount).add(succeeded),
                    )
                    .col_expr(
                        files::Column::FailedCount,
                        Expr::col(files::Column::FailedCount).sub(succeeded),
                    )
                    .col_expr(files::Column::UpdatedAt, Expr::value(now))
                    .filter(files::Column::Id.eq(file_id))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            Ok(u64::try_from(recorded).unwrap_or(0))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use entity::FileType;
    use sea_orm::{ActiveModelTrait, Database, NotSet, Set};

    use super::*;
    use crate::results::{FailureRecord, IconRecord, active_result};

    /// A COMPLETED file of `client` with a success at 0, a fetch failure at 1 and an invalid
    /// entry at 2, its counters matching.
    async fn completed_file(db: &DatabaseConnection, client: Uuid) -> Uuid {
        let now = Utc::now();
        let id = Uuid::now_v7();
        files::ActiveModel {
            id: Set(id),
            client_id: Set(client),
            original_name: Set("d.csv".to_owned()),
            s3_bucket: Set("b".to_owned()),
            s3_key: Set("k".to_owned()),
            file_type: Set(FileType::Csv),
            size_bytes: Set(1),
            status: Set(FileStatus::Completed),
            error_message: Set(None),
            total_count: Set(3),
            succeeded_count: Set(1),
            failed_count: Set(2),
            published_at: Set(None),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            change_seq: NotSet,
            callback_url: Set(None),
            processed_at: Set(Some(now)),
            chunk_count: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .expect("file");
        let failure = |category: &str| {
            Err(FailureRecord {
                category: category.to_owned(),
                message: format!("{category}: x"),
            })
        };
        for (position, domain, outcome, tries) in [
            (0, "ok.example", Ok(icon()), 1),
            (1, "down.example", failure("connect"), 2),
            (2, "not a domain", failure(INVALID_DOMAIN), 0),
        ] {
            let row = result_row(
                id,
                NewResult {
                    position,
                    domain: domain.to_owned(),
                    outcome,
                    tries,
                    from_cache: false,
                    cache_class: None,
                },
                now,
            );
            active_result(row).insert(db).await.expect("result");
        }
        id
    }

    fn icon() -> IconRecord {
        IconRecord {
            url: "http://down.example/favicon.ico".to_owned(),
            format: "ico".to_owned(),
            width: 16,
            height: 16,
            bytes: 30,
            source: "fallback".to_owned(),
            stored: None,
        }
    }

    async fn file(db: &DatabaseConnection, id: Uuid) -> files::Model {
        files::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("read")
            .expect("row")
    }

    #[tokio::test]
    async fn a_retry_reopens_only_fetch_failures_and_moves_the_counters_as_they_succeed() {
        let url = test_support::database::isolated_database().await;
        let db = Database::connect(&url).await.expect("connect");
        let client = crate::clients::create(&db, "retrying", false)
            .await
            .expect("client")
            .0
            .id;
        let id = completed_file(&db, client).await;

        assert!(matches!(
            begin(&db, Uuid::now_v7(), id).await,
            Err(ActionError::NotFound)
        ));
        let reopened = begin(&db, client, id).await.expect("begins");
        assert_eq!(reopened.status, FileStatus::Processing);
        assert_eq!(
            pending(&db, id).await.expect("pending"),
            [(1, "down.example".to_owned())],
            "the invalid entry is never retried"
        );
        assert!(matches!(
            begin(&db, client, id).await,
            Err(ActionError::WrongStatus(FileStatus::Processing))
        ));
        // Not COMPLETED while a retry is pending.
        assert!(matches!(
            transitions::change(&db, id, Change::Complete { owner: None }).await,
            Err(TransitionError::NotHeld(_))
        ));

        let retried = NewResult {
            position: 1,
            domain: "down.example".to_owned(),
            outcome: Ok(icon()),
            tries: 1,
            from_cache: false,
            cache_class: Some("icon"),
        };
        assert_eq!(
            record_retried(&db, id, vec![retried.clone()])
                .await
                .expect("records"),
            1
        );
        let moved = file(&db, id).await;
        assert_eq!((moved.succeeded_count, moved.failed_count), (2, 1));
        let row = results::Entity::find()
            .filter(results::Column::FileId.eq(id))
            .filter(results::Column::Position.eq(1))
            .one(&db)
            .await
            .expect("read")
            .expect("row");
        assert_eq!((row.status, row.tries), (ResultStatus::Success, 3));
        assert_eq!(row.error_category, None);
        assert_eq!(
            record_retried(&db, id, vec![retried]).await.expect("again"),
            0,
            "a result is retried once per retry"
        );
        assert!(pending(&db, id).await.expect("pending").is_empty());
        transitions::change(&db, id, Change::Complete { owner: None })
            .await
            .expect("completes");
        let done = file(&db, id).await;
        assert_eq!(done.status, FileStatus::Completed);
        assert_eq!((done.succeeded_count, done.failed_count), (2, 1));
        assert!(matches!(
            begin(&db, client, id).await,
            Err(ActionError::NothingToRetry)
        ));
        assert_eq!(
            file(&db, id).await.status,
            FileStatus::Completed,
            "rolled back"
        );
    }

    #[tokio::test]
    async fn an_abandoned_retry_leaves_the_file_as_it_was() {
        let url = test_support::database::isolated_database().await;
        let db = Database::connect(&url).await.expect("connect");
        let client = crate::clients::create(&db, "abandoning", false)
            .await
            .expect("client")
            .0
            .id;
        let id = completed_file(&db, client).await;
        begin(&db, client, id).await.expect("begins");
        abandon(&db, id).await.expect("abandons");
        let back = file(&db, id).await;
        assert_eq!(back.status, FileStatus::Completed);
        assert_eq!((back.succeeded_count, back.failed_count), (1, 2));
        assert!(pending(&db, id).await.expect("pending").is_empty());
    }
}
