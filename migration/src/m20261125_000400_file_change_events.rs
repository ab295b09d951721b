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
                -- Live progress (`GET /events`): every change of a file that a user sees (a new
                -- file, its status, its counters, its error) gets a number from one sequence and
                -- is announced on the channel `file_changes`, whichever code wrote it. The
                -- number is the event id of the streams: a client that reconnects with
                -- `Last-Event-ID: N` is sent every file whose `change_seq` is above N.
                --
                -- That is only complete if numbers are handed out in commit order: were a
                -- transaction numbered 10 to commit after one numbered 11, a client that saw 11
                -- in between would never be sent 10. So the number is taken when the transaction
                -- commits (a deferred trigger), under a transaction-wide advisory lock held from
                -- there to the commit: the transaction numbered 11 cannot take its number before
                -- the one numbered 10 has committed. The lock covers a few microseconds of work
                -- and the commit itself, and is taken only by transactions that changed what a
                -- user sees of a file (lease renewals do not). Rows from before keep 0.
                CREATE SEQUENCE files_change_seq AS bigint;
                ALTER TABLE files ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
                CREATE INDEX files_client_change_seq_idx ON files (client_id, change_seq);

                CREATE FUNCTION files_number_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                DECLARE
                    seq bigint;
                BEGIN
                    PERFORM pg_advisory_xact_lock(hashtextextended('files_change_seq', 0));
                    seq := nextval('files_change_seq');
                    -- This update changes none of the columns the triggers watch: no loop.
                    UPDATE files SET change_seq = seq WHERE id = NEW.id;
                    IF FOUND THEN
                        -- `changed <file id> <client id> <change_seq>`; the api reads the row.
                        PERFORM pg_notify(
                            'file_changes',
                            concat_ws(' ', 'changed', NEW.id, NEW.client_id, seq)
                        );
                    END IF;
                    RETURN NULL;
                END
                $$;

                CREATE FUNCTION files_announce_deletion() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    -- `deleted <file id> <client id>`, delivered when the deletion commits.
                    PERFORM pg_notify(
                        'file_changes',
                        concat_ws(' ', 'deleted', OLD.id, OLD.client_id)
                    );
                    RETURN NULL;
                END
                $$;

                CREATE CONSTRAINT TRIGGER files_numbered_on_insert
                    AFTER INSERT ON files
                    DEFERRABLE INITIALLY DEFERRED
                    FOR EACH ROW EXECUTE FUNCTION files_number_change();

                CREATE CONSTRAINT TRIGGER files_numbered_on_change
                    AFTER UPDATE ON files
                    DEFERRABLE INITIALLY DEFERRED
                    FOR EACH ROW
                    WHEN (
                        OLD.status IS DISTINCT FROM NEW.status
                        OR OLD.total_count IS DISTINCT FROM NEW.total_count
                        OR OLD.succeeded_count IS DISTINCT FROM NEW.succeeded_count
                        OR OLD.failed_count IS DISTINCT FROM NEW.failed_count
                        OR OLD.error_message IS DISTINCT FROM NEW.error_message
                    )
                    EXECUTE FUNCTION files_number_change();

                CREATE TRIGGER files_announced_on_delete
                    AFTER DELETE ON files
                    FOR EACH ROW EXECUTE FUNCTION files_announce_deletion();
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
                DROP TRIGGER files_announced_on_delete ON files;
                DROP TRIGGER files_numbered_on_change ON files;
                DROP TRIGGER files_numbered_on_insert ON files;
                DROP FUNCTION files_announce_deletion();
                DROP FUNCTION files_number_change();
                ALTER TABLE files DROP COLUMN change_seq;
                DROP SEQUENCE files_change_seq;
                "#,
            )
            .await?;
        Ok(())
    }
}
