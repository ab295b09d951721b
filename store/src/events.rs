//! Changes of files as they happen, for the api's live streams (`GET /events`), and changes of
//! API keys, for the api's cache of key lookups.
//!
//! The database announces them itself (migration `m20261125_000400_file_change_events`): when a
//! transaction that created a file or changed what a user sees of it (status, counters, error)
//! commits, a trigger gives the row the next `change_seq` of one sequence, in commit order, and
//! sends `changed <file id> <client id> <change_seq>` on the channel [`CHANNEL`]; a deletion
//! sends `deleted <file id> <client id>`. So every writer (this crate's functions, whatever is
//! added later) is covered without remembering to announce, and every api instance hears the
//! changes made through any other, or by any worker. The same channel carries
//! `key_changed <client id>` when a client's key is replaced or the client deleted (migration
//! `m20261126_000800_key_change_events`), so that every api instance forgets the old key.
//!
//! [`listen`] keeps one `LISTEN` connection per process and hands each announcement to a tokio
//! broadcast channel; after it (re)connects it sends [`Announcement::Resync`], because
//! notifications sent while it was away are lost. What a stream shows is always read from the
//! table ([`changed_after`], [`latest_change`], [`crate::files::find_for_client`]), never taken
//! from the notification, so a missed or repeated notification costs a query, not a wrong answer.
//! A cache of keys drops everything on `Resync` for the same reason.

use std::{future::Future, pin::pin, time::Duration};

use entity::files;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sqlx::{
        self,
        postgres::{PgListener, PgPool, PgPoolOptions},
    },
};
use tokio::sync::broadcast;
use uuid::Uuid;

/// The notification channel the triggers send on.
pub const CHANNEL: &str = "file_changes";

/// The first pause before connecting again after the listener lost its connection; doubled
/// after each failure up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between two attempts to connect.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// What the listener hands to the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// A file was created or changed; its row now has `change_seq` (or a later one).
    Changed {
        /// The file.
        file_id: Uuid,
        /// Its owner: a stream shows only its client's files.
        client_id: Uuid,
        /// The change's number.
        change_seq: i64,
    },
    /// A file was deleted.
    Deleted {
        /// The file.
        file_id: Uuid,
        /// Its owner.
        client_id: Uuid,
    },
    /// The client's API key was replaced, or the client deleted: what was cached of its
    /// key is no longer true.
    KeyChanged {
        /// The client.
        client_id: Uuid,
    },
    /// Changes may have been missed (the listener connected again, or a stream fell behind):
    /// every stream reads again what it shows, and cached keys are forgotten.
    Resync,
}

impl Announcement {
    /// Reads a notification's payload as the triggers write it; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut words = payload.split(' ');
        let kind = words.next()?;
        let id = |word: Option<&str>| word?.parse::<Uuid>().ok();
        let announcement = match kind {
            "changed" => Self::Changed {
                file_id: id(words.next())?,
                client_id: id(words.next())?,
                change_seq: words.next()?.parse().ok()?,
            },
            "deleted" => Self::Deleted {
                file_id: id(words.next())?,
                client_id: id(words.next())?,
            },
            "key_changed" => Self::KeyChanged {
                client_id: id(words.next())?,
            },
            _ => return None,
        };
        words.next().is_none().then_some(announcement)
    }
}

/// Why the listener cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Notifications are PostgreSQL's.
    #[error("live changes need PostgreSQL, not {0:?}")]
    NotPostgres(DbBackend),
}

/// Listens on [`CHANNEL`] with one connection of its own (not one of the pool's) and sends
/// every announcement to `announce` until `stop` completes. A lost connection is opened again
/// after a pause (growing to 10 s while the database stays away); each time it is listening
/// again, [`Announcement::Resync`] is sent. Send errors (no stream open) are ignored.
pub async fn listen(
    db: &DatabaseConnection,
    announce: broadcast::Sender<Announcement>,
    stop: impl Future<Output = ()>,
) -> Result<(), ListenError> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Err(ListenError::NotPostgres(backend));
    }
    let pool = listener_pool(db.get_postgres_connection_pool());
    let mut stop = pin!(stop);
    let mut pause = FIRST_PAUSE;
    loop {
        let ended = tokio::select! {
            () = &mut stop => return Ok(()),
            ended = listen_once(&pool, &announce, &mut pause) => ended,
        };
        match ended {
            Ok(()) => {
                tracing::warn!("lost the connection listening for file changes; connecting again")
            }
            Err(error) => tracing::warn!(
                error.message = %error,
                retry.ms = pause.as_millis(),
                "cannot listen for file changes: {error}; trying again in {pause:?}"
            ),
        }
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// A pool of one connection, made with the application pool's options, for the listener: it
/// holds its connection for good, which would otherwise take one of `DATABASE_MAX_CONNECTIONS`.
fn listener_pool(application: &PgPool) -> PgPool {
    let options = application.connect_options().as_ref().clone();
    PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options)
}

