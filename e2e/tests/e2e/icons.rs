//! The icons themselves (issue 15): stored once in S3 by content, served at any size from our
//! own endpoint, resolved on demand, with a letter fallback, and a ZIP of a file's icons. The
//! resolver is pointed at the web farm (`test_support::farm`), whose images are real and
//! identical for identical requests: `absolute-N.test` sites all link one 48x48 PNG on
//! `static.test`.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use test_support::{TestStack, farm::Farm, isolated_settings};

/// A stack (api and worker in this process) whose resolver reaches the farm, and the farm.
async fn farm_stack() -> (TestStack, Farm) {
    let farm = Farm::start().await;
    let mut settings = isolated_settings(Some(farm.addr)).await;
    settings.resolver.ca_cert = Some(farm.ca_cert_path().to_owned());
    settings.worker.domain_concurrency = 16;
    let stack = TestStack::spawn_with(settings).await;
    (stack, farm)
}

/// One number the stack's database answers.
async fn count(stack: &TestStack, sql: &str) -> i64 {
    stack
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            stack.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .expect(sql)
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a number")
}

/// The keys of the icon objects in the stack's bucket.
async fn icon_objects(stack: &TestStack) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = stack
        .aws
        .s3
        .list_objects_v2()
        .bucket(&stack.settings.aws.bucket)
        .prefix("icons/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list the bucket");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

/// Uploads `domains`, waits until the file is COMPLETED, returns its id.
async fn resolved_file(stack: &TestStack, domains: &[String]) -> String {
    let id = stack.api.upload_domains(domains).await;
    let file = stack
        .api
        .wait_until_terminal_within(&id, Duration::from_secs(180))
        .await;
    assert_eq!(file["status"], "COMPLETED", "{file}");
    id
}

