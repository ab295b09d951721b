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
                -- A client's callback URL and the secret that signs what is sent to it. The
                -- secret is kept in clear because the worker signs with it (a hash could not);
                -- it is shown to the client only when created or rotated.
                CREATE TABLE webhooks (
                    client_id  uuid        PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
                    url        text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
                    secret     text        NOT NULL CHECK (length(secret) >= 32),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );

                -- A callback URL given with one upload or job, used instead of the client's.
                ALTER TABLE files
                    ADD COLUMN callback_url text CHECK (length(callback_url) BETWEEN 1 AND 2048);

                -- The outbox: one row per terminal status a file reached while a callback URL
                -- applied, written in the transaction of that status change, so that nothing
                -- accepted is lost. Workers deliver it. While pending, next_attempt_at is when
                -- it is due, or when the lease of the worker sending it ends.
                CREATE TABLE webhook_deliveries (
                    id              uuid        PRIMARY KEY,
                    file_id         uuid        NOT NULL REFERENCES files (id) ON DELETE CASCADE,
                    url             text        NOT NULL,
                    file_status     varchar(16) NOT NULL,
                    state           varchar(16) NOT NULL
                        CHECK (state IN ('pending', 'delivered', 'failed')),
                    attempt_count   integer     NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
                    next_attempt_at timestamptz NOT NULL,
                    last_error      text,
                    finished_at     timestamptz,
                    created_at      timestamptz NOT NULL DEFAULT now(),
                    updated_at      timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX webhook_deliveries_due
                    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
                CREATE INDEX webhook_deliveries_file ON webhook_deliveries (file_id, created_at);

                -- Every attempt to deliver, as the API shows it.
                CREATE TABLE webhook_attempts (
                    delivery_id uuid        NOT NULL
                        REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
                    number      integer     NOT NULL CHECK (number >= 1),
                    started_at  timestamptz NOT NULL,
                    duration_ms integer     NOT NULL CHECK (duration_ms >= 0),
                    status_code integer     CHECK (status_code BETWEEN 100 AND 999),
                    error       text,
                    PRIMARY KEY (delivery_id, number)
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
                "DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; \
                 ALTER TABLE files DROP COLUMN callback_url; DROP TABLE webhooks;",
            )
            .await?;
        Ok(())
    }
}
