//! `/icons/{domain}`: a domain's icon from our own store, at the size, format and theme asked,
//! resolved on demand when we have none fresh, with a letter icon (or 404) when the site has
//! none; and `/files/{id}/icons.zip`, every found icon of a file.

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use favicon::Domain;
use icon_render::{
    IconRequest, LetterFormat, Rendered, RequestedFormat, SourceFormat, StoredImage, Theme,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::{
    Result,
    auth::AuthenticatedClient,
    error::{ApiError, AppPath, AppQuery, ErrorBody},
    icons_zip,
    routes::file_endpoints::owned_file,
    state::AppState,
};

/// Size served when none is asked.
const DEFAULT_SIZE: u64 = 64;
/// How long clients may keep an icon: a day, privately (it was fetched with an API key).
const CACHE_CONTROL: &str = "private, max-age=86400";
/// What an SVG may do once opened: nothing but its own inline styles, in a sandbox.
pub const SVG_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; sandbox";
/// The header that marks a generated icon.
pub const FALLBACK_HEADER: &str = "x-icon-fallback";

/// The icon routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/icons/{domain}", get(get_icon))
        .route("/files/{id}/icons.zip", get(icons_zip))
}

/// What `/icons/{domain}` takes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IconQuery {
    /// Width and height wanted, 1 to 1024 pixels (default 64). The stored icon closest to it
    /// (the smallest at least this large) is scaled down to exactly this size for raster
    /// output; a smaller one is served at its own size.
    pub size: Option<u64>,
    /// `png` (a PNG of `size`, converted from ICO or other rasters, rasterised from SVG),
    /// `ico` or `svg` (only a stored icon of that format, as stored), or `any` (default: an
    /// SVG as stored, else as `png`).
    pub format: Option<String>,
    /// `light` (default) or `dark`: the variant preferred; the other is served when the site
    /// has only that.
    pub theme: Option<String>,
    /// `letter` (default): a generated letter icon when the site has no icon, marked with
    /// `X-Icon-Fallback: letter`; `404`: answer 404 instead.
    pub fallback: Option<String>,
}

/// What to answer when the site has no icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    Letter,
    NotFound,
}

