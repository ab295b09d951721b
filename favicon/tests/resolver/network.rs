//! Name resolution, politeness and connection failures: a local DNS server for real lookups
//! (no `connect_to`) and a slow shared icon host for the per-host limits. Only outcomes and
//! counts are asserted, never elapsed times.

use std::time::Duration;

use favicon::{Domain, FailureCategory, Resolution, Resolver, ResolverSettings};
use futures::{StreamExt, stream};
use test_support::farm::{
    Farm,
    dns::{DnsAnswer, DnsServer},
};

use crate::{category, icon};

/// Settings that look names up at `server` only, with short DNS time-outs and a long domain
/// deadline (a DNS failure must come from DNS, not from the deadline).
fn asking(server: &DnsServer) -> ResolverSettings {
    ResolverSettings {
        domain_timeout: Duration::from_secs(60),
        dns_servers: vec![server.addr],
        dns_timeout: Duration::from_millis(300),
        dns_attempts: 2,
        max_tries: 1,
        ..ResolverSettings::default()
    }
}

async fn resolve_at(settings: &ResolverSettings, domain: &str) -> Resolution {
    test_support::init_tracing();
    let resolver = Resolver::new(settings).expect("a resolver");
    resolver
        .resolve(&Domain::parse(domain).expect("a valid domain"))
        .await
}

#[tokio::test]
async fn a_bare_name_that_does_not_exist_is_looked_up_once_and_www_not_at_all() {
    let server = DnsServer::start(&[]).await;
    let resolution = resolve_at(&asking(&server), "gone.test").await;
    let Err(failure) = &resolution.outcome else {
        panic!("expected a failure, got {resolution:?}");
    };
    assert_eq!(failure.category, FailureCategory::Dns, "{failure}");
    assert!(failure.definite, "NXDOMAIN is the name's own answer");
    assert_eq!(server.queries_for("www.gone.test"), 0, "RFC 8020");
    // One A query: NXDOMAIN ends it (no AAAA), and neither http:// nor www. is tried.
    assert_eq!(server.queries_for("gone.test"), 1);
}

#[tokio::test]
async fn a_bare_name_without_an_address_still_has_its_www_asked() {
    // NODATA (the name exists, with no address; e.g. mail only): `www.` may have one.
    let server = DnsServer::start(&[
        ("mail-only.test", DnsAnswer::NoAddress),
        ("www.mail-only.test", DnsAnswer::NoAddress),
    ])
    .await;
    let resolution = resolve_at(&asking(&server), "mail-only.test").await;
    let Err(failure) = &resolution.outcome else {
        panic!("expected a failure, got {resolution:?}");
    };
    assert_eq!(failure.category, FailureCategory::Dns, "{failure}");
    assert!(failure.definite, "no address, at either name");
    assert!(server.queries_for("www.mail-only.test") > 0);
}

#[tokio::test]
async fn a_server_failure_or_no_answer_is_a_temporary_dns_failure_before_the_deadline() {
    let server = DnsServer::start(&[
        ("broken.test", DnsAnswer::ServerFailure),
        ("www.broken.test", DnsAnswer::ServerFailure),
        ("silent.test", DnsAnswer::Silence),
        ("www.silent.test", DnsAnswer::Silence),
    ])
    .await;
    for domain in ["broken.test", "silent.test"] {
        let resolution = resolve_at(&asking(&server), domain).await;
        let Err(failure) = &resolution.outcome else {
            panic!("{domain}: expected a failure, got {resolution:?}");
        };
        // Dns, not Timeout: the DNS time-out ended it, long before the 60 s deadline.
        assert_eq!(
            failure.category,
            FailureCategory::Dns,
            "{domain}: {failure}"
        );
        assert!(!failure.definite, "{domain}: may pass");
        // Not definite: `www.` is still worth asking.
        assert!(server.queries_for(&format!("www.{domain}")) > 0, "{domain}");
    }
}

