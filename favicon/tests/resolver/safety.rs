//! Addresses the resolver must not reach unless allowed, and transport failures.

use favicon::FailureCategory;
use test_support::farm::Farm;

use crate::{category, icon, resolve, resolve_with};

#[tokio::test]
async fn a_name_resolving_to_loopback_or_a_private_address_is_blocked() {
    let farm = Farm::start().await;
    let loopback = resolve(&farm, "loopback.test").await;
    assert_eq!(category(&loopback), FailureCategory::Blocked);
    assert_eq!(loopback.tries, 1, "blocked is final");
    assert_eq!(
        category(&resolve(&farm, "private.test").await),
        FailureCategory::Blocked
    );
    assert_eq!(farm.requests_to("loopback.test"), 0);
    assert_eq!(farm.requests_to("private.test"), 0);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_fetched_when_private_addresses_are_allowed() {
    let farm = Farm::start().await;
    let resolution = resolve_with(&farm, "loopback.test", |s| s.allow_private = true).await;
    assert_eq!(icon(&resolution).url, "https://loopback.test/favicon.ico");
}

#[tokio::test]
async fn a_redirect_to_cloud_metadata_is_blocked() {
    let farm = Farm::start().await;
    let resolution = resolve(&farm, "metadata-redirect.test").await;
    assert_eq!(category(&resolution), FailureCategory::Blocked);
    assert!(
        format!("{:?}", resolution.outcome).contains("169.254.169.254"),
        "{resolution:?}"
    );
    assert_eq!(farm.requests_to("169.254.169.254"), 0);
}

#[tokio::test]
async fn a_redirect_to_cloud_metadata_is_followed_when_private_addresses_are_allowed() {
    let farm = Farm::start().await;
    // connect_to also carries IP-literal URLs, so nothing leaves the machine.
    let resolution =
        resolve_with(&farm, "metadata-redirect.test", |s| s.allow_private = true).await;
    assert_eq!(icon(&resolution).url, "http://169.254.169.254/favicon.ico");
    assert!(farm.requests_to("169.254.169.254") >= 2);
}

#[tokio::test]
async fn a_refused_connection_fails_with_connect_and_is_not_retried() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address")
    };
    let farm = Farm::start().await;
    let resolution = resolve_with(&farm, "relative.test", |s| {
        s.connect_to = Some(closed);
        s.max_tries = 3;
    })
    .await;
    assert_eq!(category(&resolution), FailureCategory::Connect);
    let Err(failure) = &resolution.outcome else {
        unreachable!("a failure");
    };
    assert!(failure.refused, "{failure}");
    // Nothing listens there: bare and www., https and http were all refused, and trying
    // them all again at once is pointless.
    assert_eq!(resolution.tries, 1);
}
