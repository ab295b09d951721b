//! The dashboard's sign-in: an API key exchanged for a session cookie, the cookie accepted
//! like a key, CSRF on state-changing requests, and sessions that end.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use test_support::TestStack;

/// What a browser keeps after signing in.
struct Browser {
    cookie: String,
    csrf_token: String,
}

/// Signs in with `key`, asserting 201, and returns the cookie (`name=value`) and CSRF token.
async fn sign_in(app: &TestStack, key: &str) -> (Browser, Response) {
    let response = app
        .http
        .post(format!("{}/session", app.address))
        .json(&json!({"api_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    // The answer's headers again, for the attribute checks.
    let again = app
        .http
        .post(format!("{}/session", app.address))
        .json(&json!({"api_key": key}))
        .send()
        .await
        .unwrap();
    (
        Browser {
            cookie,
            csrf_token: body["csrf_token"].as_str().unwrap().to_owned(),
        },
        again,
    )
}

/// A request with the browser's cookie and, when given, an `X-CSRF-Token`.
async fn with_cookie(
    app: &TestStack,
    browser: &Browser,
    method: Method,
    path: &str,
    csrf: Option<&str>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.address))
        .header("cookie", &browser.cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if path == "/jobs" {
        request = request.json(&json!({"domains": ["a.example.com"]}));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_signs_in_to_an_http_only_strict_secure_cookie_and_a_csrf_token() {
    let app = TestStack::spawn().await;
    let (browser, response) = sign_in(&app, &app.api_key).await;
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert!(
        set_cookie.starts_with("__Host-fp_session=fps_"),
        "{set_cookie}"
    );
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/",
        "Max-Age=43200",
    ] {
        assert!(
            set_cookie.split("; ").any(|part| part == attribute),
            "{attribute} missing from {set_cookie}"
        );
    }
    assert!(!set_cookie.contains("Domain="), "{set_cookie}");
    assert_eq!(body["client_name"], "test-client", "{body}");
    assert_eq!(body["csrf_token"].as_str().unwrap().len(), 64, "{body}");
    assert!(body["expires_at"].is_string(), "{body}");
    assert!(
        !body.to_string().contains(&app.api_key),
        "the key is not echoed"
    );
    // Each sign-in is its own session, with its own token.
    assert_ne!(browser.cookie, set_cookie.split(';').next().unwrap());

    let (status, session) = with_cookie(&app, &browser, Method::GET, "/session", None).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["csrf_token"], browser.csrf_token.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_reads_like_a_key_and_changes_only_with_the_csrf_token() {
    let app = TestStack::spawn().await;
    let id = app.upload_domains(&["a.example.com"]).await;
    let (browser, _) = sign_in(&app, &app.api_key).await;

    let (status, file) =
        with_cookie(&app, &browser, Method::GET, &format!("/files/{id}"), None).await;
    assert_eq!(
        (status, file["id"].as_str()),
        (200, Some(id.as_str())),
        "{file}"
    );
    let (status, list) = with_cookie(&app, &browser, Method::GET, "/files", None).await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(1)), "{list}");

    for csrf in [None, Some("wrong"), Some("")] {
        let (status, body) = with_cookie(&app, &browser, Method::POST, "/jobs", csrf).await;
        assert_eq!(status, 403, "{csrf:?}: {body}");
        assert_eq!(body["error"]["code"], "csrf_failed", "{body}");
    }
    let (status, body) = with_cookie(
        &app,
        &browser,
        Method::POST,
        "/jobs",
        Some(&browser.csrf_token),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    // Another session's token does not do.
    let (other, _) = sign_in(&app, &app.api_key).await;
    let (status, _) = with_cookie(
        &app,
        &browser,
        Method::POST,
        "/jobs",
        Some(&other.csrf_token),
    )
    .await;
    assert_eq!(status, 403);

    // A bearer key needs no CSRF token: a browser cannot be made to send it.
    let (status, body) = app.post_job(&json!({"domains": ["b.example.com"]})).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_ended_sessions_and_keys_in_urls_are_refused() {
    let app = TestStack::spawn().await;
    let response = app
        .http
        .post(format!("{}/session", app.address))
        .json(&json!({"api_key": "fpk_wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("set-cookie").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    // A key is never read from the query string.
    for path in [
        format!("/files?api_key={}", app.api_key),
        format!("/files?key={}", app.api_key),
        format!("/files?access_token={}", app.api_key),
        format!("/session?api_key={}", app.api_key),
    ] {
        let response = app.get("", &path).await;
        assert_eq!(response.status(), 401, "{path}");
    }

    // A forged or unknown cookie.
    for cookie in [
        "__Host-fp_session=fps_forged",
        &format!("__Host-fp_session=fps_{}", "0".repeat(64)),
    ] {
        let browser = Browser {
            cookie: cookie.to_owned(),
            csrf_token: String::new(),
        };
        let (status, _) = with_cookie(&app, &browser, Method::GET, "/files", None).await;
        assert_eq!(status, 401, "{cookie}");
    }

    // Signed out: the cookie stops working, on every instance (the session is gone from the
    // database), and the cookie is removed.
    let (browser, _) = sign_in(&app, &app.api_key).await;
    let (status, _) = with_cookie(&app, &browser, Method::DELETE, "/session", None).await;
    assert_eq!(status, 403, "signing out needs the CSRF token");
    let response = app
        .http
        .delete(format!("{}/session", app.address))
        .header("cookie", &browser.cookie)
        .header("x-csrf-token", &browser.csrf_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-fp_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let (status, _) = with_cookie(&app, &browser, Method::GET, "/files", None).await;
    assert_eq!(status, 401);

    // Expired.
    let (browser, _) = sign_in(&app, &app.api_key).await;
    app.sql("UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second'").await;
    let (status, body) = with_cookie(&app, &browser, Method::GET, "/files", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = with_cookie(&app, &browser, Method::GET, "/session", None).await;
    assert_eq!(status, 401);

    // A new key for the client ends its sessions.
    let (browser, _) = sign_in(&app, &app.api_key).await;
    store::clients::create(&app.db, "test-client", true)
        .await
        .unwrap();
    let (status, _) = with_cookie(&app, &browser, Method::GET, "/files", None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let app = TestStack::spawn().await;
    for (path, media_type) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let response = app.get("", path).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(media_type),
            "{path}"
        );
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let page = app.get("", "/").await.text().await.unwrap();
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline code"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
    assert_eq!(app.get("", "/assets/nothing.js").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_by_status_cover_every_status() {
    let app = TestStack::spawn().await;
    let id = app.upload_domains(&["a.example.com"]).await;
    app.wait_until_terminal(&id).await;
    let (status, counts) = app.get_json("/files/counts").await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["COMPLETED"], 1, "{counts}");
    assert_eq!(counts["PENDING"], 0, "{counts}");
    assert_eq!(counts["FAILED"], 0, "{counts}");
    let other = app.new_client_key("other").await;
    let (_, theirs) = app.get_json_as(&other, "/files/counts").await;
    assert_eq!(theirs["COMPLETED"], 0, "{theirs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_filter_by_error_category() {
    let app = TestStack::spawn().await;
    let id = app
        .upload_domains(&["a.example.com", "missing.example.com", "not a domain"])
        .await;
    app.wait_until_terminal(&id).await;
    let (status, page) = app
        .get_json(&format!(
            "/files/{id}/results?error_category=invalid_domain"
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["domain"], "not a domain", "{page}");
    let (status, body) = app
        .get_json(&format!("/files/{id}/results?error_category=bogus"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_error_category", "{body}");
}
