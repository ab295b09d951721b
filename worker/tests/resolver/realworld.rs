//! The farm's real-world hosts, as the resolver sees them. Deadlines are short; only outcomes
//! are asserted, never elapsed times.

use test_support::farm::Farm;

use crate::{icon, resolve};

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
}
