//! Which database errors are worth trying again. An outage (the connection lost, the pool
//! exhausted, the server shutting down, overloaded or cancelling a statement) passes; an
//! error about the statement or its data (a value PostgreSQL cannot hold, a constraint, a
//! program limit such as the 65,535 bind parameters) comes back every time the same data is
//! written, so retrying it, or handing the message back to SQS, only spends time and receives.
//!
//! This is the one place that classifies database errors and retries outages ([`retrying`]):
//! the worker decides permanent versus transient from [`ErrorClass`], never on its own.

use std::{fmt, time::Duration};

use sea_orm::{DbErr, RuntimeErr, sqlx};

/// Whether a database error would happen again on the same data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The statement or its data is at fault (SQLSTATE classes 22 data exception,
    /// 23 integrity constraint, 42 syntax or access, 54 program limit, …, or a statement the
    /// driver refuses to send): the entry, or the file, fails with a clear reason.
    Permanent,
    /// The database could not be reached or gave up for now (classes 08 connection,
    /// 40 rollback, 53 insufficient resources, 57 operator intervention, 58 system error, a pool
    /// time-out, a broken connection): try again later.
    Transient,
}

impl ErrorClass {
    /// Classifies `error` by the SQLSTATE PostgreSQL sent, or by what failed when it sent none.
    pub fn of(error: &DbErr) -> Self {
        match error {
            DbErr::Conn(RuntimeErr::SqlxError(error))
            | DbErr::Exec(RuntimeErr::SqlxError(error))
            | DbErr::Query(RuntimeErr::SqlxError(error)) => Self::of_sqlx(error),
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Transient,
            // SeaORM's own errors (a type or JSON conversion, a missing record, an
            // unsupported operation): the program and the data disagree.
            _ => Self::Permanent,
        }
    }

    fn of_sqlx(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(error) => error
                .code()
                .map_or(Self::Transient, |code| Self::of_sqlstate(&code)),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::BeginFailed => Self::Transient,
            // sqlx refuses, before sending anything, a statement with more than 65,535
            // parameters; any other protocol error is a connection gone wrong.
            sqlx::Error::Protocol(message) if message.contains("too many arguments") => {
                Self::Permanent
            }
            sqlx::Error::Protocol(_) => Self::Transient,
            // Encoding, decoding, missing columns or types: the program and the schema disagree.
            _ => Self::Permanent,
        }
    }

    /// Outages by SQLSTATE: whole classes, and the few codes of other classes that are one.
    fn of_sqlstate(code: &str) -> Self {
        let transient = matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58" | "XX"))
            || matches!(
                code,
                // read-only transaction (a standby after a fail-over), lock or object in use,
                // snapshot too old.
                "25006" | "55P03" | "55006" | "72000"
            );
        if transient {
            Self::Transient
        } else {
            Self::Permanent
        }
    }
}

/// An error that says whether the same operation may succeed later.
pub trait Classified: fmt::Display {
    /// Permanent or transient.
    fn class(&self) -> ErrorClass;
}

impl Classified for DbErr {
    fn class(&self) -> ErrorClass {
        ErrorClass::of(self)
    }
}

/// Tries of a database operation in [`retrying`] before its error is returned.
const DB_TRIES: u32 = 5;

/// Runs `operation` again after a short, growing pause when it fails with an outage
/// ([`ErrorClass::Transient`]), up to [`DB_TRIES`] times. A connection that dies under a query
/// (a failover, `pg_terminate_backend`, a restarted pooler) is replaced by the pool at once, so
/// the next try usually succeeds; giving the message back instead would spend one of its few
/// receives on the blip. An error about the data itself is returned at once: it would come
/// back every time. Only for operations that are safe to repeat: every write of the worker is
/// conditional or `ON CONFLICT DO NOTHING`.
pub async fn retrying<T, E, F, Fut>(what: &str, mut operation: F) -> Result<T, E>
where
    E: Classified,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match operation().await {
            Err(error) if tries < DB_TRIES && error.class() == ErrorClass::Transient => {
                tracing::warn!(error.message = %error, tries, "{what} failed; trying again in {pause:?}");
                tokio::time::sleep(pause).await;
                pause *= 2;
                tries += 1;
            }
            outcome => return outcome,
        }
    }
}

/// The SQLSTATE of a database error, when PostgreSQL sent one: safe to show to users (it
/// names the kind of refusal, not the data), unlike the error's message.
pub fn sqlstate(error: &DbErr) -> Option<String> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => match error.as_ref() {
            sqlx::Error::Database(error) => error.code().map(|code| code.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// `error` described for users: what kind of refusal it was, never the driver's message
/// (which quotes data, source files and line numbers; it goes to the logs).
#[derive(Debug)]
pub struct Refusal<'a>(pub &'a DbErr);

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match sqlstate(self.0) {
            Some(code) => write!(f, "the database refused it (SQLSTATE {code})"),
            None => f.write_str("the database refused it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_transient_and_everything_about_the_data_is_not() {
        for code in [
            "08006", "40001", "40P01", "53300", "57P01", "57014", "58030", "55P03",
        ] {
            assert_eq!(
                ErrorClass::of_sqlstate(code),
                ErrorClass::Transient,
                "{code}"
            );
        }
        for code in [
            "22021", "22P05", "22003", "23514", "23505", "42601", "54000", "0A000",
        ] {
            assert_eq!(
                ErrorClass::of_sqlstate(code),
                ErrorClass::Permanent,
                "{code}"
            );
        }
        assert_eq!(
            ErrorClass::of(&DbErr::ConnectionAcquire(
                sea_orm::error::ConnAcquireErr::Timeout
            )),
            ErrorClass::Transient
        );
        assert_eq!(
            ErrorClass::of(&DbErr::Type("bad".to_owned())),
            ErrorClass::Permanent
        );
    }
}
