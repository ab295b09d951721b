//! `Stack`: the api in-process with its own database and LocalStack resources, and worker
//! binaries started as child processes, so tests can SIGKILL and SIGTERM them.

use std::{collections::HashMap, path::PathBuf, process::ExitStatus, time::Duration};

use aws_sdk_sqs::types::QueueAttributeName;
use common::Settings;
use sea_orm::ConnectionTrait;
use test_support::{ApiClient, IconServer};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

/// A running api, an icon server, and the settings workers are started with.
pub struct Stack {
    pub api: ApiClient,
    pub settings: Settings,
    pub icons: IconServer,
    pub db: sea_orm::DatabaseConnection,
    logs: PathBuf,
    shutdown: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Stack {
    /// Starts the api; icons answer after `icon_delay`; `tune` adjusts the settings.
    pub async fn start(icon_delay: Duration, tune: impl FnOnce(&mut Settings)) -> Self {
        let icons = IconServer::start_with_delay(icon_delay).await;
        let mut settings = test_support::isolated_settings(Some(icons.addr)).await;
        tune(&mut settings);
        let shutdown = CancellationToken::new();
        let app = api::Application::build(settings.clone())
            .await
            .expect("api builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until(shutdown.clone()));
        let db = common::db::connect(&settings.database)
            .await
            .expect("database");
        let (_, key) = store::clients::create(&db, "worker-tests", false)
            .await
            .expect("client");
        let logs =
            std::env::temp_dir().join(format!("fp-worker-{}", test_support::unique_suffix()));
        std::fs::create_dir_all(&logs).expect("log directory");
        Self {
            api: ApiClient::new(address, key.expose().to_owned()),
            settings,
            icons,
            db,
            logs,
            shutdown,
        }
    }

    /// Creates another client and returns its API key.
    pub async fn new_client_key(&self, name: &str) -> String {
        let (_, key) = store::clients::create(&self.db, name, false)
            .await
            .expect("client");
        key.expose().to_owned()
    }

    /// Uploads `bytes` as `name` and returns the file id, asserting 202.
    pub async fn upload(&self, name: &str, media_type: &str, bytes: Vec<u8>) -> String {
        let response = self.api.upload(name, media_type, bytes).await;
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, 202, "{name}: {body}");
        body["id"].as_str().expect("the file's id").to_owned()
    }

    /// Replaces the uploaded object of a file that no worker has read yet, for content the
    /// api does not accept (yet) but the worker must read.
    pub async fn replace_object(&self, file_id: &str, bytes: Vec<u8>) {
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
        common::aws::AwsClients::from_settings(&self.settings.aws)
            .await
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .expect("replace the object");
    }

    /// Runs `sql` on the test's database.
    pub async fn sql(&self, sql: &str) {
        self.db
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Starts a worker process named `name`; its log goes to a file (and to the test's
    /// output too when `TEST_LOG` is set).
    pub fn spawn_worker(&self, name: &str) -> WorkerProcess {
        let log = self.logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("worker log");
        let child = test_support::process::command(env!("CARGO_BIN_EXE_worker"), &self.settings)
            .stderr(file)
            .spawn()
            .expect("start the worker binary");
        WorkerProcess { child, log }
    }
}

/// A worker binary running as a child process; killed when dropped.
pub struct WorkerProcess {
    child: Child,
    log: PathBuf,
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
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `count` distinct domains named after `tag`.
pub fn domains(tag: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{tag}-{i}.example.com"))
        .collect()
}

/// Hosts fetched more often than the least-fetched of `hosts`: a host's resolution makes the
/// same requests each time, so these are domains resolved more than once.
pub fn refetched(requests: &HashMap<String, u32>, hosts: &[String]) -> Vec<String> {
    let counts: Vec<u32> = hosts
        .iter()
        .map(|host| requests.get(host).copied().unwrap_or(0))
        .collect();
    let least = counts.iter().copied().min().unwrap_or(0);
    hosts
        .iter()
        .zip(counts)
        .filter(|(_, count)| *count > least)
        .map(|(host, _)| host.clone())
        .collect()
}

/// Asserts that a COMPLETED file has exactly one result per domain of `domains`.
pub async fn assert_exact_results(api: &ApiClient, file_id: &str, domains: &[String]) {
    let file = api.file(file_id).await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    let total = domains.len();
    assert_eq!(file["progress"]["total"], total, "{file}");
    assert_eq!(file["progress"]["succeeded"], total, "{file}");
    assert_eq!(file["progress"]["failed"], 0, "{file}");
    let results = api.all_results(file_id).await;
    assert_eq!(results.len(), total, "one result per domain");
    let mut seen: Vec<&str> = results
        .iter()
        .map(|r| r["domain"].as_str().expect("domain"))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "no domain twice");
    let mut expected: Vec<&str> = domains.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
}

/// Visible plus in-flight messages of a queue.
pub async fn messages_in(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
    .sum()
}

/// Asserts that no file is left PENDING or PROCESSING and no chunk undone.
pub async fn assert_nothing_stuck(db: &sea_orm::DatabaseConnection) {
    let count = |sql: &'static str| async move {
        db.query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("count query")
        .expect("a count")
        .try_get_by_index::<i64>(0)
        .expect("a number")
    };
    let unfinished = count("SELECT count(*) FROM files WHERE status IN ('PENDING', 'PROCESSING')");
    let undone = count("SELECT count(*) FROM file_chunks WHERE NOT done");
    assert_eq!(unfinished.await, 0, "files left PENDING or PROCESSING");
    assert_eq!(undone.await, 0, "chunks left undone");
}

/// Waits until a queue holds no message, visible or in flight, or panics after two minutes.
pub async fn wait_until_drained(sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = messages_in(sqs, queue_url).await;
        if left == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} messages still in {queue_url}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sets how many receives the stack's queue allows before it moves a message to the DLQ
/// (3 in `infra/messaging.yaml`, and by default in the tests).
pub async fn set_max_receive_count(settings: &Settings, count: u32) {
    let sqs = common::aws::AwsClients::from_settings(&settings.aws)
        .await
        .sqs;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&settings.aws.dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("DLQ attributes")
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .expect("DLQ arn");
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": count }).to_string();
    sqs.set_queue_attributes()
        .queue_url(&settings.aws.queue_url)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("set the redrive policy");
}
