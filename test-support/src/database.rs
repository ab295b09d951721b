//! A fresh, migrated database per test.

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database};

/// The server the tests use: `TEST_DATABASE_URL`, else `DATABASE_URL`, else local PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Prefix of every test database: `fp_test_<unix seconds>_<random>`. `scripts/test` drops
/// leftovers by the time in their name, so it never drops the database of a test that another
/// run on the same server is still using.
pub const TEST_DATABASE_PREFIX: &str = "fp_test_";

/// Creates and migrates a database of its own, returning its URL.
pub async fn isolated_database() -> String {
    let admin = admin_url();
    let connection = Database::connect(&admin).await.unwrap_or_else(|error| {
        panic!(
            "PostgreSQL is required for the integration tests but {admin} is not reachable ({error}). \
             Run `scripts/test` (it starts a private cluster when needed) or set TEST_DATABASE_URL."
        )
    });
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let name = format!("{TEST_DATABASE_PREFIX}{created}_{}", crate::unique_suffix());
    connection
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("failed to create the test database");
    connection
        .close()
        .await
        .expect("failed to close the admin connection");
    let url = replace_database(&admin, &name);
    let db = Database::connect(&url)
        .await
        .expect("failed to connect to the test database");
    migration::Migrator::up(&db, None)
        .await
        .expect("migrations failed");
    db.close()
        .await
        .expect("failed to close the test database connection");
    url
}

/// `url` with its database name replaced by `name`.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            replace_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
