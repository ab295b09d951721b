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
                -- Each distinct icon, content-addressed: its bytes are the S3 object
                -- `icons/sha256/<hash>`, written once however many domains, files and clients
                -- share it. varchar, not char: a char column compared to a text parameter
                -- cannot use its index.
                CREATE TABLE icons (
                    hash        varchar(64) PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
                    media_type  varchar(64) NOT NULL,
                    byte_size   bigint      NOT NULL CHECK (byte_size >= 0),
                    crc32       bigint      NOT NULL CHECK (crc32 BETWEEN 0 AND 4294967295),
                    width       integer     NOT NULL CHECK (width >= 0),
                    height      integer     NOT NULL CHECK (height >= 0),
                    created_at  timestamptz NOT NULL DEFAULT now()
                );

                -- One fetch of a domain's icons (by the worker or on demand by the api), found or
                -- not: the newest one of a domain is what `/icons/{domain}` serves while its
                -- class's time to live lasts. Results copied from the cache point at the
                -- resolution they copy, so they add no row and no object.
                CREATE TABLE icon_resolutions (
                    id           uuid        PRIMARY KEY,
                    domain       text        NOT NULL,
                    cache_class  varchar(16)
                        CHECK (cache_class IN ('icon', 'no_such_name', 'site_answer')),
                    resolved_at  timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX icon_resolutions_domain_newest_idx
                    ON icon_resolutions (domain, resolved_at DESC);

                -- The images a resolution kept (at most a few per domain, bounded by the
                -- resolver): the chosen one, other sizes and formats, dark variants.
                CREATE TABLE resolution_images (
                    resolution_id  uuid        NOT NULL
                        REFERENCES icon_resolutions (id) ON DELETE CASCADE,
                    icon_hash      varchar(64) NOT NULL REFERENCES icons (hash),
                    theme          varchar(8)  NOT NULL CHECK (theme IN ('light', 'dark')),
                    format         varchar(8)  NOT NULL,
                    width          integer     NOT NULL CHECK (width >= 0),
                    height         integer     NOT NULL CHECK (height >= 0),
                    chosen         boolean     NOT NULL DEFAULT false,
                    PRIMARY KEY (resolution_id, icon_hash, theme)
                );
                CREATE INDEX resolution_images_icon_idx ON resolution_images (icon_hash);

                -- A result's stored icon: the resolution it came from (its own, or the one a
                -- cached result copies) and the chosen image's hash; the media type, size and
                -- stored dimensions are the icon row's (a join), while icon_width/height stay
                -- what the origin served.
                ALTER TABLE results
                    ADD COLUMN resolution_id uuid REFERENCES icon_resolutions (id) ON DELETE SET NULL,
                    ADD COLUMN icon_hash varchar(64) REFERENCES icons (hash);
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
                ALTER TABLE results DROP COLUMN icon_hash, DROP COLUMN resolution_id;
                DROP TABLE resolution_images;
                DROP TABLE icon_resolutions;
                DROP TABLE icons;
                "#,
            )
            .await?;
        Ok(())
    }
}
