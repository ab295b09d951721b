//! Answering entries: from the result cache when it holds a recent definite answer, else by
//! the resolver, as [`NewResult`]s the data layer writes. The resolver's outcome becomes a
//! record here, so the data layer knows nothing of the resolver. A fetched icon's images are
//! stored ([`IconStorage`]) before its result is written; a cached one reuses the stored copy
//! of the result it copies.

use std::{collections::HashMap, sync::Arc, time::Instant};

use chrono::{DateTime, Utc};
use common::{icon_storage::IconStorage, metrics};
use domain_lists::entries::Entry;
use favicon::{CacheClass, Failure, Icon};
use futures::{Stream, StreamExt};
use store::results::{FailureRecord, IconRecord, NewResult};

use crate::state::WorkerState;

/// Domains looked up in the cache with one query.
const CACHE_LOOKUP_BATCH: usize = 500;

/// What the cache holds for a domain.
type CachedOutcome = Result<IconRecord, FailureRecord>;

/// The result of each of `todo`, in the order they are answered, at most
/// `WORKER_DOMAIN_CONCURRENCY` resolving at once across all files; from the cache when
/// `use_cache` and it holds a recent answer (a retry never uses it: it could copy the very
/// failure being retried).
pub fn answer_all(
    state: &Arc<WorkerState>,
    icons: IconStorage,
    todo: Vec<Entry>,
    use_cache: bool,
) -> impl Stream<Item = NewResult> + use<> {
    let (lookup, resolve) = (state.clone(), state.clone());
    futures::stream::iter(todo)
        .chunks(CACHE_LOOKUP_BATCH)
        .then(move |entries| {
            let state = lookup.clone();
            async move {
                if use_cache {
                    with_cached_outcomes(&state, entries).await
                } else {
                    entries.into_iter().map(|entry| (entry, None)).collect()
                }
            }
        })
        .flat_map(futures::stream::iter)
        .map(move |(entry, cached)| {
            let (state, icons) = (resolve.clone(), icons.clone());
            async move { answer(&state, &icons, entry, cached).await }
        })
        .buffer_unordered(state.settings.worker.domain_concurrency)
}

/// The result of an entry that is no domain: failed at once, never fetched nor cached.
pub fn invalid(position: i32, key: String, failure: Failure) -> NewResult {
    NewResult {
        position,
        domain: key,
        outcome: Err(failure_record(failure)),
        tries: 0,
        from_cache: false,
        cache_class: None,
    }
}

/// `entries`, each with its cached outcome when the cache has a recent one. A failed lookup
/// only costs the fetches it would have saved.
async fn with_cached_outcomes(
    state: &WorkerState,
    entries: Vec<Entry>,
) -> Vec<(Entry, Option<CachedOutcome>)> {
    let now = Utc::now();
    let fresh: Vec<(&str, DateTime<Utc>)> = CacheClass::ALL
        .into_iter()
        .map(|class| (class, class.ttl(&state.settings.resolver)))
        .filter(|(_, ttl)| !ttl.is_zero())
        .map(|(class, ttl)| {
            let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
            (
                class.as_str(),
                now.checked_sub_signed(ttl)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
            )
        })
        .collect();
    let mut cached = HashMap::new();
    if !fresh.is_empty() {
        let domains = entries
            .iter()
            .filter(|entry| entry.domain.is_ok())
            .map(|entry| entry.key.clone())
            .collect();
        match store::cache::recent_outcomes(&state.db, domains, &fresh).await {
            Ok(found) => cached = found,
            Err(error) => {
                tracing::warn!(error.message = %error, "cache lookup failed; resolving instead");
            }
        }
    }
    entries
        .into_iter()
        .map(|entry| {
            let hit = cached.remove(&entry.key);
            (entry, hit)
        })
        .collect()
}

/// One entry's result: invalid at once, copied from the cache, or resolved (and its icons
/// stored in `icons`).
pub async fn answer(
    state: &WorkerState,
    icons: &IconStorage,
    entry: Entry,
    cached: Option<CachedOutcome>,
) -> NewResult {
    let domain = match entry.domain {
        Err(failure) => {
            metrics::invalid_entry();
            return invalid(entry.position, entry.key, failure);
        }
        Ok(domain) => domain,
    };
    let (outcome, tries, from_cache, cache_class) = match cached {
        Some(outcome) => {
            metrics::cache_hit(outcome.is_ok());
            (outcome, 0, true, None)
        }
        None => {
            let _permit = state.domain_permits.acquire().await;
            let started = Instant::now();
            let resolution = state.resolver.resolve(&domain).await;
            let failure = resolution.outcome.as_ref().err();
            metrics::domain_resolved(failure.map(|f| f.category.as_str()), started.elapsed());
            let cache_class = resolution.cache_class().map(CacheClass::as_str);
            let recorded = async {
                let _permit = state.icon_write_permits.acquire().await;
                icons.record(&state.db, domain.as_str(), &resolution).await
            };
            let stored = match recorded.await {
                Ok(stored) => stored,
                Err(error) => {
                    // The result is still worth writing: it only lacks its stored copy.
                    tracing::warn!(domain = %domain, error.message = %error, "could not store the icons of {domain}");
                    None
                }
            };
            (
                resolution
                    .outcome
                    .map(|icon| IconRecord {
                        stored,
                        ..icon_record(icon)
                    })
                    .map_err(failure_record),
                i32::try_from(resolution.tries).unwrap_or(i32::MAX),
                false,
                cache_class,
            )
        }
    };
    NewResult {
        position: entry.position,
        domain: entry.key,
        outcome,
        tries,
        from_cache,
        cache_class,
    }
}

/// A found icon as the data layer stores it.
pub fn icon_record(icon: Icon) -> IconRecord {
    IconRecord {
        url: icon.url,
        format: icon.format.as_str().to_owned(),
        width: i32::try_from(icon.width).unwrap_or(i32::MAX),
        height: i32::try_from(icon.height).unwrap_or(i32::MAX),
        bytes: i64::try_from(icon.bytes).unwrap_or(i64::MAX),
        source: icon.source.as_str().to_owned(),
        stored: None,
    }
}

/// A failure as the data layer stores it: its category and `category: detail`.
pub fn failure_record(failure: Failure) -> FailureRecord {
    FailureRecord {
        category: failure.category.as_str().to_owned(),
        message: failure.to_string(),
    }
}
