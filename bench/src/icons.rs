//! Benchmark 5: the icons (issue 15). `GET /icons/{domain}?size=64` for icons already stored
//! (hot: no lookup, one S3 read and a resize per request), by concurrent clients; and the ZIP
//! of a file of many icons, its time and the api's peak resident memory (`VmHWM`) before and
//! after, which must not grow with the number of icons.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::ConnectionTrait;

use crate::{farm::FarmProcess, measure, report, stack::Stack};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Icons in the ZIP's file.
    #[arg(long, default_value_t = 100_000)]
    zip_icons: u32,
    /// Concurrent clients of `GET /icons/{domain}`.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long `GET /icons/{domain}` is measured.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
}

/// Farm sites whose icons are stored first (each a different icon).
const SITES: &[&str] = &[
    "relative-1.test",
    "sizes-1.test",
    "svg-1.test",
    "manifest-only-1.test",
    "ico-only-1.test",
    "apple-only-1.test",
];

pub async fn run(args: Args) -> anyhow::Result<()> {
    let farm = FarmProcess::start(test_support::farm::Latency::None).await?;
    let mut stack = Stack::start(&farm, |_| {}).await?;
    stack.spawn_worker()?;
    let small = stack.api.upload_domains(SITES).await;
    let file = stack
        .api
        .wait_until_terminal_within(&small, Duration::from_secs(120))
        .await;
    anyhow::ensure!(file["status"] == "COMPLETED", "{file}");

    // Hot icons: every request is answered from the store.
    let client = reqwest::Client::new();
    for site in SITES {
        let response = client
            .get(format!("{}/icons/{site}?size=64", stack.api.address))
            .bearer_auth(&stack.api.api_key)
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "{site}: {}", response.status());
    }
    let served = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..args.concurrency {
        let (client, served) = (client.clone(), served.clone());
        let (address, key) = (stack.api.address.clone(), stack.api.api_key.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = n;
            while Instant::now() < deadline {
                let site = SITES[i % SITES.len()];
                i += 1;
                let sent = Instant::now();
                let response = client
                    .get(format!("{address}/icons/{site}?size=64"))
                    .bearer_auth(&key)
                    .send()
                    .await?;
                anyhow::ensure!(response.status() == 200, "{site}: {}", response.status());
                response.bytes().await?;
                latencies.push(sent.elapsed());
                served.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let served = served.load(Ordering::Relaxed);
    report(
        "GET /icons/{domain}?size=64, hot, clients",
        args.concurrency,
    );
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let rate = served as f64 / elapsed;
    report("  requests per second", format!("{rate:.0}"));
    report("  p50", measure::ms(measure::quantile(&mut latencies, 0.5)));
    report(
        "  p99",
        measure::ms(measure::quantile(&mut latencies, 0.99)),
    );

    // The ZIP of a file of many icons, sharing the stored ones.
    let big = uuid::Uuid::now_v7();
    let seeded = Instant::now();
    seed(&stack, &small, big, args.zip_icons).await?;
    report("icons in the ZIP's file", args.zip_icons);
    report(
        "  seeded by SQL in",
        format!("{:.1} s", seeded.elapsed().as_secs_f64()),
    );
    let before = measure::peak_rss_mib(&stack.api_pid());
    let started = Instant::now();
    let mut response = stack
        .api
        .get(&stack.api.api_key, &format!("/files/{big}/icons.zip"))
        .await;
    anyhow::ensure!(
        response.status() == 200,
        "ZIP answered {}",
        response.status()
    );
    let mut bytes = 0_u64;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
    }
    #[expect(clippy::cast_precision_loss, reason = "megabytes")]
    let megabytes = bytes as f64 / 1e6;
    report(
        "  GET /files/{id}/icons.zip",
        format!(
            "{:.1} s, {megabytes:.1} MB",
            started.elapsed().as_secs_f64()
        ),
    );
    report(
        "  api peak RSS before / after the ZIP",
        format!(
            "{before:.0} / {:.0} MiB",
            measure::peak_rss_mib(&stack.api_pid())
        ),
    );
    Ok(())
}

/// A COMPLETED file of `count` results whose icons are those `small`'s results stored.
async fn seed(stack: &Stack, small: &str, big: uuid::Uuid, count: u32) -> anyhow::Result<()> {
    let sql = format!(
        r#"
        INSERT INTO files (id, client_id, original_name, s3_bucket, s3_key, file_type, size_bytes,
                           status, total_count, succeeded_count, failed_count, processed_at)
        SELECT '{big}', client_id, 'zip.csv', s3_bucket, s3_key, file_type, size_bytes, status,
               {count}, {count}, 0, now() FROM files WHERE id = '{small}';
        WITH icons AS (SELECT row_number() OVER (ORDER BY position) - 1 AS k, * FROM results
                       WHERE file_id = '{small}' AND icon_hash IS NOT NULL),
             n AS (SELECT count(*) AS n FROM icons)
        INSERT INTO results (id, file_id, position, domain, favicon_url, status, tries,
                             icon_format, icon_width, icon_height, icon_bytes, icon_source,
                             from_cache, resolution_id, icon_hash)
        SELECT gen_random_uuid(), '{big}', g, 'site-' || g || '.example.com', icons.favicon_url,
               icons.status, 0, icons.icon_format, icons.icon_width, icons.icon_height,
               icons.icon_bytes, icons.icon_source, true, icons.resolution_id, icons.icon_hash
        FROM generate_series(0, {last}) AS g, n, icons WHERE icons.k = g % n.n;
        ANALYZE results;
        "#,
        last = count.saturating_sub(1),
    );
    stack.db.execute_unprepared(&sql).await?;
    Ok(())
}
