//! The dashboard's sign-in: the session cookie and its CSRF token.
//!
//! A browser's `EventSource` cannot send an `Authorization` header, and a key in a URL would
//! end up in logs, histories and `Referer` headers. So the page exchanges the API key once
//! (`POST /session`) for a random session token in a cookie that scripts cannot read
//! (`HttpOnly`), that other sites' requests do not carry (`SameSite=Strict`) and that only
//! travels over HTTPS (`Secure`, and the `__Host-` prefix pins it to this host and path `/`).
//! Because a cookie is sent automatically, every state-changing request made with it must also
//! carry `X-CSRF-Token`, which the page receives in the sign-in answer: a page of another site
//! can neither read it nor set custom headers without CORS, which this api does not allow.
//! Sessions are stored in PostgreSQL ([`store::sessions`]), so every api instance knows them.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use common::config::SessionSettings;
use entity::{clients, sessions};

use crate::{error::ApiError, state::AppState};

/// The header that carries the CSRF token with a cookie-authenticated state-changing request.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The cookie's name: with the `__Host-` prefix when it is `Secure` (browsers then refuse it
/// unless it is `Secure`, has `Path=/` and no `Domain`), plain without.
pub fn cookie_name(settings: &SessionSettings) -> &'static str {
    if settings.cookie_secure {
        "__Host-fp_session"
    } else {
        "fp_session"
    }
}

/// The session token of the request's cookie, if it sent one.
pub fn cookie_token<'a>(headers: &'a HeaderMap, settings: &SessionSettings) -> Option<&'a str> {
    let name = cookie_name(settings);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// The `Set-Cookie` value that stores `token` for `max_age_secs`.
pub fn set_cookie(settings: &SessionSettings, token: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if settings.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={token}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_name(settings)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(settings: &SessionSettings) -> HeaderValue {
    set_cookie(settings, "", 0)
}

/// The client of the session `token`, counting an unknown or ended session against `peer`'s
/// failed authentications like a wrong key. Returns the session with its client.
pub async fn client_of_cookie(
    state: &AppState,
    peer: Option<IpAddr>,
    token: &str,
) -> Result<(sessions::Model, clients::Model), ApiError> {
    let token_hash = store::sessions::hash_token(token);
    state
        .auth_failures
        .admit(peer, &token_hash)
        .map_err(|retry_after| ApiError::TooManyAuthFailures { retry_after })?;
    let found = if store::sessions::is_well_formed(token) {
        store::sessions::find_live(&state.db, &token_hash).await?
    } else {
        None
    };
    let Some(found) = found else {
        state.auth_failures.failed(peer);
        return Err(ApiError::Unauthorized);
    };
    state.auth_failures.succeeded(&token_hash);
    Ok(found)
}

/// Refuses (403 `csrf_failed`) a request whose `X-CSRF-Token` is missing or is not the one of
/// the session `token`.
pub fn check_csrf(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let expected = store::sessions::csrf_token_of(token);
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::CsrfFailed)
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_under_its_name() {
        let secure = SessionSettings::default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-fp_session=fps_abc ; fp_session=plain"),
        );
        assert_eq!(cookie_token(&headers, &secure), Some("fps_abc"));
        let plain = SessionSettings {
            cookie_secure: false,
            ..SessionSettings::default()
        };
        assert_eq!(cookie_token(&headers, &plain), Some("plain"));
        assert_eq!(cookie_token(&HeaderMap::new(), &secure), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_unless_configured_otherwise() {
        let secure = SessionSettings::default();
        assert_eq!(
            set_cookie(&secure, "t", 60),
            "__Host-fp_session=t; Max-Age=60; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let plain = SessionSettings {
            cookie_secure: false,
            ..SessionSettings::default()
        };
        assert_eq!(
            clear_cookie(&plain),
            "fp_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