/// A domain's icon, from the store or resolved now.
#[utoipa::path(get, path = "/icons/{domain}", tag = "icons",
    params(("domain" = String, Path, description = "A domain name (IDN or punycode)"), IconQuery),
    responses(
        (status = 200, description = "The icon; `ETag` is the SHA-256 of the bytes served. SVG comes with a restrictive `Content-Security-Policy`, and as an attachment unless `format=svg`. A generated letter icon carries `X-Icon-Fallback: letter`.",
            content_type = "image/*", body = Vec<u8>,
            headers(("ETag" = String, description = "Strong validator: the quoted SHA-256 of the body"),
                    ("Cache-Control" = String, description = "`private, max-age=86400`"),
                    ("X-Icon-Fallback" = String, description = "`letter` when the icon is generated"))),
        (status = 304, description = "`If-None-Match` matches the icon's ETag"),
        (status = 400, description = "`invalid_domain` or `invalid_query` (size, format, theme, fallback)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "The site has no icon of that format and `fallback=404`", body = ErrorBody),
        (status = 503, description = "`lookup_busy`: every on-demand lookup (`ICON_LOOKUP_CONCURRENCY`) is taken", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 504, description = "`lookup_timeout`: the on-demand lookup took longer than `ICON_LOOKUP_TIMEOUT_SECS`", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn get_icon(
    State(state): State<AppState>,
    _client: AuthenticatedClient,
    AppPath(raw_domain): AppPath<String>,
    AppQuery(query): AppQuery<IconQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    let domain = Domain::parse(&raw_domain)
        .map_err(|error| ApiError::bad_request("invalid_domain", error.to_string()))?;
    let (request, fallback) = parse_query(&query)?;
    let images: Vec<StoredImage> = state
        .icons
        .images(&state.db, &domain)
        .await?
        .into_iter()
        .filter_map(|image| {
            Some(StoredImage {
                format: image.format.parse::<SourceFormat>().ok()?,
                width: u32::try_from(image.width).unwrap_or_default(),
                height: u32::try_from(image.height).unwrap_or_default(),
                theme: match image.theme {
                    store::icons::Theme::Dark => Theme::Dark,
                    store::icons::Theme::Light => Theme::Light,
                },
                hash: image.hash,
            })
        })
        .collect();
    let rendered = match icon_render::choose(&images, &request) {
        Some(image) => {
            let bytes = state.icons.bytes(&image.hash).await?;
            match icon_render::render(&bytes, image, &request) {
                Ok(rendered) => Some(rendered),
                Err(error) => {
                    tracing::warn!(domain = %domain, icon.hash = %image.hash, error.message = %error, "a stored icon of {domain} cannot be rendered");
                    None
                }
            }
        }
        None => None,
    };
    let (rendered, generated) = match (rendered, fallback) {
        (Some(rendered), _) => (rendered, false),
        (None, Fallback::NotFound) => return Err(ApiError::NotFound("icon")),
        (None, Fallback::Letter) => {
            let format = match request.format {
                RequestedFormat::Svg => LetterFormat::Svg,
                _ => LetterFormat::Png,
            };
            (
                icon_render::letter_icon(domain.as_str(), request.size, format),
                true,
            )
        }
    };
    Ok(icon_response(
        &domain,
        rendered,
        generated,
        request.format,
        &headers,
    ))
}

fn parse_query(query: &IconQuery) -> Result<(IconRequest, Fallback)> {
    let invalid = |message: String| ApiError::bad_request("invalid_query", message);
    let format: RequestedFormat = query
        .format
        .as_deref()
        .unwrap_or("any")
        .parse()
        .map_err(|error: icon_render::InvalidRequest| invalid(error.to_string()))?;
    let theme: Theme = query
        .theme
        .as_deref()
        .unwrap_or("light")
        .parse()
        .map_err(|error: icon_render::InvalidRequest| invalid(error.to_string()))?;
    let request = IconRequest::new(query.size.unwrap_or(DEFAULT_SIZE), format, theme)
        .map_err(|error| invalid(error.to_string()))?;
    let fallback = match query.fallback.as_deref().unwrap_or("letter") {
        "letter" => Fallback::Letter,
        "404" => Fallback::NotFound,
        other => {
            return Err(invalid(format!(
                "fallback must be letter or 404, not {:?}",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    Ok((request, fallback))
}

/// The response for an icon: its validators and the headers that keep an SVG harmless.
fn icon_response(
    domain: &Domain,
    rendered: Rendered,
    generated: bool,
    format: RequestedFormat,
    request_headers: &HeaderMap,
) -> Response {
    let etag = format!("\"{}\"", store::icons::content_hash(&rendered.bytes));
    let matches = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
        });
    let mut headers = HeaderMap::new();
    let value = |text: &str| HeaderValue::from_str(text).ok();
    if let Some(etag) = value(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if generated {
        headers.insert(FALLBACK_HEADER, HeaderValue::from_static("letter"));
    }
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.media_type),
    );
    if rendered.media_type == icon_render::SVG_MEDIA_TYPE {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SVG_CONTENT_SECURITY_POLICY),
        );
        if format != RequestedFormat::Svg
            && let Some(disposition) =
                value(&format!("attachment; filename=\"{}.svg\"", domain.as_str()))
        {
            headers.insert(header::CONTENT_DISPOSITION, disposition);
        }
    }
    (StatusCode::OK, headers, rendered.bytes).into_response()
}

/// Every found icon of a file, streamed as a ZIP.
#[utoipa::path(get, path = "/files/{id}/icons.zip", tag = "files",
    params(("id" = Uuid, Path, description = "File id")),
    responses(
        (status = 200, description = "A ZIP (STORED, ZIP64 when needed) of every found icon as `<domain>.<ext>`, and `index.csv` (domain, file_name, media_type, width, height, favicon_url), streamed",
            content_type = "application/zip", body = Vec<u8>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown file, or another client's", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn icons_zip(
    State(state): State<AppState>,
    client: AuthenticatedClient,
    AppPath(id): AppPath<Uuid>,
) -> Result<Response> {
    let file = owned_file(&state, &client, id).await?;
    let index = icons_zip::index_entry(&state.db, file.id)
        .await
        .map_err(|error| ApiError::Internal(anyhow::Error::new(error).context("index.csv")))?;
    let stream = icons_zip::archive(state.db.clone(), state.icons.clone(), file.id, index);
    let stem = file
        .original_name
        .rsplit_once('.')
        .map_or(file.original_name.as_str(), |(stem, _)| stem)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect::<String>();
    let stem = if stem.is_empty() {
        "file".to_owned()
    } else {
        stem
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"{stem}-icons.zip\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}
