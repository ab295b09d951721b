use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
                -- Two changes that let transactions changing files of different clients commit
                -- side by side; before, only one such transaction could commit at a time.
                --
                -- 1. The lock held from numbering to commit is now the client's, not one for the
                -- whole database. Change numbers (`files.change_seq`,
                -- m20261125_000400_file_change_events) need to be in commit order only among
                -- the files of one client, because every reader is per client: `GET /events`
                -- resumes a client's stream at `Last-Event-ID` with the client's files above it
                -- (`store::events::changed_after`, on `(client_id, change_seq)`), starts at the
                -- client's highest number (`latest_change`), and `GET /files/{id}/events`
                -- follows one file, which has one client. No stream compares numbers of two
                -- clients' files, so a transaction of client A numbered 10 committing after one
                -- of client B numbered 11 is invisible to every stream. Numbers still come from
                -- the one sequence: unique, and per client rising in commit order as before.
                --
                -- A transaction that changes files of several clients takes several of these
                -- locks, in the order its rows were changed; two such transactions taking them
                -- in opposite orders would deadlock (PostgreSQL then aborts one). No code path
                -- does that: every store function changes one file per transaction.
                --
                -- 2. The trigger no longer sends the `changed` notification: the writer sends
                -- it after its commit (`store::events::announce_change`). PostgreSQL holds one
                -- database-wide lock from before the commit of any transaction that notified
                -- until after its WAL flush, which serialised these commits just as the old
                -- advisory lock did. Deletions (rare) are still announced by their trigger.
                CREATE OR REPLACE FUNCTION files_number_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                DECLARE
                    seq bigint;
                BEGIN
                    PERFORM pg_advisory_xact_lock(
                        hashtextextended('files_change_seq:' || NEW.client_id::text, 0)
                    );
                    seq := nextval('files_change_seq');
                    -- This update changes none of the columns the triggers watch: no loop.
                    UPDATE files SET change_seq = seq WHERE id = NEW.id;
                    RETURN NULL;
                END
                $$;
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
                CREATE OR REPLACE FUNCTION files_number_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                DECLARE
                    seq bigint;
                BEGIN
                    PERFORM pg_advisory_xact_lock(hashtextextended('files_change_seq', 0));
                    seq := nextval('files_change_seq');
                    UPDATE files SET change_seq = seq WHERE id = NEW.id;
                    IF FOUND THEN
                        PERFORM pg_notify(
                            'file_changes',
                            concat_ws(' ', 'changed', NEW.id, NEW.client_id, seq)
                        );
                    END IF;
                    RETURN NULL;
                END
                $$;
                "#,
            )
            .await?;
        Ok(())
    }
}