fn hosts(scenario: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| test_support::farm::scenarios::host_name(scenario, n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_icon_shared_by_a_hundred_domains_is_stored_once() {
    let (stack, _farm) = farm_stack().await;
    let domains = hosts("absolute", 100);
    let id = resolved_file(&stack, &domains).await;

    let results = stack.api.all_results(&id).await;
    assert_eq!(results.len(), 100);
    for result in &results {
        assert_eq!(result["status"], "success", "{result}");
        let domain = result["domain"].as_str().unwrap();
        assert_eq!(result["icon_url"], format!("/icons/{domain}"), "{result}");
        assert!(
            result["favicon_url"]
                .as_str()
                .unwrap()
                .starts_with("https://static.test/abs/"),
            "{result}"
        );
    }
    let objects = icon_objects(&stack).await;
    assert_eq!(
        objects.len(),
        1,
        "one object for the shared icon: {objects:?}"
    );
    assert!(objects[0].starts_with("icons/sha256/"), "{objects:?}");
    assert_eq!(count(&stack, "SELECT count(*) FROM icons").await, 1);
    assert_eq!(
        count(
            &stack,
            "SELECT count(DISTINCT icon_hash) FROM results WHERE icon_hash IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
        100,
        "one resolution per domain"
    );
    let hash = objects[0].trim_start_matches("icons/sha256/");
    let object = stack
        .aws
        .s3
        .get_object()
        .bucket(&stack.settings.aws.bucket)
        .key(&objects[0])
        .send()
        .await
        .expect("the icon object");
    assert_eq!(object.content_type(), Some("image/png"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        store::icons::content_hash(&bytes),
        hash,
        "addressed by content"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_domain_creates_no_new_object_and_no_new_resolution() {
    let (stack, farm) = farm_stack().await;
    let domains = vec!["relative-1.test".to_owned(), "sizes-1.test".to_owned()];
    resolved_file(&stack, &domains).await;
    let (objects, resolutions) = (
        icon_objects(&stack).await,
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
    );
    let requests = farm.total_requests();

    let other = stack.api.as_client(&stack.new_client_key("other").await);
    let id = other.upload_domains(&domains).await;
    assert_eq!(other.wait_until_terminal(&id).await["status"], "COMPLETED");
    let results = other.all_results(&id).await;
    for result in &results {
        assert_eq!(result["from_cache"], true, "{result}");
        assert!(result["icon_url"].is_string(), "{result}");
    }
    assert_eq!(farm.total_requests(), requests, "nothing fetched");
    assert_eq!(icon_objects(&stack).await, objects, "no new object");
    assert_eq!(
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
        resolutions,
        "no new resolution"
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(DISTINCT resolution_id) FROM results WHERE icon_hash IS NOT NULL"
        )
        .await,
        2,
        "the copies point at the first resolutions"
    );
}

/// `GET /icons/{path}` with the stack's key and extra headers.
async fn get_icon(stack: &TestStack, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{}/icons/{path}", stack.api.address))
        .bearer_auth(&stack.api.api_key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET /icons")
}

/// The width and height a PNG's header declares.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[1..4], b"PNG", "not a PNG");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

/// Asserts a 200 of `media_type` and returns its headers and body.
async fn icon(
    stack: &TestStack,
    path: &str,
    media_type: &str,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let response = get_icon(stack, path, &[]).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], media_type, "{path}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    (headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_picks_the_closest_stored_icon_and_scales_it() {
    let (stack, _farm) = farm_stack().await;
    let sites = [
        "sizes-1.test",
        "icon-sizes-1.test",
        "svg-1.test",
        "manifest-only-1.test",
    ];
    let domains: Vec<String> = sites.iter().map(|s| (*s).to_owned()).collect();
    resolved_file(&stack, &domains).await;

    // Rasters: scaled down to exactly the size asked.
    for (site, size) in [
        ("sizes-1.test", 16),
        ("sizes-1.test", 32),
        ("sizes-1.test", 64),
        ("sizes-1.test", 180),
        ("manifest-only-1.test", 180),
        ("manifest-only-1.test", 512),
        ("icon-sizes-1.test", 16),
        ("icon-sizes-1.test", 32),
        ("icon-sizes-1.test", 64),
    ] {
        let (_, body) = icon(
            &stack,
            &format!("{site}?size={size}&format=png"),
            "image/png",
        )
        .await;
        assert_eq!(png_size(&body), (size, size), "{site} at {size}");
    }
    // Never scaled up: a 64-pixel ICO asked at 512 is served at its own size.
    let (_, body) = icon(&stack, "icon-sizes-1.test?size=512&format=png", "image/png").await;
    assert_eq!(png_size(&body), (64, 64));
    // An ICO asked as ICO: the stored file, every entry.
    let (_, body) = icon(&stack, "icon-sizes-1.test?format=ico", "image/x-icon").await;
    assert_eq!(u16::from_le_bytes([body[4], body[5]]), 4, "4 entries");

    // SVG: as stored when asked, with a policy that keeps scripts out.
    let (headers, body) = icon(&stack, "svg-1.test?format=svg", "image/svg+xml").await;
    assert!(String::from_utf8_lossy(&body).contains("<svg"));
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    );
    assert!(headers.get("content-disposition").is_none());
    // `any` serves it too, but as an attachment; `png` rasterises it to the size.
    let (headers, _) = icon(&stack, "svg-1.test?format=any&size=64", "image/svg+xml").await;
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"svg-1.test.svg\""
    );
    let (_, body) = icon(&stack, "svg-1.test?format=png&size=180", "image/png").await;
    assert_eq!(png_size(&body), (180, 180));
    // A site without an SVG asked for one: the letter icon (as SVG), or 404.
    let (headers, _) = icon(&stack, "icon-sizes-1.test?format=svg", "image/svg+xml").await;
    assert_eq!(headers["x-icon-fallback"], "letter");
    let response = get_icon(&stack, "icon-sizes-1.test?format=svg&fallback=404", &[]).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_icon_has_a_strong_etag_and_answers_304_when_it_matches() {
    let (stack, _farm) = farm_stack().await;
    resolved_file(&stack, &["relative-1.test".to_owned()]).await;

    // Served as stored (a 32x32 PNG asked at 32): the ETag is the stored hash.
    let (headers, body) = icon(&stack, "relative-1.test?size=32&format=png", "image/png").await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", store::icons::content_hash(&body)));
    assert!(!etag.starts_with("W/"), "a strong validator");
    assert_eq!(headers["cache-control"], "private, max-age=86400");
    let again = get_icon(
        &stack,
        "relative-1.test?size=32&format=png",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    // Another size is another representation with its own tag.
    let (headers, body) = icon(&stack, "relative-1.test?size=16&format=png", "image/png").await;
    assert_ne!(headers["etag"], etag.as_str());
    assert_eq!(png_size(&body), (16, 16));
    let stale = get_icon(
        &stack,
        "relative-1.test?size=16&format=png",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(stale.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dark_variant_is_stored_and_served_for_theme_dark() {
    let (stack, _farm) = farm_stack().await;
    resolved_file(&stack, &["dark-larger-1.test".to_owned()]).await;
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM resolution_images WHERE theme = 'dark'"
        )
        .await,
        1,
        "the dark variant is kept"
    );
    let (light_headers, light) =
        icon(&stack, "dark-larger-1.test?size=64&format=png", "image/png").await;
    let (dark_headers, dark) = icon(
        &stack,
        "dark-larger-1.test?size=64&format=png&theme=dark",
        "image/png",
    )
    .await;
    assert_eq!(png_size(&light), (32, 32), "the light icon is 32 pixels");
    assert_eq!(png_size(&dark), (64, 64), "the dark one 64");
    assert_ne!(light_headers["etag"], dark_headers["etag"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_seen_domain_is_resolved_on_demand_once() {
    let (stack, farm) = farm_stack().await;
    let (_, body) = icon(&stack, "relative-9.test?size=32&format=png", "image/png").await;
    assert_eq!(png_size(&body), (32, 32));
    assert_eq!(
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
        1
    );
    assert_eq!(count(&stack, "SELECT count(*) FROM icons").await, 1);
    let requests = farm.total_requests();
    icon(&stack, "relative-9.test?size=16&format=png", "image/png").await;
    assert_eq!(farm.total_requests(), requests, "answered from the store");
    assert_eq!(
        count(&stack, "SELECT count(*) FROM icon_resolutions").await,
        1
    );
    // An IDN is accepted as typed, and stored under its punycode name.
    let (_, body) = icon(&stack, "b%C3%BCcher.test?size=32&format=png", "image/png").await;
    assert_eq!(png_size(&body), (32, 32));
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) FROM icon_resolutions WHERE domain = 'xn--bcher-kva.test'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_without_an_icon_gets_a_letter_icon_or_404() {
    let (stack, farm) = farm_stack().await;
    let (headers, body) = icon(&stack, "no-icon-1.test?size=48&format=png", "image/png").await;
    assert_eq!(headers["x-icon-fallback"], "letter");
    assert_eq!(png_size(&body), (48, 48));
    let (headers, body) = icon(&stack, "no-icon-1.test?format=svg", "image/svg+xml").await;
    assert_eq!(headers["x-icon-fallback"], "letter");
    assert!(
        String::from_utf8_lossy(&body).contains(">N<"),
        "the letter N"
    );
    let requests = farm.total_requests();
    let response = get_icon(&stack, "no-icon-1.test?fallback=404", &[]).await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    assert_eq!(
        farm.total_requests(),
        requests,
        "the site's answer was kept"
    );

    // Bad input is refused with a reason.
    for (path, code) in [
        ("not_a_domain!?size=16", "invalid_domain"),
        ("relative-1.test?size=0", "invalid_query"),
        ("relative-1.test?size=2000", "invalid_query"),
        ("relative-1.test?size=big", "invalid_query"),
        ("relative-1.test?format=jpeg", "invalid_query"),
        ("relative-1.test?theme=blue", "invalid_query"),
        ("relative-1.test?fallback=none", "invalid_query"),
    ] {
        let response = get_icon(&stack, path, &[]).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
    let anonymous = reqwest::get(format!("{}/icons/relative-1.test", stack.api.address))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// The entries of a ZIP: name and bytes, in order.
fn unzip(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (entry.name().unwrap().to_string(), data)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_file_has_no_icons_zip() {
    let (stack, _farm) = farm_stack().await;
    let id = resolved_file(&stack, &["relative-1.test".to_owned()]).await;
    let other = stack.new_client_key("other").await;
    let response = stack
        .api
        .get(&other, &format!("/files/{id}/icons.zip"))
        .await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let response = stack
        .api
        .get(
            &stack.api.api_key,
            &format!("/files/{}/icons.zip", uuid::Uuid::now_v7()),
        )
        .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zip_of_a_20000_domain_file_streams_every_icon_and_an_index() {
    let (stack, _farm) = farm_stack().await;
    // Real icons, fetched and stored by the worker...
    let sites: Vec<String> = [
        "relative-1.test",
        "sizes-1.test",
        "svg-1.test",
        "icon-sizes-1.test",
        "no-icon-1.test",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let small = resolved_file(&stack, &sites).await;
    // ...shared by a file of 20,000 domains, written as the worker would (resolving 20,000
    // farm sites would only make the test slow).
    let big = uuid::Uuid::now_v7();
    stack
        .sql(&format!(
            "INSERT INTO files (id, client_id, original_name, s3_bucket, s3_key, file_type, size_bytes, \
               status, total_count, succeeded_count, failed_count, chunk_count, created_at, updated_at, processed_at) \
             SELECT '{big}', client_id, 'big.csv', s3_bucket, s3_key, file_type, size_bytes, status, \
               20000, 20000, 0, 0, now(), now(), now() FROM files WHERE id = '{small}'"
        ))
        .await;
    stack
        .sql(&format!(
            "INSERT INTO results (id, file_id, position, domain, favicon_url, status, tries, icon_format, \
               icon_width, icon_height, icon_bytes, icon_source, from_cache, resolution_id, icon_hash, created_at, updated_at) \
             SELECT gen_random_uuid(), '{big}', n, 'site-' || n || '.test', src.favicon_url, src.status, 0, \
               src.icon_format, src.icon_width, src.icon_height, src.icon_bytes, src.icon_source, true, \
               src.resolution_id, src.icon_hash, now(), now() \
             FROM generate_series(0, 19999) AS n \
             JOIN (SELECT row_number() OVER (ORDER BY position) - 1 AS k, * FROM results \
                   WHERE file_id = '{small}' AND icon_hash IS NOT NULL) AS src ON src.k = n % 4"
        ))
        .await;

    let response = stack
        .api
        .get(&stack.api.api_key, &format!("/files/{big}/icons.zip"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed"
    );
    let entries = unzip(response.bytes().await.unwrap().to_vec());

    let results = stack.api.all_results(&big.to_string()).await;
    assert_eq!(results.len(), 20_000);
    assert_eq!(entries.len(), 20_001, "every icon and the index");
    let hashes: std::collections::HashMap<String, String> = {
        let rows = stack
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                stack.db.get_database_backend(),
                format!("SELECT domain, icon_hash FROM results WHERE file_id = '{big}'"),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                (
                    row.try_get_by_index(0).unwrap(),
                    row.try_get_by_index(1).unwrap(),
                )
            })
            .collect()
    };
    for (result, (name, data)) in results.iter().zip(&entries) {
        let domain = result["domain"].as_str().unwrap();
        let (stem, extension) = name.rsplit_once('.').unwrap();
        assert_eq!(stem, domain);
        assert_eq!(
            extension,
            result["icon"]["format"].as_str().unwrap(),
            "{result}"
        );
        assert_eq!(&store::icons::content_hash(data), &hashes[domain], "{name}");
    }
    let (name, index) = entries.last().unwrap();
    assert_eq!(name, "index.csv");
    let index = String::from_utf8(index.clone()).unwrap();
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(
        lines[0],
        "domain,file_name,media_type,width,height,favicon_url"
    );
    assert_eq!(lines.len(), 20_001);
    assert!(
        lines[1].starts_with(
            "site-0.test,site-0.test.png,image/png,32,32,https://relative-1.test/i/32x32.png"
        ),
        "{}",
        lines[1]
    );
}
