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
                CREATE TABLE files (
                    id               uuid        PRIMARY KEY,
                    client_id        uuid        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                    original_name    text        NOT NULL,
                    s3_bucket        text        NOT NULL,
                    s3_key           text        NOT NULL,
                    file_type        varchar(8)  NOT NULL CHECK (file_type IN ('csv', 'json')),
                    size_bytes       bigint      NOT NULL CHECK (size_bytes >= 0),
                    status           varchar(16) NOT NULL DEFAULT 'PENDING'
                                     CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
                    error_message    text,
                    total_count      integer     NOT NULL DEFAULT 0 CHECK (total_count >= 0),
                    succeeded_count  integer     NOT NULL DEFAULT 0 CHECK (succeeded_count >= 0),
                    failed_count     integer     NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
                    published_at     timestamptz,
                    lease_owner      uuid,
                    lease_expires_at timestamptz,
                    processed_at     timestamptz,
                    created_at       timestamptz NOT NULL DEFAULT now(),
                    updated_at       timestamptz NOT NULL DEFAULT now()
                );
                -- A client's files by status, newest first (the dashboard listing).
                CREATE INDEX files_client_status_created_idx
                    ON files (client_id, status, created_at DESC, id DESC);
                -- A client's files of any status, newest first.
                CREATE INDEX files_client_created_idx
                    ON files (client_id, created_at DESC, id DESC);
                -- Files whose event may not have reached SNS, for the re-publisher.
                CREATE INDEX files_unpublished_idx
                    ON files (created_at) WHERE status = 'PENDING';
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE files;")
            .await?;
        Ok(())
    }
}
