//! `ErrorClass` against errors real PostgreSQL (and the pool in front of it) gives: what
//! would happen again on the same data is permanent, outages are transient. The end-to-end
//! sides are `deterministic.rs` (refusals fail the entry or the file at once) and `faults.rs`
//! (connections killed mid-file are retried).

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement,
    TransactionTrait, Value,
};
use store::errors::{ErrorClass, Refusal, sqlstate};

async fn connect(url: &str, max_connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_millis(500))
        .sqlx_logging(false);
    Database::connect(options).await.expect("connect")
}

async fn error_of(db: &DatabaseConnection, sql: &str, values: Vec<Value>) -> DbErr {
    db.query_one_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .expect_err(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_about_the_data_are_permanent() {
    let url = test_support::database::isolated_database().await;
    let db = connect(&url, 2).await;
    db.execute_unprepared(
        "CREATE TABLE checked (x integer CHECK (x > 0)); \
         CREATE TABLE indexed (x text); CREATE INDEX ON indexed (x);",
    )
    .await
    .expect("tables");
    let too_many: Vec<Value> = (0..70_000).map(|i: i32| i.into()).collect();
    let placeholders: Vec<String> = (1..=too_many.len()).map(|i| format!("${i}")).collect();
    let cases = [
        (
            "a NUL in text",
            "SELECT $1::text",
            vec!["nul\0job".into()],
            Some("22021"),
        ),
        (
            "out of range",
            "SELECT 2147483647::int4 + 1",
            vec![],
            Some("22003"),
        ),
        (
            "a CHECK",
            "INSERT INTO checked VALUES (0)",
            vec![],
            Some("23514"),
        ),
        (
            "an index row too large",
            "INSERT INTO indexed \
             SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)",
            vec![],
            Some("54000"),
        ),
        ("a syntax error", "SELEC 1", vec![], Some("42601")),
        (
            "more than 65,535 bind parameters",
            &format!("SELECT 1 WHERE 1 IN ({})", placeholders.join(",")),
            too_many,
            None,
        ),
    ];
    for (what, sql, values, code) in cases {
        let error = error_of(&db, sql, values).await;
        assert_eq!(
            ErrorClass::of(&error),
            ErrorClass::Permanent,
            "{what}: {error}"
        );
        assert_eq!(sqlstate(&error).as_deref(), code, "{what}: {error}");
        let told = Refusal(&error).to_string();
        assert!(!told.contains("sqlx"), "{told}");
        if let Some(code) = code {
            assert_eq!(told, format!("the database refused it (SQLSTATE {code})"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_are_transient() {
    let url = test_support::database::isolated_database().await;
    let db = connect(&url, 1).await;

    // A statement cancelled by its time-out (57014).
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared("SET LOCAL statement_timeout = '20ms'")
        .await
        .expect("set");
    let error = txn
        .execute_unprepared("SELECT pg_sleep(2)")
        .await
        .expect_err("cancelled");
    assert_eq!(sqlstate(&error).as_deref(), Some("57014"), "{error}");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Transient, "{error}");

    // The pool's only connection is held: acquiring another times out.
    let error = db
        .execute_unprepared("SELECT 1")
        .await
        .expect_err("no connection free");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Transient, "{error}");
    drop(txn);

    // The connection killed under a query (pg_terminate_backend, a fail-over).
    let error = db
        .execute_unprepared("SELECT pg_terminate_backend(pg_backend_pid())")
        .await
        .expect_err("terminated");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Transient, "{error}");

    // A server that does not answer at all.
    let mut options = ConnectOptions::new("postgres://postgres@127.0.0.1:1/nowhere");
    options
        .connect_timeout(Duration::from_millis(500))
        .acquire_timeout(Duration::from_millis(500))
        .sqlx_logging(false);
    let error = Database::connect(options)
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(ErrorClass::of(&error), ErrorClass::Transient, "{error}");
}
