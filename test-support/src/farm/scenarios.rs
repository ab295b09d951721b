//! What each virtual host answers. A host's scenario is the first label of its name, after a
//! leading `www.` and without a trailing `-<digits>` (so `relative-17.test` behaves like
//! `relative.test`, for benchmarks with many hosts); unknown names answer 404 everywhere.
//!
//! On every host a last path segment `{w}x{h}.{png,ico,gif,svg}` (any case) is an image of
//! that size, so pages link to `/i/32x32.png` and get a real 32x32 PNG; under a `/dark/`
//! folder, a PNG is its dark variant (other colours, other bytes). Images depend only on
//! their size and palette: the same request always gives the same bytes, and two hosts
//! serving the same size serve the same bytes.
//!
//! The real-world scenarios (`hang`, `tls-stall`, `refused`, `nxdomain`, `server-error`,
//! `forbidden`, `trickle`, `redirects`, `large-page`) fail or slow the resolver the way dead
//! and slow hosts do: every wait is a real wait on an open connection, never a shortcut.

use std::{sync::OnceLock, time::Duration};

use base64::Engine;

use super::images;

/// The scenario names, one per case the resolver must handle (hosts are `{name}.test`, and
/// `xn--bcher-kva.test` for the IDN one).
pub const SCENARIOS: &[&str] = &[
    "relative",
    "absolute",
    "protocol-relative",
    "base-href",
    "sizes",
    "apple-only",
    "manifest-only",
    "ico-only",
    "tile",
    "redirect-chain",
    "www-fallback",
    "loop",
    "endless",
    "nothing",
    "soft404",
    "all-soft404",
    "no-icon",
    "svg",
    "huge-icon",
    "slow-drip",
    "gzip-bomb",
    "latin1",
    "latin1-meta",
    "upper",
    "body-link",
    "data-uri",
    "xn--bcher-kva",
    "loopback",
    "metadata-redirect",
    "bad-cert",
    "static",
    "hang",
    "tls-stall",
    "refused",
    "nxdomain",
    "server-error",
    "forbidden",
    "trickle",
    "redirects",
    "large-page",
    "dark",
    "apple-unlinked",
    "multi-ico",
    "dark-larger",
    "icon-sizes",
];

/// Names under this suffix do not exist for a resolver given [`NXDOMAIN_OVERRIDE`]; the
/// `nxdomain` scenario's hosts live there ([`host_name`]).
pub const NXDOMAIN_SUFFIX: &str = ".nx.test";
/// The `dns_nxdomain` entry (`RESOLVER_DNS_OVERRIDE=*.nx.test=NXDOMAIN`) under which the
/// `nxdomain` scenario's names do not resolve.
pub const NXDOMAIN_OVERRIDE: &str = "*.nx.test";

/// How long a hanging host keeps a connection open without answering, when the client does
/// not give up first: far beyond any resolver deadline, and a bound on what the farm holds.
pub const HANG_LIMIT: Duration = Duration::from_secs(120);

/// Host `n` of `scenario`, e.g. `relative-17.test` (`nxdomain-17.nx.test` for `nxdomain`).
pub fn host_name(scenario: &str, n: usize) -> String {
    if scenario == "nxdomain" {
        format!("{scenario}-{n}{NXDOMAIN_SUFFIX}")
    } else {
        format!("{scenario}-{n}.test")
    }
}

/// What the farm does with a TLS connection once it has read the ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Complete the handshake (or refuse it, for names without a certificate).
    Complete,
    /// Never answer: the client's handshake waits until it gives up.
    Stall,
    /// Reset the connection at once, as a host with nothing listening would.
    Reset,
}

/// The handshake for SNI name `server_name`.
pub fn handshake(server_name: &str) -> Handshake {
    match scenario_of(server_name) {
        "tls-stall" => Handshake::Stall,
        "refused" => Handshake::Reset,
        _ => Handshake::Complete,
    }
}

