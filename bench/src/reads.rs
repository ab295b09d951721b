//! Benchmark 3: reading a file of 500,000 results: a page near the start against one near the
//! end, by position and filtered by status, and the whole CSV download.

use std::time::Instant;

use sea_orm::ConnectionTrait;

use crate::{farm::FarmProcess, measure, report, stack::Stack};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Results in the file.
    #[arg(long, default_value_t = 500_000)]
    results: u32,
    /// Results per page.
    #[arg(long, default_value_t = 100)]
    per_page: u32,
    /// Requests per measured page (the median is reported).
    #[arg(long, default_value_t = 15)]
    samples: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let farm = FarmProcess::start(test_support::farm::Latency::None).await?;
    let stack = Stack::start(&farm, |_| {}).await?;
    let file_id = uuid::Uuid::now_v7();
    let seeded = Instant::now();
    seed(&stack, file_id, args.results).await?;
    report("results in the file", args.results);
    report(
        "seeded by SQL in",
        format!("{:.1} s", seeded.elapsed().as_secs_f64()),
    );

    let last_page = args.results.div_ceil(args.per_page);
    let failed = args.results.div_ceil(10);
    let failed_pages = failed.div_ceil(args.per_page);
    // Failed results are at positions 0, 10, 20, ...: the last page by cursor starts after
    // the failed result `per_page + 1` from the end.
    let last_cursor = 10 * failed.saturating_sub(args.per_page + 1);
    let pages = [
        ("page 1", format!("page=1&per_page={}", args.per_page)),
        (
            "last page",
            format!("page={last_page}&per_page={}", args.per_page),
        ),
        (
            "status=failed, page 1",
            format!("status=failed&page=1&per_page={}", args.per_page),
        ),
        (
            "status=failed, last page",
            format!(
                "status=failed&page={failed_pages}&per_page={}",
                args.per_page
            ),
        ),
        // `after` is exclusive (`after=0` would skip position 0): a client paging by cursor
        // asks its first page without it, then follows `next`.
        (
            "status=failed, cursor: first page (no after)",
            format!("status=failed&per_page={}", args.per_page),
        ),
        (
            "status=failed, cursor at the end",
            format!(
                "status=failed&after={last_cursor}&per_page={}",
                args.per_page
            ),
        ),
    ];
    let mut medians = Vec::new();
    for (name, query) in &pages {
        let path = format!("/files/{file_id}/results?{query}");
        let mut samples = Vec::with_capacity(args.samples);
        for _ in 0..args.samples {
            let started = Instant::now();
            let (status, body) = stack.api.get_json(&path).await;
            samples.push(started.elapsed());
            anyhow::ensure!(status == 200, "{path} answered {status}: {body}");
            anyhow::ensure!(
                !body["items"].as_array().is_none_or(Vec::is_empty),
                "{path} is empty"
            );
        }
        let median = measure::quantile(&mut samples, 0.5);
        report(
            &format!("GET results, {name} (median)"),
            measure::ms(median),
        );
        medians.push(median);
    }
    report(
        "last page / page 1",
        format!("{:.2}", medians[1].as_secs_f64() / medians[0].as_secs_f64()),
    );
    report(
        "status=failed: last page / page 1",
        format!("{:.2}", medians[3].as_secs_f64() / medians[2].as_secs_f64()),
    );
    report(
        "status=failed by cursor: last / first",
        format!("{:.2}", medians[5].as_secs_f64() / medians[4].as_secs_f64()),
    );

    let before = measure::peak_rss_mib(&stack.api_pid());
    let started = Instant::now();
    let mut response = stack
        .api
        .get(&stack.api.api_key, &format!("/files/{file_id}/download"))
        .await;
    anyhow::ensure!(
        response.status() == 200,
        "download answered {}",
        response.status()
    );
    let mut bytes = 0_usize;
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len();
    }
    report(
        "CSV download",
        format!(
            "{:.1} s, {:.1} MB",
            started.elapsed().as_secs_f64(),
            f64::from(u32::try_from(bytes).unwrap_or(u32::MAX)) / 1e6
        ),
    );
    report(
        "api peak RSS before / after the download",
        format!(
            "{before:.0} / {:.0} MiB",
            measure::peak_rss_mib(&stack.api_pid())
        ),
    );
    Ok(())
}

/// A COMPLETED file of `count` results, one in ten failed, written by SQL.
async fn seed(stack: &Stack, file_id: uuid::Uuid, count: u32) -> anyhow::Result<()> {
    let failed = count.div_ceil(10);
    let sql = format!(
        r#"
        INSERT INTO files (id, client_id, original_name, s3_bucket, s3_key, file_type, size_bytes,
                           status, total_count, succeeded_count, failed_count, processed_at)
        VALUES ('{file_id}', '{client}', 'reads.csv', 'unused', 'unused', 'csv', 0,
                'COMPLETED', {count}, {succeeded}, {failed}, now());
        INSERT INTO results (id, file_id, position, domain, favicon_url, status, error,
                             error_category, tries, icon_format, icon_width, icon_height,
                             icon_bytes, icon_source)
        SELECT gen_random_uuid(), '{file_id}', g, 'site-' || g || '.example.com',
               CASE WHEN g % 10 <> 0 THEN 'https://site-' || g || '.example.com/icon.png' END,
               CASE WHEN g % 10 <> 0 THEN 'success' ELSE 'failed' END,
               CASE WHEN g % 10 = 0 THEN 'no_icon: no candidate was an image' END,
               CASE WHEN g % 10 = 0 THEN 'no_icon' END,
               1,
               CASE WHEN g % 10 <> 0 THEN 'png' END,
               CASE WHEN g % 10 <> 0 THEN 32 END,
               CASE WHEN g % 10 <> 0 THEN 32 END,
               CASE WHEN g % 10 <> 0 THEN 1234 END,
               CASE WHEN g % 10 <> 0 THEN 'link' END
        FROM generate_series(0, {last}) AS g;
        ANALYZE results;
        "#,
        client = stack.client_id,
        succeeded = count - failed,
        last = count.saturating_sub(1),
    );
    stack.db.execute_unprepared(&sql).await?;
    Ok(())
}