#[tokio::test]
async fn a_name_answering_a_private_address_is_blocked() {
    let server = DnsServer::start(&[(
        "inside.test",
        DnsAnswer::Address("192.168.1.10".parse().expect("an address")),
    )])
    .await;
    let resolution = resolve_at(&asking(&server), "inside.test").await;
    assert_eq!(
        category(&resolution),
        FailureCategory::Blocked,
        "{resolution:?}"
    );
}

/// Resolves `absolute-1.test` .. `absolute-N.test` at once; their icons all live on
/// `static.test`. Returns the number that got their own icon.
async fn resolve_sites_sharing_one_icon_host(
    farm: &Farm,
    sites: usize,
    adjust: impl FnOnce(&mut ResolverSettings),
) -> usize {
    let mut settings = farm.resolver_settings();
    adjust(&mut settings);
    let resolver = Resolver::new(&settings).expect("a resolver");
    stream::iter(1..=sites)
        .map(|n| {
            let resolver = resolver.clone();
            async move {
                let domain = Domain::parse(&format!("absolute-{n}.test")).expect("a domain");
                let resolution = resolver.resolve(&domain).await;
                let expected = format!("https://static.test/abs/{n}/48x48.png");
                resolution
                    .outcome
                    .as_ref()
                    .is_ok_and(|icon| icon.url == expected)
            }
        })
        .buffer_unordered(sites)
        .filter(|succeeded| futures::future::ready(*succeeded))
        .count()
        .await
}

#[tokio::test]
async fn a_slow_shared_icon_host_slows_its_domains_down_without_failing_them() {
    const SITES: usize = 200;
    let farm = Farm::start().await;
    farm.slow_down("static.test", Duration::from_millis(500));
    // 200 icons × 500 ms over 16 places is 6.3 s of waiting, past the 4 s deadline.
    let succeeded = resolve_sites_sharing_one_icon_host(&farm, SITES, |s| {
        s.domain_timeout = Duration::from_secs(4);
    })
    .await;
    let peak = farm.peak_concurrent_requests_to("static.test");
    eprintln!(
        "{succeeded}/{SITES} domains succeeded; static.test: {} requests, at most {peak} at once",
        farm.requests_to("static.test")
    );
    assert_eq!(succeeded, SITES);
    assert!(peak <= 16, "{peak} requests at once on static.test");
    assert!(peak > 4, "static files get more places than pages: {peak}");
}

#[tokio::test]
async fn without_the_wait_pushing_the_deadline_back_a_shared_host_fails_domains() {
    const SITES: usize = 200;
    let farm = Farm::start().await;
    farm.slow_down("static.test", Duration::from_millis(500));
    // The former behaviour: 4 places, waits counted against the deadline.
    let succeeded = resolve_sites_sharing_one_icon_host(&farm, SITES, |s| {
        s.domain_timeout = Duration::from_secs(4);
        s.static_host_concurrency = 4;
        s.max_host_wait = Duration::ZERO;
    })
    .await;
    let peak = farm.peak_concurrent_requests_to("static.test");
    eprintln!("former limits: {succeeded}/{SITES} domains succeeded, at most {peak} at once");
    assert!(succeeded < SITES, "{succeeded}");
    assert!(peak <= 4, "{peak}");
}

#[tokio::test]
async fn one_site_resolved_many_times_at_once_keeps_its_page_limit() {
    let farm = Farm::start().await;
    farm.slow_down("relative-1.test", Duration::from_millis(200));
    let resolver = Resolver::new(&ResolverSettings {
        domain_timeout: Duration::from_secs(2),
        ..farm.resolver_settings()
    })
    .expect("a resolver");
    let domain = Domain::parse("relative-1.test").expect("a domain");
    let resolutions: Vec<Resolution> = stream::iter(0..24)
        .map(|_| resolver.resolve(&domain))
        .buffer_unordered(24)
        .collect()
        .await;
    for resolution in &resolutions {
        assert_eq!(icon(resolution).url, "https://relative-1.test/i/32x32.png");
    }
    let peak = farm.peak_concurrent_requests_to("relative-1.test");
    eprintln!("relative-1.test x24: at most {peak} requests at once (pages 4 + files 16)");
    assert!(peak <= 4 + 16, "{peak}");
}
