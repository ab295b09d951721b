//! The dashboard page at `/` and its assets under `/assets/`, embedded in the binary (no CDN,
//! no build step: plain ES modules and CSS from `api/web/`). Every answer carries a strict
//! `Content-Security-Policy`: only this origin's scripts, styles and connections, no inline
//! code, no framing. The page is one more client of the JSON API, signed in by the session
//! cookie ([`crate::session`]).

use axum::{
    Router,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{Result, error::ApiError, error::AppPath, state::AppState};

/// The page's policy: nothing but this origin, no inline scripts or styles, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// One embedded file: its name under `/assets/`, media type and bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

const INDEX_HTML: &[u8] = include_bytes!("../../web/index.html");

/// Every asset of the page.
const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        media_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
    },
    Asset {
        name: "app.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        name: "api.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/api.js"),
    },
    Asset {
        name: "files.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/files.js"),
    },
    Asset {
        name: "file.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/file.js"),
    },
    Asset {
        name: "dom.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/dom.js"),
    },
    Asset {
        name: "favicon.svg",
        media_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
];

/// `/` and `/assets/{name}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
}

/// The page's answer headers: its media type, the policy, and no sniffing, framing or
/// referrers. `no-cache` so a new binary's page is picked up at once (revalidated, the files
/// are small).
fn page_response(media_type: &'static str, body: &'static [u8]) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}

/// The dashboard (HTML; its scripts do the rest).
pub async fn index() -> Response {
    page_response("text/html; charset=utf-8", INDEX_HTML)
}

/// A script, style sheet or image of the page.
pub async fn asset(AppPath(name): AppPath<String>) -> Result<Response> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .ok_or(ApiError::NotFound("asset"))?;
    Ok(page_response(asset.media_type, asset.body))
}
