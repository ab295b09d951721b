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
                -- A chunk's progress: results its workers wrote (a file's is its counters).
                ALTER TABLE file_chunks
                    ADD COLUMN recorded_count integer NOT NULL DEFAULT 0
                        CHECK (recorded_count >= 0);
                -- The dead-letter consumer sends a dead-lettered file or chunk back to the queue
                -- when it made progress since it was last sent (killed workers spend receives
                -- too), at most DLQ_MAX_REDRIVES times: how often it did, and the progress then.
                CREATE TABLE redrives (
                    file_id       uuid        NOT NULL REFERENCES files (id) ON DELETE CASCADE,
                    -- The chunk's number, or -1 for the whole file.
                    chunk         integer     NOT NULL CHECK (chunk >= -1),
                    redrive_count integer     NOT NULL CHECK (redrive_count > 0),
                    progress_mark integer     NOT NULL CHECK (progress_mark >= 0),
                    created_at    timestamptz NOT NULL DEFAULT now(),
                    updated_at    timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (file_id, chunk)
                );
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE redrives; ALTER TABLE file_chunks DROP COLUMN recorded_count;",
            )
            .await?;
        Ok(())
    }
}