/// Connects, listens and forwards notifications until the connection is lost (`Ok`) or an
/// error stops it. Resets `pause` once listening.
async fn listen_once(
    pool: &PgPool,
    announce: &broadcast::Sender<Announcement>,
    pause: &mut Duration,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends this call, so that the caller says so and sends `Resync` once
    // listening again, rather than sqlx reconnecting silently.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    *pause = FIRST_PAUSE;
    tracing::debug!(channel = CHANNEL, "listening for file changes");
    let _ = announce.send(Announcement::Resync);
    while let Some(notification) = listener.try_recv().await? {
        match Announcement::parse(notification.payload()) {
            Some(announcement) => {
                let _ = announce.send(announcement);
            }
            None => tracing::warn!(
                payload = notification.payload(),
                "ignored a notification on {CHANNEL} that is no file or key change"
            ),
        }
    }
    Ok(())
}

/// Up to `limit` of the client's files whose `change_seq` is above `after`, in the order of
/// their changes: what a stream resuming at `after` must send. Each row is the file as it is
/// now (one entry per file, however often it changed). Complete up to the last row's
/// `change_seq`, since numbers are given in commit order.
pub async fn changed_after(
    db: &DatabaseConnection,
    client_id: Uuid,
    after: i64,
    limit: u64,
) -> Result<Vec<files::Model>, DbErr> {
    files::Entity::find()
        .filter(files::Column::ClientId.eq(client_id))
        .filter(files::Column::ChangeSeq.gt(after))
        .order_by_asc(files::Column::ChangeSeq)
        .limit(limit)
        .all(db)
        .await
}

