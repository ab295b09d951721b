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
                -- The api caches which client a key belongs to (`API_KEY_CACHE_SECS`). So that a
                -- key given up (`api create-client --rotate`) or a deleted client stops working
                -- at once on every api instance, the change is announced on the channel of file
                -- changes, `file_changes`, as `key_changed <client id>`, delivered when the
                -- transaction commits; each api drops what it cached for that client. An update
                -- that leaves the hash as it was announces nothing.
                CREATE FUNCTION clients_announce_key_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'DELETE' OR OLD.api_key_hash IS DISTINCT FROM NEW.api_key_hash THEN
                        PERFORM pg_notify('file_changes', concat_ws(' ', 'key_changed', OLD.id));
                    END IF;
                    RETURN NULL;
                END
                $$;

                CREATE TRIGGER clients_key_announced_on_change
                    AFTER UPDATE OF api_key_hash OR DELETE ON clients
                    FOR EACH ROW EXECUTE FUNCTION clients_announce_key_change();
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
                DROP TRIGGER clients_key_announced_on_change ON clients;
                DROP FUNCTION clients_announce_key_change();
                "#,
            )
            .await?;
        Ok(())
    }
}
