//! The farm's real-world hosts, as the resolver sees them: per-name certificates, dead names,
//! refused, hanging and stalling hosts, error pages, slow bodies, redirect chains and large
//! pages. Deadlines are short; only outcomes are asserted, never elapsed times.

use std::time::Duration;

use favicon::FailureCategory;
use test_support::farm::{Farm, FarmConfig, Latency};

use crate::{category, icon, resolve, resolve_with};

#[tokio::test]
async fn numbered_hosts_get_a_certificate_of_their_own_and_succeed_over_https() {
    let farm = Farm::start().await;
    for domain in ["relative-17.test", "ico-only-4.test", "www.relative-9.test"] {
        let resolution = resolve(&farm, domain).await;
        assert!(
            icon(&resolution)
                .url
                .starts_with(&format!("https://{domain}/")),
            "{domain}: {resolution:?}"
        );
    }
    let stats = farm.stats();
    assert_eq!(stats.tls_failures, 0, "{stats:?}");
    assert!(stats.certificates_issued >= 3, "{stats:?}");
    // The icon on the shared host has a path of the site's own.
    let absolute = resolve(&farm, "absolute-3.test").await;
    assert_eq!(icon(&absolute).url, "https://static.test/abs/3/48x48.png");
}

#[tokio::test]
async fn names_under_the_nxdomain_override_fail_with_dns_and_reach_nothing() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "nxdomain-5.nx.test").await;
    assert_eq!(
        category(&resolution),
        FailureCategory::Dns,
        "{resolution:?}"
    );
    assert_eq!(farm.total_requests(), 0);
    assert_eq!(farm.stats().tls_handshakes, 0);
}

#[tokio::test]
async fn a_refused_connection_fails_with_connect() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "refused-2.test").await;
    assert_eq!(
        category(&resolution),
        FailureCategory::Connect,
        "{resolution:?}"
    );
}

#[tokio::test]
async fn a_host_that_accepts_and_never_answers_ends_as_timeout_at_the_deadline() {
    let farm = Farm::start().await;
    let resolution = resolve_with(&farm, "hang-1.test", |s| {
        s.domain_timeout = Duration::from_secs(2);
        s.max_tries = 2;
    })
    .await;
    assert_eq!(
        category(&resolution),
        FailureCategory::Timeout,
        "{resolution:?}"
    );
    assert_eq!(resolution.tries, 1, "no retry once the deadline has passed");
}

#[tokio::test]
async fn a_stalled_tls_handshake_times_out_and_the_resolver_falls_back_to_http() {
    let farm = Farm::start().await;
    let resolution = resolve_with(&farm, "tls-stall-1.test", |s| {
        s.connect_timeout = Duration::from_secs(1);
        s.domain_timeout = Duration::from_secs(4);
    })
    .await;
    assert_eq!(
        icon(&resolution).url,
        "http://tls-stall-1.test/i/32x32.png",
        "{resolution:?}"
    );
    assert_eq!(farm.stats().tls_handshakes, 0);
}

#[tokio::test]
async fn a_stalled_handshake_alone_ends_as_timeout() {
    let farm = Farm::start().await;
    // With a deadline shorter than the connect timeout, the handshake is all there is.
    let resolution = resolve_with(&farm, "tls-stall-2.test", |s| {
        s.connect_timeout = Duration::from_secs(3);
        s.domain_timeout = Duration::from_secs(1);
    })
    .await;
    assert_eq!(
        category(&resolution),
        FailureCategory::Timeout,
        "{resolution:?}"
    );
}

#[tokio::test]
async fn error_pages_and_bot_walls_fail_with_http_status() {
    let farm = Farm::start().await;
    for domain in ["server-error-1.test", "forbidden-1.test"] {
        let resolution = resolve(&farm, domain).await;
        assert_eq!(
            category(&resolution),
            FailureCategory::HttpStatus,
            "{domain}: {resolution:?}"
        );
    }
}

#[tokio::test]
async fn redirect_chains_trickled_pages_and_large_pages_give_their_icons() {
    let farm = Farm::start().await;
    let redirects = resolve(&farm, "redirects-3.test").await;
    assert_eq!(
        icon(&redirects).url,
        "https://www.redirects-3.test/en/icon/64x64.png"
    );
    assert_eq!(farm.requests_to("redirects-3.test"), 1);
    assert!(
        farm.requests_to("www.redirects-3.test") >= 4,
        "3 hops and the icon"
    );

    let trickle = resolve(&farm, "trickle-1.test").await;
    assert_eq!(icon(&trickle).url, "https://trickle-1.test/i/32x32.png");

    let large = resolve(&farm, "large-page-1.test").await;
    assert_eq!(
        icon(&large).url,
        "https://large-page-1.test/i/180x180.png",
        "the icons after the 350 KiB script are found"
    );
}

#[tokio::test]
async fn log_normal_latency_still_gives_the_same_answers() {
    let farm = Farm::start_with(FarmConfig {
        latency: Latency::LogNormal {
            median: Duration::from_millis(5),
            sigma: 0.5,
            seed: 3,
        },
    })
    .await;
    let resolution = resolve(&farm, "relative-1.test").await;
    assert_eq!(icon(&resolution).url, "https://relative-1.test/i/32x32.png");
}

#[tokio::test]
async fn a_site_s_page_and_icons_share_one_connection_and_one_handshake() {
    let farm = Farm::start().await;
    // The page links five icons on its own host (a 192 px one among them, so /favicon.ico is
    // not guessed).
    let resolution = resolve(&farm, "sizes-1.test").await;
    assert_eq!(
        icon(&resolution).url,
        "https://sizes-1.test/i/192x192.png",
        "{resolution:?}"
    );
    assert_eq!(farm.requests_to("sizes-1.test"), 6);
    assert_eq!(farm.stats().tls_handshakes, 1, "{:?}", farm.stats());
}

/// A host met again once its connection is gone resumes the TLS session the farm gave as a
/// ticket, as real servers do: no certificate is sent or checked the second time.
#[tokio::test]
async fn a_host_met_again_after_its_connection_closed_resumes_the_tls_session() {
    let farm = Farm::start().await;
    let settings = farm.resolver_settings();
    let resolver = favicon::Resolver::new(&settings).expect("a resolver");
    let domain = favicon::Domain::parse("ico-only-7.test").expect("a valid domain");
    for _ in 0..2 {
        let resolution = resolver.resolve(&domain).await;
        assert_eq!(icon(&resolution).url, "https://ico-only-7.test/favicon.ico");
        // Past the resolver's idle-connection timeout (500 ms, dropped up to 1 s late).
        tokio::time::sleep(Duration::from_millis(1_600)).await;
    }
    let stats = farm.stats();
    assert_eq!(
        (stats.tls_handshakes, stats.tls_resumed),
        (2, 1),
        "{stats:?}"
    );
}
