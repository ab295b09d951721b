//! [`TestStack`]: the one way end-to-end tests and benchmarks start the system. Each stack has
//! its own database and LocalStack resources ([`crate::isolated_settings`]); the api and
//! workers run in this process (feature `in-process`, for tests that want speed and direct
//! access) or as child processes of their binaries (for tests that kill workers, and for
//! benchmarks that measure the processes).

use std::{
    ops::Deref,
    path::PathBuf,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use common::aws::AwsClients;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

use crate::{ApiClient, IconServer, StackSettings, child_process};

/// A running api (and the workers started on it) for one test or benchmark. It derefs to the
/// [`ApiClient`] of its first client, so tests read `stack.upload(...)`.
#[derive(Debug)]
pub struct TestStack {
    /// The api as the stack's first client.
    pub api: ApiClient,
    /// The id of that client.
    pub client_id: uuid::Uuid,
    /// What the api and the workers are started with.
    pub settings: StackSettings,
    /// Clients of the stack's AWS resources.
    pub aws: AwsClients,
    /// The stack's own database.
    pub db: DatabaseConnection,
    /// The icon server behind every domain, when the stack started one.
    icons: Option<IconServer>,
    /// The api: a task of this process, or a child process.
    api_runner: ApiRunner,
    /// The worker binary [`Self::spawn_worker`] starts.
    worker_binary: Option<PathBuf>,
    /// Where worker processes log; `None` discards their logs (benchmarks).
    logs: Option<PathBuf>,
    /// Stops whatever runs in this process.
    shutdown: CancellationToken,
}

/// How the stack's api runs.
#[derive(Debug)]
enum ApiRunner {
    /// A task of this process.
    #[cfg_attr(
        not(feature = "in-process"),
        expect(dead_code, reason = "built only with the in-process feature")
    )]
    InProcess,
    /// A child process of the api binary.
    Process { child: Box<Child> },
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Deref for TestStack {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

#[cfg(feature = "in-process")]
impl TestStack {
    /// Starts api and worker in this process, with a local icon server behind every domain.
    pub async fn spawn() -> Self {
        let icons = IconServer::start().await;
        let settings = crate::isolated_settings(Some(icons.addr)).await;
        let mut stack = Self::spawn_with(settings).await;
        stack.icons = Some(icons);
        stack
    }

    /// Starts api and worker in this process with the given settings.
    pub async fn spawn_with(settings: StackSettings) -> Self {
        let stack = Self::spawn_api_only(settings).await;
        stack.start_worker().await;
        stack
    }

    /// Starts api and icon server (answering after `icon_delay`) in this process, with the
    /// settings `tune` adjusts; workers are started as processes ([`Self::spawn_worker`]) or
    /// in this process ([`Self::start_worker`]).
    pub async fn start(icon_delay: Duration, tune: impl FnOnce(&mut StackSettings)) -> Self {
        let icons = IconServer::start_with_delay(icon_delay).await;
        let mut settings = crate::isolated_settings(Some(icons.addr)).await;
        tune(&mut settings);
        let mut stack = Self::spawn_api_only(settings).await;
        stack.icons = Some(icons);
        stack
    }

    /// Starts only the api in this process: uploaded files stay PENDING until a worker
    /// starts.
    pub async fn spawn_api_only(settings: StackSettings) -> Self {
        let shutdown = CancellationToken::new();
        let app = api::Application::build(settings.api_config())
            .await
            .expect("api builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(shutdown.clone()));
        let db = common::db::connect(&settings.database)
            .await
            .expect("database");
        let (client, key) = store::clients::create(&db, "test-client", false)
            .await
            .expect("client");
        let aws = AwsClients::from_settings(&settings.aws.connection).await;
        Self {
            api: ApiClient::new(address, key.expose().to_owned()),
            client_id: client.id,
            settings,
            aws,
            db,
            icons: None,
            api_runner: ApiRunner::InProcess,
            worker_binary: None,
            logs: Some(log_directory()),
            shutdown,
        }
    }

    /// Starts another api in this process on the stack's database and AWS resources, as a
    /// second instance behind one load balancer would be, stopped with the stack; the returned
    /// client talks to it as the stack's first client.
    pub async fn start_another_api(&self) -> ApiClient {
        let app = api::Application::build(self.settings.api_config())
            .await
            .expect("the second api builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(self.shutdown.clone()));
        ApiClient::new(address, self.api.api_key.clone())
    }

    /// Starts a worker in this process, stopped with the stack; the address of its
    /// `/metrics` listener, when it serves one.
    pub async fn start_worker(&self) -> Option<std::net::SocketAddr> {
        let worker = worker::Worker::build(self.settings.worker_config())
            .await
            .expect("worker builds");
        let metrics = worker.metrics_addr();
        tokio::spawn(worker.run_until(self.shutdown.clone()));
        metrics
    }
}

impl TestStack {
    /// Starts the api binary at `api_binary` as a child process on a free port, with the
    /// settings `tune` adjusts; workers are the binary at `worker_binary`, started by
    /// [`Self::spawn_worker`], their logs discarded. For benchmarks, which measure the
    /// processes.
    pub async fn start_processes(
        mut settings: StackSettings,
        api_binary: PathBuf,
        worker_binary: PathBuf,
    ) -> anyhow::Result<Self> {
        settings.api.port = free_port()?;
        let child = child_process::command(&api_binary, crate::settings::api_env(&settings))
            .stderr(Stdio::null())
            .spawn()
            .context("failed to start the api")?;
        let address = format!("http://127.0.0.1:{}", settings.api.port);
        wait_until_healthy(&address).await?;
        let db = common::db::connect(&settings.database).await?;
        let aws = AwsClients::from_settings(&settings.aws.connection).await;
        let mut stack = Self {
            api: ApiClient::new(address, String::new()),
            client_id: uuid::Uuid::nil(),
            settings,
            aws,
            db,
            icons: None,
            api_runner: ApiRunner::Process {
                child: Box::new(child),
            },
            worker_binary: Some(worker_binary),
            logs: None,
            shutdown: CancellationToken::new(),
        };
        let (client_id, key) = stack.new_client("bench").await?;
        stack.client_id = client_id;
        stack.api.api_key = key;
        Ok(stack)
    }

    /// The same stack, starting worker processes from `path`.
    #[must_use]
    pub fn with_worker_binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.worker_binary = Some(path.into());
        self
    }

    /// The icon server behind every domain.
    ///
    /// # Panics
    /// When the stack was started without one.
    pub fn icons(&self) -> &IconServer {
        self.icons
            .as_ref()
            .expect("this stack was started without an icon server")
    }

    /// Creates a client named `name` through the data layer and returns its id and API key.
    pub async fn new_client(&self, name: &str) -> anyhow::Result<(uuid::Uuid, String)> {
        let (client, key) = store::clients::create(&self.db, name, false).await?;
        Ok((client.id, key.expose().to_owned()))
    }

    /// Creates another client and returns its API key.
    pub async fn new_client_key(&self, name: &str) -> String {
        self.new_client(name).await.expect("client").1
    }

    /// Uploads `bytes` as `name` and returns the file id, asserting 202.
    pub async fn upload_accepted(&self, name: &str, media_type: &str, bytes: Vec<u8>) -> String {
        let response = self.api.upload(name, media_type, bytes).await;
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, 202, "{name}: {body}");
        body["id"].as_str().expect("the file's id").to_owned()
    }

    /// The bucket and key of a file's uploaded object.
    pub async fn object_of(&self, file_id: &str) -> (String, String) {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT s3_bucket, s3_key FROM files WHERE id = '{file_id}'"),
            ))
            .await
            .expect("the file's object")
            .expect("the file");
        let bucket: String = row.try_get_by_index(0).expect("bucket");
        let key: String = row.try_get_by_index(1).expect("key");
        (bucket, key)
    }

    /// Replaces the uploaded object of a file that no worker has read yet, for content the
    /// api does not accept (yet) but the worker must read.
    pub async fn replace_object(&self, file_id: &str, bytes: Vec<u8>) {
        let (bucket, key) = self.object_of(file_id).await;
        self.aws
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .expect("replace the object");
    }

    /// Runs `sql` on the stack's database.
    pub async fn sql(&self, sql: &str) {
        self.db
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Starts a worker process named `name`; its log goes to a file (and to the test's
    /// output too when `TEST_LOG` is set), or nowhere for benchmarks.
    ///
    /// # Panics
    /// When the worker cannot start ([`Self::try_spawn_worker`]).
    pub fn spawn_worker(&self, name: &str) -> WorkerProcess {
        self.try_spawn_worker(name)
            .expect("start the worker binary")
    }

    /// [`Self::spawn_worker`], failing when the stack has no worker binary
    /// ([`Self::with_worker_binary`]) or the process cannot start.
    pub fn try_spawn_worker(&self, name: &str) -> anyhow::Result<WorkerProcess> {
        let binary = self
            .worker_binary
            .as_ref()
            .context("this stack has no worker binary (with_worker_binary)")?;
        let log = self
            .logs
            .as_ref()
            .map(|logs| logs.join(format!("{name}.log")));
        let stderr = match &log {
            Some(log) => Stdio::from(std::fs::File::create(log).context("worker log")?),
            None => Stdio::null(),
        };
        let child = child_process::command(binary, crate::settings::worker_env(&self.settings))
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("failed to start {}", binary.display()))?;
        Ok(WorkerProcess { child, log })
    }

    /// Process id of the api, when it runs as a child process.
    pub fn api_pid(&self) -> Option<u32> {
        match &self.api_runner {
            ApiRunner::InProcess => None,
            ApiRunner::Process { child, .. } => child.id(),
        }
    }
}

/// A worker binary running as a child process; killed when dropped.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    log: Option<PathBuf>,
}

impl WorkerProcess {
    /// SIGKILL: the process gets no chance to clean up.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the worker");
    }

    /// SIGTERM, then waits up to `deadline` for the process to exit.
    pub async fn terminate(&mut self, deadline: Duration) -> ExitStatus {
        let pid = self.child.id().expect("the worker is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the worker did not exit within {deadline:?} of SIGTERM"))
            .expect("wait for the worker")
    }

    /// What the worker logged so far.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| std::fs::read_to_string(log).ok())
            .unwrap_or_default()
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A fresh directory for one stack's worker logs.
#[cfg(feature = "in-process")]
fn log_directory() -> PathBuf {
    let logs = std::env::temp_dir().join(format!("fp-worker-{}", crate::unique_suffix()));
    std::fs::create_dir_all(&logs).expect("log directory");
    logs
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_until_healthy(address: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if reqwest::get(format!("{address}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the api at {address} did not become healthy")
}