/// Hosts that refuse TLS (no certificate) and drop plain HTTP connections.
pub const REFUSED: &[&str] = &["www-fallback.test"];
/// Hosts that refuse TLS (no certificate) but answer plain HTTP.
pub const REFUSE_TLS_ONLY: &[&str] = &["redirect-chain.test"];
/// SNI names that get a self-signed certificate (their plain HTTP connections are dropped).
pub const UNTRUSTED: &[&str] = &["bad-cert.test", "www.bad-cert.test"];

/// One request, as the farm sees it.
#[derive(Debug)]
pub struct Request {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The `Host` header without a port, lower-cased.
    pub host: String,
    /// The raw path, without the query.
    pub path: String,
}

/// What to answer.
#[derive(Debug)]
pub enum Reply {
    /// A complete response.
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// 200 `text/html`, `prefix` then one space every `interval`, `max` bytes at most.
    Drip {
        prefix: Vec<u8>,
        interval: Duration,
        max: usize,
    },
    /// 200 `text/html`: `body`, `chunk` bytes at a time, one chunk every `interval`.
    Trickle {
        body: &'static [u8],
        chunk: usize,
        interval: Duration,
    },
    /// Reset the connection without an answer.
    Refuse,
    /// Keep the connection open and never answer (until [`HANG_LIMIT`]).
    Hang,
}

fn full(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full {
        status,
        headers: vec![("content-type", content_type.to_owned())],
        body: body.into(),
    }
}

fn html(body: &str) -> Reply {
    full(
        200,
        "text/html; charset=utf-8",
        format!("<!doctype html>{body}"),
    )
}

fn page(head: &str) -> Reply {
    html(&format!(
        "<html><head><title>farm</title>{head}</head><body><p>Hello</p></body></html>"
    ))
}

fn not_found() -> Reply {
    full(
        404,
        "text/html",
        "<html><body><h1>Not Found</h1></body></html>",
    )
}

fn redirect(status: u16, location: &str) -> Reply {
    Reply::Full {
        status,
        headers: vec![("location", location.to_owned())],
        body: Vec::new(),
    }
}

/// `{number}/` for a numbered host (`absolute-17.test`), else nothing: icons that many sites
/// keep on one shared host get a path of their own per site, as on a real CDN.
fn site_folder(host: &str) -> String {
    let name = host.strip_prefix("www.").unwrap_or(host);
    let label = name.split('.').next().unwrap_or_default();
    match label.rsplit_once('-') {
        Some((_, digits)) if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) => {
            format!("{digits}/")
        }
        _ => String::new(),
    }
}

