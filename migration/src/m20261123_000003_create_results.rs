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
                CREATE TABLE results (
                    id           uuid        PRIMARY KEY,
                    file_id      uuid        NOT NULL REFERENCES files (id) ON DELETE CASCADE,
                    position     integer     NOT NULL CHECK (position >= 0),
                    domain       text        NOT NULL,
                    favicon_url  text,
                    status       varchar(16) NOT NULL CHECK (status IN ('success', 'failed')),
                    error        text,
                    tries        integer     NOT NULL DEFAULT 0 CHECK (tries >= 0),
                    created_at   timestamptz NOT NULL DEFAULT now(),
                    updated_at   timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT results_file_domain_key UNIQUE (file_id, domain),
                    CONSTRAINT results_file_position_key UNIQUE (file_id, position)
                );
                CREATE INDEX results_file_status_position_idx ON results (file_id, status, position);
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE results;")
            .await?;
        Ok(())
    }
}
