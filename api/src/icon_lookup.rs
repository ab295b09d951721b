//! A domain's stored icons for `/icons/{domain}`: those of its newest resolution while the
//! resolver's cache rule still keeps it, else resolved on demand now, through the same
//! resolver, safety rules and storing as the worker ([`IconStorage::record`]), at most
//! `ICON_LOOKUP_CONCURRENCY` at once (503 `lookup_busy` beyond) and within
//! `ICON_LOOKUP_TIMEOUT_SECS` (504 `lookup_timeout`).

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use common::{ApiConfig, icon_storage::IconStorage};
use favicon::{CacheClass, Domain, Resolver, ResolverError, ResolverSettings};
use sea_orm::DatabaseConnection;
use store::icons::{NewestResolution, StoredImage};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// What a client is told to wait when every lookup is taken.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Stored icons and on-demand lookups, shared by every request of one api instance.
#[derive(Debug)]
pub struct IconLookups {
    resolver: Resolver,
    settings: ResolverSettings,
    storage: IconStorage,
    permits: Semaphore,
    timeout: Duration,
}

impl IconLookups {
    /// Builds the resolver from the api's `RESOLVER_*` settings.
    pub fn new(config: &ApiConfig, storage: IconStorage) -> Result<Self, ResolverError> {
        Ok(Self {
            resolver: Resolver::new(&config.resolver)?,
            settings: config.resolver.clone(),
            storage,
            permits: Semaphore::new(config.icon_lookup.concurrency),
            timeout: config.icon_lookup.timeout,
        })
    }

    /// The images `/icons/{domain}` may serve for `domain` (empty: the site has no icon),
    /// resolving it on demand when its newest resolution is missing or too old.
    pub async fn images(
        &self,
        db: &DatabaseConnection,
        domain: &Domain,
    ) -> Result<Vec<StoredImage>, ApiError> {
        if let Some(newest) = store::icons::newest_resolution(db, domain.as_str()).await?
            && self.is_fresh(&newest)
        {
            return Ok(newest.images);
        }
        let _permit = self
            .permits
            .try_acquire()
            .map_err(|_| ApiError::LookupBusy {
                retry_after: BUSY_RETRY_AFTER,
            })?;
        let lookup = async {
            let resolution = self.resolver.resolve(domain).await;
            if let Err(failure) = &resolution.outcome {
                tracing::info!(domain = %domain, error.message = %failure, "on-demand lookup of {domain} found no icon");
            }
            self.storage
                .record(db, domain.as_str(), &resolution)
                .await
                .map_err(|error| anyhow::Error::new(error).context("failed to store icons"))?;
            anyhow::Ok(())
        };
        tokio::time::timeout(self.timeout, lookup)
            .await
            .map_err(|_| ApiError::LookupTimeout {
                after: self.timeout,
            })??;
        Ok(store::icons::newest_resolution(db, domain.as_str())
            .await?
            .map(|newest| newest.images)
            .unwrap_or_default())
    }

    /// Whether a resolution is still within its class's time to live (the worker's cache
    /// rule); one without a class is never reused.
    fn is_fresh(&self, resolution: &NewestResolution) -> bool {
        let Some(class) = resolution
            .cache_class
            .as_deref()
            .and_then(|name| CacheClass::ALL.into_iter().find(|c| c.as_str() == name))
        else {
            return false;
        };
        let ttl =
            chrono::Duration::from_std(class.ttl(&self.settings)).unwrap_or(chrono::Duration::MAX);
        resolution
            .resolved_at
            .checked_add_signed(ttl)
            .is_none_or(|until| until > Utc::now())
    }

    /// The bytes of the stored icon `hash`.
    pub async fn bytes(&self, hash: &str) -> Result<Bytes, ApiError> {
        self.storage
            .read(hash)
            .await
            .map_err(|error| ApiError::Internal(anyhow::Error::new(error)))
    }
}
