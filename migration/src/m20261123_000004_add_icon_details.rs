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
                ALTER TABLE results
                    ADD COLUMN icon_format    varchar(8)
                        CHECK (icon_format IN ('ico', 'png', 'gif', 'jpeg', 'webp', 'bmp', 'svg')),
                    ADD COLUMN icon_width     integer CHECK (icon_width >= 0),
                    ADD COLUMN icon_height    integer CHECK (icon_height >= 0),
                    ADD COLUMN icon_bytes     bigint  CHECK (icon_bytes >= 0),
                    ADD COLUMN icon_source    varchar(16)
                        CHECK (icon_source IN ('link', 'manifest', 'fallback')),
                    ADD COLUMN error_category varchar(32)
                        CHECK (error_category IN ('invalid_domain', 'dns', 'connect', 'tls',
                            'timeout', 'http_status', 'not_image', 'no_icon', 'blocked',
                            'too_large')),
                    ADD COLUMN from_cache     boolean NOT NULL DEFAULT false,
                    ADD CONSTRAINT results_outcome_check CHECK (
                        (status = 'success' AND favicon_url IS NOT NULL)
                        OR (status = 'failed' AND error IS NOT NULL));
                -- The resolver's cache: the newest result of a domain, across files and clients.
                CREATE INDEX results_domain_created_idx ON results (domain, created_at DESC);
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
                DROP INDEX results_domain_created_idx;
                ALTER TABLE results
                    DROP CONSTRAINT results_outcome_check,
                    DROP COLUMN icon_format,
                    DROP COLUMN icon_width,
                    DROP COLUMN icon_height,
                    DROP COLUMN icon_bytes,
                    DROP COLUMN icon_source,
                    DROP COLUMN error_category,
                    DROP COLUMN from_cache;
                "#,
            )
            .await?;
        Ok(())
    }
}