/// The highest `change_seq` of the client's files (0 without any): where a stream that starts
/// without `Last-Event-ID` begins, every change up to it having committed.
pub async fn latest_change(db: &DatabaseConnection, client_id: Uuid) -> Result<i64, DbErr> {
    let latest: Option<Option<i64>> = files::Entity::find()
        .select_only()
        .column_as(files::Column::ChangeSeq.max(), "latest")
        .filter(files::Column::ClientId.eq(client_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use entity::{FileStatus, FileType};
    use sea_orm::{Database, ModelTrait, TransactionTrait, sea_query::Expr};

    use super::*;
    use crate::files::{NewFile, insert_pending};

    async fn database() -> DatabaseConnection {
        let url = test_support::database::isolated_database().await;
        Database::connect(&url).await.expect("connect")
    }

    async fn new_file(db: &DatabaseConnection, client_id: Uuid) -> files::Model {
        let id = Uuid::now_v7();
        let new = NewFile {
            id,
            client_id,
            original_name: "d.csv".to_owned(),
            s3_bucket: "b".to_owned(),
            s3_key: format!("uploads/{id}/d.csv"),
            file_type: FileType::Csv,
            size_bytes: 1,
            callback_url: None,
        };
        insert_pending(db, new, 100).await.expect("file");
        seq_of(db, id).await
    }

    async fn seq_of(db: &DatabaseConnection, id: Uuid) -> files::Model {
        files::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("read")
            .expect("the file")
    }

    async fn set_total(db: &impl sea_orm::ConnectionTrait, id: Uuid, total: i32) {
        files::Entity::update_many()
            .col_expr(files::Column::TotalCount, Expr::value(total))
            .filter(files::Column::Id.eq(id))
            .exec(db)
            .await
            .expect("update");
    }

    async fn client(db: &DatabaseConnection) -> Uuid {
        crate::clients::create(db, &format!("c-{}", Uuid::now_v7()), false)
            .await
            .expect("client")
            .0
            .id
    }

    #[tokio::test]
    async fn changes_are_numbered_in_commit_order_not_statement_order() {
        let db = database().await;
        let client = client(&db).await;
        let (first, second) = (new_file(&db, client).await, new_file(&db, client).await);
        assert!(first.change_seq > 0 && second.change_seq > first.change_seq);

        // `first` changes first but commits last: it must get the higher number, or a client
        // that saw `second`'s number could never be sent `first`'s change.
        let slow = db.begin().await.expect("begin");
        set_total(&slow, first.id, 5).await;
        set_total(&db, second.id, 7).await;
        let second_seq = seq_of(&db, second.id).await.change_seq;
        slow.commit().await.expect("commit");
        let first_seq = seq_of(&db, first.id).await.change_seq;
        assert!(first_seq > second_seq, "{first_seq} <= {second_seq}");

        assert_eq!(latest_change(&db, client).await.expect("latest"), first_seq);
        let changed: Vec<Uuid> = changed_after(&db, client, second_seq - 1, 10)
            .await
            .expect("changed")
            .into_iter()
            .map(|file| file.id)
            .collect();
        assert_eq!(changed, [second.id, first.id]);
        assert!(
            changed_after(&db, client, first_seq, 10)
                .await
                .expect("changed")
                .is_empty()
        );
        assert_eq!(latest_change(&db, Uuid::now_v7()).await.expect("none"), 0);

        // What no user sees (the lease) takes no number.
        files::Entity::update_many()
            .col_expr(files::Column::LeaseOwner, Expr::value(Uuid::now_v7()))
            .filter(files::Column::Id.eq(first.id))
            .exec(&db)
            .await
            .expect("lease");
        assert_eq!(seq_of(&db, first.id).await.change_seq, first_seq);
    }

    /// A listener on `db`, its announcements (past the first `Resync`), and how to stop it.
    struct Listening {
        heard: broadcast::Receiver<Announcement>,
        stop: tokio::sync::oneshot::Sender<()>,
        listener: tokio::task::JoinHandle<Result<(), ListenError>>,
    }

    impl Listening {
        async fn start(db: &DatabaseConnection) -> Self {
            let (announce, mut heard) = broadcast::channel(16);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let listener = tokio::spawn({
                let db = db.clone();
                async move {
                    listen(&db, announce, async {
                        let _ = stopped.await;
                    })
                    .await
                }
            });
            assert_eq!(heard.recv().await.expect("resync"), Announcement::Resync);
            Self {
                heard,
                stop,
                listener,
            }
        }
    }

    #[tokio::test]
    async fn the_listener_announces_changes_and_deletions_after_a_resync() {
        let db = database().await;
        let client = client(&db).await;
        let Listening {
            mut heard,
            stop,
            listener,
        } = Listening::start(&db).await;

        let file = new_file(&db, client).await;
        assert_eq!(
            heard.recv().await.expect("created"),
            Announcement::Changed {
                file_id: file.id,
                client_id: client,
                change_seq: file.change_seq
            }
        );
        crate::transitions::change(
            &db,
            file.id,
            crate::transitions::Change::Fail { reason: "test" },
        )
        .await
        .expect("fail");
        let failed = seq_of(&db, file.id).await;
        assert_eq!(failed.status, FileStatus::Failed);
        assert_eq!(
            heard.recv().await.expect("failed"),
            Announcement::Changed {
                file_id: file.id,
                client_id: client,
                change_seq: failed.change_seq
            }
        );
        failed.delete(&db).await.expect("delete");
        assert_eq!(
            heard.recv().await.expect("deleted"),
            Announcement::Deleted {
                file_id: file.id,
                client_id: client
            }
        );

        stop.send(()).expect("the listener runs");
        listener.await.expect("joined").expect("listened");
    }

    #[tokio::test]
    async fn the_listener_announces_a_new_key_and_a_deleted_client_but_not_a_rename() {
        let db = database().await;
        let Listening {
            mut heard,
            stop,
            listener,
        } = Listening::start(&db).await;

        let name = format!("c-{}", Uuid::now_v7());
        let (client, _) = crate::clients::create(&db, &name, false)
            .await
            .expect("client");
        let mut renamed: entity::clients::ActiveModel = client.clone().into();
        renamed.name = sea_orm::Set(format!("{name}-renamed"));
        let renamed = sea_orm::ActiveModelTrait::update(renamed, &db)
            .await
            .expect("rename");
        crate::clients::create(&db, &renamed.name, true)
            .await
            .expect("rotate");
        // Creating and renaming announced nothing: the first announcement is the new key.
        assert_eq!(
            heard.recv().await.expect("rotated"),
            Announcement::KeyChanged {
                client_id: client.id
            }
        );
        entity::clients::Entity::delete_by_id(client.id)
            .exec(&db)
            .await
            .expect("delete");
        assert_eq!(
            heard.recv().await.expect("deleted"),
            Announcement::KeyChanged {
                client_id: client.id
            }
        );

        stop.send(()).expect("the listener runs");
        listener.await.expect("joined").expect("listened");
    }

    #[test]
    fn payloads_are_read_as_the_triggers_write_them() {
        let file = Uuid::now_v7();
        let client = Uuid::now_v7();
        assert_eq!(
            Announcement::parse(&format!("changed {file} {client} 42")),
            Some(Announcement::Changed {
                file_id: file,
                client_id: client,
                change_seq: 42
            })
        );
        assert_eq!(
            Announcement::parse(&format!("deleted {file} {client}")),
            Some(Announcement::Deleted {
                file_id: file,
                client_id: client
            })
        );
        assert_eq!(
            Announcement::parse(&format!("key_changed {client}")),
            Some(Announcement::KeyChanged { client_id: client })
        );
        for bad in [
            String::new(),
            "key_changed".to_owned(),
            "key_changed not-a-uuid".to_owned(),
            format!("key_changed {client} {file}"),
            "changed".to_owned(),
            format!("changed {file} {client}"),
            format!("changed {file} {client} x"),
            format!("changed {file} {client} 1 extra"),
            format!("renamed {file} {client}"),
            format!("deleted {file} not-a-uuid"),
        ] {
            assert_eq!(Announcement::parse(&bad), None, "{bad}");
        }
    }
}
