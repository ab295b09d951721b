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
                -- A large file is split into chunks that several workers process in parallel.
                -- chunk_count is set once every chunk is planned and announced; 0 means the
                -- file is processed whole.
                ALTER TABLE files
                    ADD COLUMN chunk_count integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0);
                CREATE TABLE file_chunks (
                    file_id          uuid        NOT NULL REFERENCES files (id) ON DELETE CASCADE,
                    number           integer     NOT NULL CHECK (number >= 0),
                    s3_key           text        NOT NULL,
                    domain_count     integer     NOT NULL CHECK (domain_count > 0),
                    done             boolean     NOT NULL DEFAULT false,
                    lease_owner      uuid,
                    lease_expires_at timestamptz,
                    created_at       timestamptz NOT NULL DEFAULT now(),
                    updated_at       timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (file_id, number)
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
                "DROP TABLE file_chunks; ALTER TABLE files DROP COLUMN chunk_count;",
            )
            .await?;
        Ok(())
    }
}
