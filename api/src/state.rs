//! What every handler can reach.

use std::sync::Arc;

use common::{ApiConfig, aws::AwsClients};
use entity::files;
use sea_orm::DatabaseConnection;

use crate::{
    announcer::Announcer, auth_failures::AuthFailures, icon_lookup::IconLookups,
    key_cache::KeyCache, live::LiveChanges, rate_limit::RateLimiter, upload::UploadCapacity,
};

/// Shared, cheaply cloned handler state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The PostgreSQL pool for writes, and reads that go with them.
    pub db: DatabaseConnection,
    /// A separate pool (`DATABASE_READ_CONNECTIONS`) for reads that take no lock: the API key
    /// lookups of `GET` requests, file lookups and lists, result pages. Never waits behind
    /// uploads, whose transactions can wait on locks.
    pub reads: DatabaseConnection,
    /// S3 and SNS (SQS is the worker's).
    pub aws: AwsClients,
    /// Where new files' events wait for the next `PublishBatch`.
    pub announcer: Announcer<files::Model>,
    /// The configuration the app was built with.
    pub settings: Arc<ApiConfig>,
    /// Per-client token buckets, checked when a request authenticates.
    pub rate_limiter: Arc<RateLimiter>,
    /// Failed authentications per peer address, checked before a key is looked up.
    pub auth_failures: Arc<AuthFailures>,
    /// Clients of API keys found recently (`API_KEY_CACHE_SECS`), dropped when the database
    /// announces a key change.
    pub key_cache: Arc<KeyCache>,
    /// Uploads in progress, per client and in buffer bytes.
    pub uploads: Arc<UploadCapacity>,
    /// File changes heard from the database, and the event streams open on this instance.
    pub live: Arc<LiveChanges>,
    /// Stored icons, and on-demand lookups of domains without fresh ones.
    pub icons: Arc<IconLookups>,
}
