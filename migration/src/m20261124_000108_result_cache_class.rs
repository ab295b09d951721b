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
                -- What the resolver's cache may copy from a fetched result, each kind with its
                -- own time to live; NULL for what must be fetched again (time-outs, temporary
                -- DNS failures, refused connections, blocked addresses). Rows from before are
                -- NULL: the cache starts empty once.
                ALTER TABLE results
                    ADD COLUMN cache_class varchar(16)
                        CHECK (cache_class IN ('icon', 'no_such_name', 'site_answer'));
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE results DROP COLUMN cache_class;")
            .await?;
        Ok(())
    }
}
