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
                -- Tab-separated values and newline-delimited JSON are read as well.
                ALTER TABLE files
                    DROP CONSTRAINT files_file_type_check,
                    ADD CONSTRAINT files_file_type_check
                        CHECK (file_type IN ('csv', 'tsv', 'json', 'ndjson'));
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
                ALTER TABLE files
                    DROP CONSTRAINT files_file_type_check,
                    ADD CONSTRAINT files_file_type_check CHECK (file_type IN ('csv', 'json'));
                "#,
            )
            .await?;
        Ok(())
    }
}