/// The answers of the real-world scenarios that [`reply`] does not share with the others.
fn real_world(request: &Request, scenario: &str) -> Option<Reply> {
    let host = request.host.as_str();
    let www = host.starts_with("www.");
    let https = request.scheme == "https";
    Some(match (scenario, request.path.as_str()) {
        // A server that accepts the connection and never answers, on both schemes.
        ("hang", _) => Reply::Hang,
        // https stalls in the handshake (see [`handshake`]); plain http answers.
        ("tls-stall", "/") => page(r#"<link rel="icon" href="i/32x32.png">"#),
        ("server-error", _) => full(
            503,
            "text/html",
            "<html><body><h1>503 Service Unavailable</h1></body></html>",
        ),
        // A bot wall: every path is forbidden.
        ("forbidden", _) => full(403, "text/html", "<html><body>Access denied</body></html>"),
        ("trickle", "/") => Reply::Trickle {
            body: trickled_page(),
            chunk: 64,
            interval: Duration::from_millis(50),
        },
        // https://name/ -> http://www.name/ -> https://www.name/ -> /en/: three hops, one of
        // them to another host, as sites that move to www and to https do.
        ("redirects", "/") if !www => redirect(301, &format!("http://www.{host}/")),
        ("redirects", "/") if !https => redirect(301, &format!("https://{host}/")),
        ("redirects", "/") => redirect(302, "/en/"),
        ("redirects", "/en/") => page(r#"<link rel="icon" href="icon/64x64.png">"#),
        ("large-page", "/") => full(200, "text/html; charset=utf-8", large_page()),
        _ => return None,
    })
}

/// A home page of about 2 KiB whose icon link comes last in its head, to be trickled.
fn trickled_page() -> &'static [u8] {
    static PAGE: OnceLock<Vec<u8>> = OnceLock::new();
    PAGE.get_or_init(|| {
        let mut head = String::from("<!doctype html><html><head><title>slow</title>");
        for n in 0..24 {
            head.push_str(&format!(
                r#"<meta name="x-filler-{n}" content="the server sends this page a few bytes at a time">"#
            ));
        }
        head.push_str(r#"<link rel="icon" href="/i/32x32.png"></head><body>slow</body></html>"#);
        head.into_bytes()
    })
}

/// A 400 KiB home page whose icon links come after a 350 KiB inline script in its head.
fn large_page() -> &'static [u8] {
    static PAGE: OnceLock<Vec<u8>> = OnceLock::new();
    PAGE.get_or_init(|| {
        let mut page = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>large</title><script>",
        );
        let statement = "window.__state.push({id: 12345, name: \"item\", tags: [\"a\", \"b\"]});\n";
        while page.len() < 350 * 1024 {
            page.push_str(statement);
        }
        page.push_str(concat!(
            "</script>",
            r#"<link rel="icon" href="/i/32x32.png">"#,
            r#"<link rel="apple-touch-icon" href="/i/180x180.png">"#,
            "</head><body>",
        ));
        while page.len() < 400 * 1024 {
            page.push_str("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n");
        }
        page.push_str("</body></html>");
        page.into_bytes()
    })
}

/// The scenario name of a host.
pub fn scenario_of(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return "metadata";
    }
    let name = host.strip_prefix("www.").unwrap_or(host);
    let label = name.split('.').next().unwrap_or_default();
    match label.rsplit_once('-') {
        Some((stem, digits))
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) =>
        {
            stem
        }
        _ => label,
    }
}

/// An image for a last path segment `{w}x{h}.{ext}`.
fn asset(path: &str) -> Option<Reply> {
    let name = path.rsplit('/').next()?.to_ascii_lowercase();
    let (size, extension) = name.rsplit_once('.')?;
    let (width, height) = size.split_once('x')?;
    let (width, height): (u32, u32) = (width.parse().ok()?, height.parse().ok()?);
    if width == 0 || height == 0 || width > 1024 || height > 1024 {
        return None;
    }
    Some(match extension {
        "png" if path.contains("/dark/") => full(200, "image/png", images::dark_png(width, height)),
        "png" => full(200, "image/png", images::png(width, height)),
        "ico" => full(200, "image/x-icon", images::ico(&[width])),
        "gif" => full(
            200,
            "image/gif",
            images::gif(u16::try_from(width).ok()?, u16::try_from(height).ok()?),
        ),
        "svg" => full(200, "image/svg+xml", images::svg(width)),
        _ => return None,
    })
}

/// A gzip-compressed reply.
fn gzipped(content_type: &str, body: &[u8]) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![
            ("content-type", content_type.to_owned()),
            ("content-encoding", "gzip".to_owned()),
        ],
        body: body.to_vec(),
    }
}

/// 16 MiB of HTML (or PNG) once decompressed, about 16 KiB on the wire.
const BOMB_SIZE: usize = 16 << 20;

fn html_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        images::gzip_bomb(
            b"<html><head><link rel=\"icon\" href=\"/bomb.png\">",
            b' ',
            BOMB_SIZE,
        )
    })
}

fn png_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        // A real PNG header, then a private chunk that never ends.
        let header = images::png(64, 64);
        images::gzip_bomb(&header[..33], 0, BOMB_SIZE)
    })
}

/// The `data:` URL of the `data-uri` scenario: a 32x32 PNG.
pub fn data_uri_icon() -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(images::png(32, 32))
    )
}

