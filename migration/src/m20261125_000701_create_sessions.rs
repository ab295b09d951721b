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
                -- Browser sessions of the dashboard: a random token in an HttpOnly cookie,
                -- stored only as its SHA-256. `api_key_hash` is the client's key when the
                -- session began: issuing the client a new key ends its sessions.
                CREATE TABLE sessions (
                    token_hash   varchar(64) PRIMARY KEY,
                    client_id    uuid        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
                    api_key_hash varchar(64) NOT NULL,
                    created_at   timestamptz NOT NULL,
                    expires_at   timestamptz NOT NULL,
                    CHECK (expires_at > created_at)
                );
                CREATE INDEX sessions_client_id_idx ON sessions (client_id);
                CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE sessions;")
            .await?;
        Ok(())
    }
}
