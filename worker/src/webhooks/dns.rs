//! Name resolution for webhook requests that only ever yields allowed addresses
//! ([`common::callback_url::is_allowed`]): a callback name checked public at registration may
//! resolve to a private address by delivery time (DNS rebinding), and the address connected
//! to is the one checked here.

use std::net::SocketAddr;

use common::{callback_url::is_allowed, config::CallbackUrlRules};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A name whose addresses are all refused.
#[derive(Debug, thiserror::Error)]
#[error("{name} is not a public address ({addresses})")]
struct NotPublic {
    name: String,
    addresses: String,
}

/// Resolves through the system and drops every address the rules refuse.
#[derive(Debug, Clone)]
pub struct AllowedAddressesOnly(pub CallbackUrlRules);

impl Resolve for AllowedAddressesOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.0.clone();
        Box::pin(async move {
            let name = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|address| is_allowed(address.ip(), &rules))
                .collect();
            if allowed.is_empty() {
                let addresses: Vec<String> = found
                    .iter()
                    .map(|address| address.ip().to_string())
                    .collect();
                return Err(Box::new(NotPublic {
                    name,
                    addresses: addresses.join(", "),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_addresses_are_never_yielded_unless_allowed() {
        let strict = AllowedAddressesOnly(CallbackUrlRules {
            allow_private: false,
        });
        let error = match strict.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains("not a public address"), "{error}");
        let lax = AllowedAddressesOnly(CallbackUrlRules {
            allow_private: true,
        });
        assert!(lax.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
