//! Starting the api or worker binary as an operating-system child process, for tests that
//! kill processes and benchmarks that measure them.

use std::process::Stdio;

use tokio::process::Command;

/// A command for the binary at `path` whose environment is exactly `env` (plus `PATH`,
/// LocalStack's dummy credentials and a log filter); killed when dropped. `env` is
/// [`crate::settings::api_env`] or [`crate::settings::worker_env`].
pub fn command(path: impl AsRef<std::ffi::OsStr>, env: Vec<(&'static str, String)>) -> Command {
    let mut command = Command::new(path);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,aws=warn,sqlx=warn".to_owned()),
        )
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}