/// The answer to `request`.
pub fn reply(request: &Request) -> Reply {
    let host = request.host.as_str();
    let path = request.path.as_str();
    let www = host.starts_with("www.");
    let scenario = scenario_of(host);
    let refused = REFUSED.contains(&host)
        || (REFUSE_TLS_ONLY.contains(&host) && request.scheme == "https")
        || (UNTRUSTED.contains(&host) && request.scheme == "http")
        || scenario == "refused";
    if refused {
        return Reply::Refuse;
    }
    if let Some(reply) = real_world(request, scenario) {
        return reply;
    }
    let specific = match (scenario, path) {
        ("relative", "/") => Some(page(r#"<link rel="icon" href="i/32x32.png">"#)),
        ("absolute", "/") => Some(page(&format!(
            r#"<link rel="icon" href="https://static.test/abs/{}48x48.png">"#,
            site_folder(host)
        ))),
        ("protocol-relative", "/") => Some(page(
            r#"<link rel="shortcut icon" href="//static.test/proto/64x64.png">"#,
        )),
        ("base-href", "/") => Some(page(
            r#"<base href="https://static.test/base/"><link rel="icon" href="96x96.png">"#,
        )),
        ("sizes", "/") => Some(page(concat!(
            r#"<link rel="icon" sizes="512x512" href="/i/16x16.ico">"#,
            r#"<link rel="icon" sizes="32x32" href="/i/32x32.png">"#,
            r#"<link rel="apple-touch-icon" sizes="180x180" href="/i/192x192.png">"#,
            r#"<link rel="icon" href="/i/300x100.png">"#,
            r#"<link rel="icon" sizes="any" href="/i/1x1.gif">"#,
        ))),
        ("apple-only", "/") => Some(page(
            r#"<link rel="apple-touch-icon" href="/i/180x180.png">"#,
        )),
        ("manifest-only", "/") => Some(page(r#"<link rel="manifest" href="/m/site.webmanifest">"#)),
        ("manifest-only", "/m/site.webmanifest") => Some(full(
            200,
            "application/manifest+json",
            r#"{"name": "farm", "icons": [
                {"src": "../i/192x192.png", "sizes": "192x192", "type": "image/png"},
                {"src": "icons/512x512.png", "sizes": "512x512", "type": "image/png"}
            ]}"#,
        )),
        ("ico-only", "/") => Some(page("")),
        ("ico-only", "/favicon.ico") => Some(full(200, "image/x-icon", images::ico(&[16, 32, 48]))),
        ("tile", "/") => Some(page(
            r#"<meta name="msapplication-TileImage" content="/i/144x144.png">"#,
        )),
        ("redirect-chain", "/") if !www => Some(redirect(301, "https://www.redirect-chain.test/")),
        ("redirect-chain", "/") => Some(redirect(302, "/home/")),
        ("redirect-chain", "/home/") => Some(page(r#"<link rel="icon" href="icon/64x64.png">"#)),
        ("www-fallback", "/") => Some(page(r#"<link rel="icon" href="/i/32x32.png">"#)),
        ("loop", "/a") => Some(redirect(302, "/")),
        ("loop", _) => Some(redirect(302, "/a")),
        ("endless", _) => {
            let hop: u32 = path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Some(redirect(302, &format!("/hop/{}", hop + 1)))
        }
        ("nothing", _) => Some(not_found()),
        ("soft404", "/") => Some(page(r#"<link rel="icon" href="/missing.png">"#)),
        ("soft404", "/favicon.ico") => Some(full(200, "image/x-icon", images::ico(&[32]))),
        ("soft404", _) | ("all-soft404", _) => Some(full(
            200,
            "image/png",
            "<html><body>Sorry, we could not find that page.</body></html>",
        )),
        ("no-icon", "/") => Some(page("")),
        // A light icon and a larger dark variant (so that the two differ).
        ("dark-larger", "/") => Some(page(concat!(
            r#"<link rel="icon" href="/light/32x32.png">"#,
            r#"<link rel="icon" media="(prefers-color-scheme: dark)" href="/dark/64x64.png">"#,
        ))),
        // One linked ICO holding several sizes.
        ("icon-sizes", "/") => Some(page(r#"<link rel="icon" href="/favicon.ico">"#)),
        ("icon-sizes", "/favicon.ico") => {
            Some(full(200, "image/x-icon", images::ico(&[16, 32, 48, 64])))
        }
        ("svg", "/") => Some(page(concat!(
            r#"<link rel="icon" href="/i/16x16.png">"#,
            r#"<link rel="icon" type="image/svg+xml" href="/logo.svg">"#,
        ))),
        ("svg", "/logo.svg") => Some(full(200, "text/plain", images::svg(100))),
        ("huge-icon", "/") => Some(page(r#"<link rel="icon" href="/huge.png">"#)),
        ("huge-icon", "/huge.png") => Some(full(
            200,
            "image/png",
            images::png_with_padding(64, 64, 2 << 20),
        )),
        ("slow-drip", "/") => Some(Reply::Drip {
            prefix: b"<!doctype html><html><head>".to_vec(),
            interval: Duration::from_millis(100),
            max: 3000,
        }),
        ("gzip-bomb", "/") => Some(gzipped("text/html", html_bomb())),
        ("gzip-bomb", "/bomb.png") => Some(gzipped("image/png", png_bomb())),
        ("latin1", "/") => Some(full(
            200,
            "text/html; charset=ISO-8859-1",
            b"<html><head><title>Caf\xe9</title><link rel=\"icon\" href=\"/ic\xf4ne.png\"></head></html>".to_vec(),
        )),
        ("latin1-meta", "/") => Some(full(
            200,
            "text/html",
            b"<html><head><meta charset=\"windows-1252\"><title>Caf\xe9</title><link rel=\"icon\" href=\"/ic\xf4ne.png\"></head></html>".to_vec(),
        )),
        ("latin1" | "latin1-meta", "/ic%C3%B4ne.png") => {
            Some(full(200, "image/png", images::png(32, 32)))
        }
        ("upper", "/") => Some(full(
            200,
            "text/html",
            r#"<!DOCTYPE HTML><HTML><HEAD><TITLE>UPPER</TITLE><LINK REL="SHORTCUT ICON" HREF="/UPPER/32X32.PNG"></HEAD><BODY></BODY></HTML>"#,
        )),
        ("body-link", "/") => Some(html(
            r#"<html><head><title>late</title></head><body><p>Content</p><link rel="icon" href="/i/48x48.png"></body></html>"#,
        )),
        ("data-uri", "/") => Some(page(&format!(r#"<link rel="icon" href="{}">"#, data_uri_icon()))),
        ("xn--bcher-kva", "/") => Some(page(r#"<link rel="icon" href="/i/32x32.png">"#)),
        ("loopback", "/favicon.ico") => Some(full(200, "image/x-icon", images::ico(&[32]))),
        ("metadata-redirect", "/") => Some(redirect(302, "http://169.254.169.254/latest/meta-data/")),
        ("metadata", "/latest/meta-data/") => Some(full(200, "text/plain", "ami-id\nhostname\n")),
        ("metadata", "/favicon.ico") => Some(full(200, "image/x-icon", images::ico(&[16]))),
        ("bad-cert", "/") => Some(page(r#"<link rel="icon" href="/i/32x32.png">"#)),
        // A light icon, its dark variant for `prefers-color-scheme: dark`, and a manifest
        // whose only icon is a larger dark one: the light icon is the choice.
        ("dark", "/") => Some(page(concat!(
            r#"<link rel="icon" href="/i/32x32.png">"#,
            r#"<link rel="icon" media="(prefers-color-scheme: dark)" href="/i/dark/32x32.png">"#,
            r#"<link rel="manifest" href="/site.webmanifest">"#,
        ))),
        ("dark", "/site.webmanifest") => Some(full(
            200,
            "application/manifest+json",
            r#"{"name": "dark", "icons": [
                {"src": "/i/dark/192x192.png", "sizes": "192x192", "purpose": "any dark"}
            ]}"#,
        )),
        // Links only a 16x16 icon, and serves a 180x180 one where Safari looks, unlinked, the
        // same bytes under both names (as many sites do).
        ("apple-unlinked", "/") => Some(page(r#"<link rel="icon" href="/i/16x16.png">"#)),
        ("apple-unlinked", "/apple-touch-icon.png" | "/apple-touch-icon-precomposed.png") => {
            Some(full(200, "image/png", images::png(180, 180)))
        }
        // Nothing linked; /favicon.ico holds four sizes.
        ("multi-ico", "/") => Some(page("")),
        ("multi-ico", "/favicon.ico") => Some(full(
            200,
            "image/x-icon",
            images::ico(&[16, 32, 48, 256]),
        )),
        _ => None,
    };
    specific.or_else(|| asset(path)).unwrap_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_chosen_by_host_pattern() {
        assert_eq!(scenario_of("relative.test"), "relative");
        assert_eq!(scenario_of("relative-17.test"), "relative");
        assert_eq!(scenario_of("www.redirect-chain.test"), "redirect-chain");
        assert_eq!(scenario_of("all-soft404.test"), "all-soft404");
        assert_eq!(scenario_of("169.254.169.254"), "metadata");
        assert_eq!(scenario_of("nxdomain-3.nx.test"), "nxdomain");
        assert_eq!(host_name("nxdomain", 3), "nxdomain-3.nx.test");
        assert_eq!(host_name("tls-stall", 3), "tls-stall-3.test");
        assert_eq!(handshake("www.tls-stall-3.test"), Handshake::Stall);
        assert_eq!(handshake("refused.test"), Handshake::Reset);
        assert_eq!(handshake("hang-1.test"), Handshake::Complete);
    }

    fn body(reply: Reply) -> Vec<u8> {
        match reply {
            Reply::Full { status, body, .. } => {
                assert_eq!(status, 200);
                body
            }
            other => panic!("expected a full reply, got {other:?}"),
        }
    }

    fn get(host: &str, path: &str) -> Vec<u8> {
        body(reply(&Request {
            scheme: "https",
            host: host.to_owned(),
            path: path.to_owned(),
        }))
    }

    #[test]
    fn every_scenario_is_listed_once() {
        for (index, scenario) in SCENARIOS.iter().enumerate() {
            assert!(!SCENARIOS[..index].contains(scenario), "{scenario} twice");
        }
        for scenario in ["dark", "apple-unlinked", "multi-ico"] {
            assert!(SCENARIOS.contains(&scenario), "{scenario}");
        }
    }

    #[test]
    fn identical_requests_give_identical_bytes_and_sites_share_sizes() {
        assert_eq!(
            get("static.test", "/abs/3/48x48.png"),
            get("static.test", "/abs/4/48x48.png")
        );
        assert_eq!(
            get("relative.test", "/i/32x32.png"),
            get("relative-9.test", "/i/32x32.png")
        );
        assert_eq!(get("x.test", "/a/7x9.gif"), get("x.test", "/a/7x9.gif"));
        assert_eq!(
            get("multi-ico.test", "/favicon.ico"),
            images::ico(&[16, 32, 48, 256])
        );
        assert_ne!(
            get("dark.test", "/i/32x32.png"),
            get("dark.test", "/i/dark/32x32.png"),
            "a dark variant has bytes of its own"
        );
    }

    #[test]
    fn shared_icon_hosts_get_a_path_per_numbered_site() {
        assert_eq!(site_folder("absolute-17.test"), "17/");
        assert_eq!(site_folder("absolute.test"), "");
    }

    #[test]
    fn the_large_page_links_its_icon_after_a_big_script_within_the_default_limit() {
        let page = large_page();
        let link = page
            .windows(10)
            .position(|w| w == b"<link rel=")
            .expect("a link");
        assert!(link > 350 * 1024, "{link}");
        assert!(page.len() < 512 * 1024, "{}", page.len());
    }
}
