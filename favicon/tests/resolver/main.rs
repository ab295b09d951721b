//! The resolver against the local web farm: every case of the issue, each asserting the exact
//! chosen URL or the exact failure category. No database or LocalStack needed.

#![expect(clippy::expect_used, reason = "tests")]

mod cases;
mod images;
mod network;
mod realworld;
mod safety;

use favicon::{Domain, FailureCategory, Icon, Resolution, Resolver, ResolverSettings};
use test_support::farm::Farm;

/// Resolves `domain` against `farm` with the farm's settings changed by `adjust`.
async fn resolve_with(
    farm: &Farm,
    domain: &str,
    adjust: impl FnOnce(&mut ResolverSettings),
) -> Resolution {
    test_support::init_tracing();
    let mut settings = farm.resolver_settings();
    adjust(&mut settings);
    let resolver = Resolver::new(&settings).expect("a resolver");
    let domain = Domain::parse(domain).expect("a valid domain");
    resolver.resolve(&domain).await
}

/// Resolves `domain` against `farm` with the farm's settings (private addresses blocked).
async fn resolve(farm: &Farm, domain: &str) -> Resolution {
    resolve_with(farm, domain, |_| {}).await
}

/// The chosen icon, or a panic naming the failure.
fn icon(resolution: &Resolution) -> &Icon {
    match &resolution.outcome {
        Ok(icon) => icon,
        Err(failure) => panic!("expected an icon, got {failure}"),
    }
}

/// The failure category, or a panic naming the icon.
fn category(resolution: &Resolution) -> FailureCategory {
    match &resolution.outcome {
        Ok(icon) => panic!("expected a failure, got {icon:?}"),
        Err(failure) => failure.category,
    }
}

/// Resolves each `(domain, expected URL)` on one farm and checks every URL.
async fn assert_icons(cases: &[(&str, &str)]) {
    let farm = Farm::start().await;
    for (domain, expected) in cases {
        let resolution = resolve(&farm, domain).await;
        assert_eq!(icon(&resolution).url, *expected, "{domain}");
    }
}
