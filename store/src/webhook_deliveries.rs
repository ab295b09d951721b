//! The webhook outbox (`webhook_deliveries`) and its attempts (`webhook_attempts`): a
//! delivery is written in the transaction of the status change that ends a file
//! ([`enqueue`], called by [`crate::transitions::change`]), so nothing accepted is lost;
//! workers take due ones under a lease ([`claim_due`], `FOR UPDATE SKIP LOCKED`, so several
//! share the work and a crashed one's deliveries come back), and record each attempt with
//! what comes next ([`record_attempt`]).

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use entity::{DeliveryState, files, webhook_attempts, webhook_deliveries, webhooks};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set, TransactionSession, TransactionTrait,
    sea_query::{Expr, LockBehavior, LockType},
};
use uuid::Uuid;

use crate::stored_text::{MAX_ERROR_CHARS, storable};

/// Writes the delivery announcing file `file_id`'s status (just made terminal) when a
/// callback URL applies: the file's own, else its client's webhook. Meant for the
/// transaction of the status change.
pub async fn enqueue(db: &impl ConnectionTrait, file_id: Uuid) -> Result<(), DbErr> {
    let Some(file) = files::Entity::find_by_id(file_id).one(db).await? else {
        return Ok(());
    };
    let url = match file.callback_url {
        Some(url) => url,
        None => match webhooks::Entity::find_by_id(file.client_id).one(db).await? {
            Some(webhook) => webhook.url,
            None => return Ok(()),
        },
    };
    let now = Utc::now();
    webhook_deliveries::ActiveModel {
        id: Set(Uuid::now_v7()),
        file_id: Set(file.id),
        url: Set(url),
        file_status: Set(file.status),
        state: Set(DeliveryState::Pending),
        attempt_count: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
        finished_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A delivery a worker took, with what it needs to send it.
#[derive(Clone)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: webhook_deliveries::Model,
    /// The file it announces.
    pub file: files::Model,
    /// The secret of the file's client's webhook; `None` once the webhook was deleted.
    pub secret: Option<String>,
}

/// Never prints the secret.
impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("delivery", &self.delivery)
            .field("file.id", &self.file.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Takes up to `limit` pending deliveries that are due, oldest first, for `lease`: they are
/// due again only after it, should this worker stop before recording an attempt. Rows
/// another worker is taking at the same moment are skipped, never waited for.
pub async fn claim_due(
    db: &impl ConnectionTrait,
    limit: u64,
    lease: Duration,
) -> Result<Vec<DueDelivery>, DbErr> {
    let now = Utc::now();
    let lease_end = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let due = webhook_deliveries::Entity::find()
        .select_only()
        .column(webhook_deliveries::Column::Id)
        .filter(webhook_deliveries::Column::State.eq(DeliveryState::Pending))
        .filter(webhook_deliveries::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_deliveries::Column::NextAttemptAt)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_query();
    let claimed = webhook_deliveries::Entity::update_many()
        .col_expr(
            webhook_deliveries::Column::NextAttemptAt,
            Expr::value(lease_end),
        )
        .col_expr(webhook_deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_deliveries::Column::Id.in_subquery(due))
        .exec_with_returning(db)
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let file_ids: Vec<Uuid> = claimed.iter().map(|delivery| delivery.file_id).collect();
    let files: HashMap<Uuid, files::Model> = files::Entity::find()
        .filter(files::Column::Id.is_in(file_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|file| (file.id, file))
        .collect();
    let client_ids: Vec<Uuid> = files.values().map(|file| file.client_id).collect();
    let secrets: HashMap<Uuid, String> = webhooks::Entity::find()
        .filter(webhooks::Column::ClientId.is_in(client_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|webhook| (webhook.client_id, webhook.secret))
        .collect();
    Ok(claimed
        .into_iter()
        .filter_map(|delivery| {
            // A file deleted meanwhile takes its deliveries with it (ON DELETE CASCADE).
            let file = files.get(&delivery.file_id)?.clone();
            let secret = secrets.get(&file.client_id).cloned();
            Some(DueDelivery {
                delivery,
                file,
                secret,
            })
        })
        .collect())
}

/// One attempt to deliver, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1 for the first.
    pub number: i32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// Until the answer's head (or the failure).
    pub duration: Duration,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// The receiver took it.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// That was the last attempt.
    GiveUp,
}

/// Records `attempt` of `delivery` and what follows, in one transaction. False (and nothing
/// written) when the delivery moved on meanwhile: another worker took it over after this
/// one's lease lapsed and recorded this attempt number first.
pub async fn record_attempt(
    db: &(impl ConnectionTrait + TransactionTrait),
    delivery_id: Uuid,
    attempt: Attempt,
    next: NextStep,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let error = attempt
        .error
        .as_deref()
        .map(|error| storable(error, MAX_ERROR_CHARS).into_owned());
    let (state, next_attempt_at, finished_at) = match next {
        NextStep::Delivered => (DeliveryState::Delivered, now, Some(now)),
        NextStep::RetryAt(at) => (DeliveryState::Pending, at, None),
        NextStep::GiveUp => (DeliveryState::Failed, now, Some(now)),
    };
    let txn = db.begin().await?;
    let updated = webhook_deliveries::Entity::update_many()
        .col_expr(
            webhook_deliveries::Column::AttemptCount,
            Expr::value(attempt.number),
        )
        .col_expr(webhook_deliveries::Column::State, Expr::value(state))
        .col_expr(
            webhook_deliveries::Column::NextAttemptAt,
            Expr::value(next_attempt_at),
        )
        .col_expr(
            webhook_deliveries::Column::LastError,
            Expr::value(error.clone()),
        )
        .col_expr(
            webhook_deliveries::Column::FinishedAt,
            Expr::value(finished_at),
        )
        .col_expr(webhook_deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_deliveries::Column::Id.eq(delivery_id))
        .filter(webhook_deliveries::Column::State.eq(DeliveryState::Pending))
        .filter(webhook_deliveries::Column::AttemptCount.eq(attempt.number - 1))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    webhook_attempts::ActiveModel {
        delivery_id: Set(delivery_id),
        number: Set(attempt.number),
        started_at: Set(attempt.started_at),
        duration_ms: Set(i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX)),
        status_code: Set(attempt.status_code.map(i32::from)),
        error: Set(error),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The deliveries of `file_id`, oldest first, each with its attempts in order.
pub async fn of_file(
    db: &impl ConnectionTrait,
    file_id: Uuid,
) -> Result<Vec<(webhook_deliveries::Model, Vec<webhook_attempts::Model>)>, DbErr> {
    let deliveries = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::FileId.eq(file_id))
        .order_by_asc(webhook_deliveries::Column::CreatedAt)
        .order_by_asc(webhook_deliveries::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = deliveries.iter().map(|delivery| delivery.id).collect();
    let mut attempts: HashMap<Uuid, Vec<webhook_attempts::Model>> = HashMap::new();
    for attempt in webhook_attempts::Entity::find()
        .filter(webhook_attempts::Column::DeliveryId.is_in(ids))
        .order_by_asc(webhook_attempts::Column::Number)
        .all(db)
        .await?
    {
        attempts
            .entry(attempt.delivery_id)
            .or_default()
            .push(attempt);
    }
    Ok(deliveries
        .into_iter()
        .map(|delivery| {
            let tried = attempts.remove(&delivery.id).unwrap_or_default();
            (delivery, tried)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use entity::{FileStatus, FileType};
    use sea_orm::{Database, DatabaseConnection};

    use super::*;
    use crate::transitions::{Change, change};

    async fn database() -> DatabaseConnection {
        let url = test_support::database::isolated_database().await;
        Database::connect(&url).await.expect("connect")
    }

    /// A new client and a PROCESSING file of it, with `callback_url` of its own if given.
    async fn file(db: &DatabaseConnection, callback_url: Option<&str>) -> (Uuid, Uuid) {
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
            status: Set(FileStatus::Processing),
            error_message: Set(None),
            total_count: Set(0),
            succeeded_count: Set(0),
            failed_count: Set(0),
            published_at: Set(None),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            processed_at: Set(None),
            chunk_count: Set(0),
            callback_url: Set(callback_url.map(str::to_owned)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .expect("file");
        (client.id, id)
    }

    async fn urls(db: &DatabaseConnection, file_id: Uuid) -> Vec<String> {
        of_file(db, file_id)
            .await
            .expect("deliveries")
            .into_iter()
            .map(|(delivery, _)| delivery.url)
            .collect()
    }

    #[tokio::test]
    async fn a_terminal_change_writes_a_delivery_exactly_when_a_callback_url_applies() {
        let db = database().await;
        let complete = Change::Complete { owner: None };

        let (_, unhooked) = file(&db, None).await;
        change(&db, unhooked, complete).await.expect("completes");
        assert!(
            urls(&db, unhooked).await.is_empty(),
            "no webhook, no delivery"
        );

        let (client, hooked) = file(&db, None).await;
        crate::webhooks::register(&db, client, "https://hooks.example/a")
            .await
            .expect("register");
        let claim = Change::Claim {
            owner: Uuid::now_v7(),
            until: Utc::now(),
        };
        // Taken over or not, PROCESSING is no terminal status.
        change(&db, hooked, claim).await.ok();
        assert!(urls(&db, hooked).await.is_empty(), "no terminal status yet");
        change(&db, hooked, Change::Fail { reason: "why" })
            .await
            .expect("fails");
        assert_eq!(urls(&db, hooked).await, ["https://hooks.example/a"]);
        assert!(change(&db, hooked, complete).await.is_err(), "refused");
        assert_eq!(
            urls(&db, hooked).await.len(),
            1,
            "a refused change writes none"
        );

        let (client, own) = file(&db, Some("https://own.example/b")).await;
        crate::webhooks::register(&db, client, "https://hooks.example/a")
            .await
            .expect("register");
        change(&db, own, complete).await.expect("completes");
        assert_eq!(urls(&db, own).await, ["https://own.example/b"]);
        let (delivery, attempts) = of_file(&db, own).await.expect("read").remove(0);
        assert_eq!(delivery.file_status, FileStatus::Completed);
        assert_eq!(delivery.state, DeliveryState::Pending);
        assert!(attempts.is_empty());
    }

    #[tokio::test]
    async fn a_taken_delivery_is_leased_and_each_attempt_is_recorded_once() {
        let db = database().await;
        let (client, id) = file(&db, None).await;
        crate::webhooks::register(&db, client, "https://hooks.example/a")
            .await
            .expect("register");
        change(&db, id, Change::Complete { owner: None })
            .await
            .expect("completes");
        let lease = Duration::from_secs(60);
        let due = claim_due(&db, 10, lease).await.expect("claim");
        let ours: Vec<&DueDelivery> = due.iter().filter(|d| d.file.id == id).collect();
        assert_eq!(ours.len(), 1);
        assert!(ours[0].secret.is_some());
        let delivery_id = ours[0].delivery.id;
        assert!(
            claim_due(&db, 10, lease)
                .await
                .expect("claim")
                .iter()
                .all(|d| d.delivery.id != delivery_id),
            "leased to the first taker"
        );

        let attempt = |number| Attempt {
            number,
            started_at: Utc::now(),
            duration: Duration::from_millis(5),
            status_code: Some(500),
            error: Some("the receiver answered HTTP 500".to_owned()),
        };
        let retry = NextStep::RetryAt(Utc::now() - chrono::Duration::seconds(1));
        assert!(
            record_attempt(&db, delivery_id, attempt(1), retry)
                .await
                .expect("record")
        );
        assert!(
            !record_attempt(&db, delivery_id, attempt(1), retry)
                .await
                .expect("record"),
            "the same attempt is recorded once"
        );
        let due = claim_due(&db, 10, lease).await.expect("claim");
        assert!(
            due.iter().any(|d| d.delivery.id == delivery_id),
            "due again"
        );
        assert!(
            record_attempt(&db, delivery_id, attempt(2), NextStep::GiveUp)
                .await
                .expect("record")
        );
        let (delivery, attempts) = of_file(&db, id).await.expect("read").remove(0);
        assert_eq!(delivery.state, DeliveryState::Failed);
        assert_eq!(delivery.attempt_count, 2);
        assert!(delivery.finished_at.is_some());
        assert_eq!(
            attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
            [1, 2]
        );
    }
}
