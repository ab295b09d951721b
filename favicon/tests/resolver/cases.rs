//! Finding and choosing icons.

use favicon::{FailureCategory, IconSource, ImageFormat};
use test_support::farm::{Farm, scenarios::data_uri_icon};

use crate::{assert_icons, category, icon, resolve, resolve_with};

#[tokio::test]
async fn relative_absolute_protocol_relative_and_base_href_links() {
    assert_icons(&[
        ("relative.test", "https://relative.test/i/32x32.png"),
        ("absolute.test", "https://static.test/abs/48x48.png"),
        (
            "protocol-relative.test",
            "https://static.test/proto/64x64.png",
        ),
        ("base-href.test", "https://static.test/base/96x96.png"),
    ])
    .await;
}

#[tokio::test]
async fn the_largest_square_icon_wins_by_real_size_not_declared_sizes() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "sizes.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, "https://sizes.test/i/192x192.png");
    assert_eq!(
        (chosen.format, chosen.width, chosen.height, chosen.source),
        (ImageFormat::Png, 192, 192, IconSource::Link)
    );
    assert!(chosen.bytes > 0);
    assert_eq!(resolution.tries, 1);
}

#[tokio::test]
async fn apple_touch_icons_tile_images_and_html_quirks() {
    assert_icons(&[
        ("apple-only.test", "https://apple-only.test/i/180x180.png"),
        ("tile.test", "https://tile.test/i/144x144.png"),
        ("upper.test", "https://upper.test/UPPER/32X32.PNG"),
        ("body-link.test", "https://body-link.test/i/48x48.png"),
        ("latin1.test", "https://latin1.test/ic%C3%B4ne.png"),
        (
            "latin1-meta.test",
            "https://latin1-meta.test/ic%C3%B4ne.png",
        ),
    ])
    .await;
}

#[tokio::test]
async fn manifest_icons_are_resolved_against_the_manifest() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "manifest-only.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, "https://manifest-only.test/m/icons/512x512.png");
    assert_eq!((chosen.width, chosen.source), (512, IconSource::Manifest));
}

#[tokio::test]
async fn favicon_ico_alone_counts_as_its_largest_entry() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "ico-only.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, "https://ico-only.test/favicon.ico");
    assert_eq!(
        (chosen.format, chosen.width, chosen.height, chosen.source),
        (ImageFormat::Ico, 48, 48, IconSource::Fallback)
    );
}

#[tokio::test]
async fn redirects_from_http_to_https_and_www_are_followed() {
    let farm = Farm::start().await;
    // https on the bare name refuses TLS; http redirects to https://www., which redirects
    // again; the icon link is relative to the final URL.
    let resolution = resolve(&farm, "redirect-chain.test").await;
    assert_eq!(
        icon(&resolution).url,
        "https://www.redirect-chain.test/home/icon/64x64.png"
    );
    assert_eq!(farm.requests_to("redirect-chain.test"), 1);
}

#[tokio::test]
async fn the_www_name_is_tried_when_the_bare_name_fails() {
    assert_icons(&[(
        "www-fallback.test",
        "https://www.www-fallback.test/i/32x32.png",
    )])
    .await;
}

#[tokio::test]
async fn redirect_loops_and_endless_redirects_fail_with_http_status() {
    let farm = Farm::start().await;
    let looping = resolve(&farm, "loop.test").await;
    assert_eq!(category(&looping), FailureCategory::HttpStatus);
    assert!(
        format!("{:?}", looping.outcome).contains("loop"),
        "{looping:?}"
    );
    let endless = resolve(&farm, "endless.test").await;
    assert_eq!(category(&endless), FailureCategory::HttpStatus);
    assert!(
        format!("{:?}", endless.outcome).contains("more than 10 redirects"),
        "{endless:?}"
    );
}

#[tokio::test]
async fn missing_pages_soft_404s_and_pages_without_icons() {
    let farm = Farm::start().await;
    assert_eq!(
        category(&resolve(&farm, "nothing.test").await),
        FailureCategory::HttpStatus
    );
    // The declared icon is an error page served as a PNG: /favicon.ico is asked after it.
    assert_eq!(
        icon(&resolve(&farm, "soft404.test").await).url,
        "https://soft404.test/favicon.ico"
    );
    assert_eq!(farm.requests_to("soft404.test"), 3);
    assert_eq!(
        category(&resolve(&farm, "all-soft404.test").await),
        FailureCategory::NotImage
    );
    assert_eq!(
        category(&resolve(&farm, "no-icon.test").await),
        FailureCategory::NoIcon
    );
}

#[tokio::test]
async fn svg_is_recognised_by_its_bytes_and_preferred_over_small_rasters() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "svg.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, "https://svg.test/logo.svg");
    assert_eq!(
        (chosen.format, chosen.width, chosen.height),
        (ImageFormat::Svg, 100, 100)
    );
    // With a smaller preferred size, the 16x16 PNG would be enough only if it were square and
    // at least that size: at 16, it is, and rasters come before SVG unless SVG is preferred.
    let small = resolve_with(&farm, "svg.test", |s| s.preferred_size = 16).await;
    assert_eq!(icon(&small).url, "https://svg.test/i/16x16.png");
    let svg = resolve_with(&farm, "svg.test", |s| {
        s.preferred_size = 16;
        s.prefer_svg = true;
    })
    .await;
    assert_eq!(icon(&svg).url, "https://svg.test/logo.svg");
}

#[tokio::test]
async fn data_uri_icons_are_decoded_in_place() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "data-uri.test").await;
    let chosen = icon(&resolution);
    assert_eq!(chosen.url, data_uri_icon());
    assert_eq!((chosen.width, chosen.height), (32, 32));
}

#[tokio::test]
async fn idn_domains_are_fetched_by_their_punycode_name() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "bücher.test").await;
    assert_eq!(
        icon(&resolution).url,
        "https://xn--bcher-kva.test/i/32x32.png"
    );
}

#[tokio::test]
async fn oversized_icons_and_gzip_bombs_fail_with_too_large() {
    let farm = Farm::start().await;
    assert_eq!(
        category(&resolve(&farm, "huge-icon.test").await),
        FailureCategory::TooLarge
    );
    assert_eq!(
        category(&resolve(&farm, "gzip-bomb.test").await),
        FailureCategory::TooLarge
    );
}

#[tokio::test]
async fn a_slow_drip_server_cannot_hold_a_domain_past_its_deadline() {
    let farm = Farm::start().await;
    let resolution = resolve_with(&farm, "slow-drip.test", |s| {
        s.domain_timeout = std::time::Duration::from_secs(2);
        s.max_tries = 2;
    })
    .await;
    assert_eq!(category(&resolution), FailureCategory::Timeout);
    assert_eq!(resolution.tries, 1, "no retry once the deadline has passed");
}

#[tokio::test]
async fn an_untrusted_certificate_fails_with_tls() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "bad-cert.test").await;
    assert_eq!(
        category(&resolution),
        FailureCategory::Tls,
        "{resolution:?}"
    );
}
