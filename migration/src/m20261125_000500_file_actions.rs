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
                -- A file its owner cancelled is CANCELLED, a terminal status.
                ALTER TABLE files
                    DROP CONSTRAINT files_status_check,
                    ADD CONSTRAINT files_status_check
                        CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'));
                -- The failed results a retry of their file resolves again: a row each until
                -- its result is re-resolved (removed in the same transaction as the result's
                -- update), so a worker that dies midway resumes where it stopped.
                CREATE TABLE result_retries (
                    result_id  uuid        PRIMARY KEY REFERENCES results (id) ON DELETE CASCADE,
                    file_id    uuid        NOT NULL REFERENCES files (id) ON DELETE CASCADE,
                    position   integer     NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX result_retries_file_position_idx
                    ON result_retries (file_id, position);
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
                DROP TABLE result_retries;
                UPDATE files SET status = 'FAILED' WHERE status = 'CANCELLED';
                ALTER TABLE files
                    DROP CONSTRAINT files_status_check,
                    ADD CONSTRAINT files_status_check
                        CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED'));
                "#,
            )
            .await?;
        Ok(())
    }
}
