//! Answering entries: from the result cache when it holds a recent definite answer, else by
//! the resolver, as [`NewResult`]s the data layer writes. The resolver's outcome becomes a
//! record here, so the data layer knows nothing of the resolver. A fetched icon's images are
//! stored ([`IconStorage`]) before its result is written; a cached one reuses the stored copy
//! of the result it copies.

use std::{collections::HashMap, sync::Arc, time::Instant};

use chrono::{DateTime, Utc};
use common::{icon_storage::IconStorage, metrics};
use domain_lists::entries::Entry;
use favicon::{CacheClass, Failure, Icon, Resolution};
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
    todo: Vec<Entry>,
    use_cache: bool,
) -> impl Stream<Item = Answered> + use<> {
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
            let state = resolve.clone();
            async move { answer(&state, entry, cached).await }
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

/// An entry answered, its icons not stored yet: [`store_icons`] stores those of a whole batch
/// at once and fills in the results' stored copies.
#[derive(Debug)]
pub struct Answered {
    /// The result, without its stored copy when freshly fetched.
    pub result: NewResult,
    /// What the resolver found, when it fetched: its images to store.
    pub fetched: Option<(String, Resolution)>,
}

impl Answered {
    /// Bytes of the images this answer keeps in memory until they are stored.
    pub fn image_bytes(&self) -> usize {
        self.fetched
            .as_ref()
            .and_then(|(_, resolution)| resolution.outcome.as_ref().ok())
            .map_or(0, |icon| {
                icon.images.iter().map(|image| image.bytes.len()).sum()
            })
    }
}

/// One entry's answer: invalid at once, copied from the cache, or resolved (its icons stored
/// later, by batch, with [`store_icons`]).
pub async fn answer(state: &WorkerState, entry: Entry, cached: Option<CachedOutcome>) -> Answered {
    let domain = match entry.domain {
        Err(failure) => {
            metrics::invalid_entry();
            return Answered {
                result: invalid(entry.position, entry.key, failure),
                fetched: None,
            };
        }
        Ok(domain) => domain,
    };
    let (outcome, tries, from_cache, cache_class, fetched) = match cached {
        Some(outcome) => {
            metrics::cache_hit(outcome.is_ok());
            (outcome, 0, true, None, None)
        }
        None => {
            let resolution = {
                let _permit = state.domain_permits.acquire().await;
                let started = Instant::now();
                let resolution = state.resolver.resolve(&domain).await;
                let failure = resolution.outcome.as_ref().err();
                metrics::domain_resolved(failure.map(|f| f.category.as_str()), started.elapsed());
                resolution
            };
            let cache_class = resolution.cache_class().map(CacheClass::as_str);
            (
                resolution
                    .outcome
                    .clone()
                    .map(icon_record)
                    .map_err(failure_record),
                i32::try_from(resolution.tries).unwrap_or(i32::MAX),
                false,
                cache_class,
                Some((domain.to_string(), resolution)),
            )
        }
    };
    Answered {
        result: NewResult {
            position: entry.position,
            domain: entry.key,
            outcome,
            tries,
            from_cache,
            cache_class,
        },
        fetched,
    }
}

/// Stores the icons `batch` fetched, all at once ([`IconStorage::record_many`]: one lookup of
/// the icons already stored, one write per new icon, one transaction for the resolutions),
/// and returns the results with their stored copies. When storing fails, the results are still
/// worth writing: they only lack their stored copies.
pub async fn store_icons(
    state: &WorkerState,
    icons: &IconStorage,
    batch: Vec<Answered>,
) -> Vec<NewResult> {
    let fetched: Vec<(usize, &str, &Resolution)> = batch
        .iter()
        .enumerate()
        .filter_map(|(index, answered)| {
            let (domain, resolution) = answered.fetched.as_ref()?;
            Some((index, domain.as_str(), resolution))
        })
        .collect();
    let mut stored_copies = vec![None; batch.len()];
    if !fetched.is_empty() {
        let resolutions: Vec<(&str, &Resolution)> = fetched
            .iter()
            .map(|(_, domain, resolution)| (*domain, *resolution))
            .collect();
        let recorded = {
            let _permit = state.icon_write_permits.acquire().await;
            icons.record_many(&state.db, &resolutions).await
        };
        match recorded {
            Ok(stored) => {
                for ((index, _, _), stored) in fetched.iter().zip(stored) {
                    stored_copies[*index] = stored;
                }
            }
            Err(error) => {
                tracing::warn!(error.message = %error, "could not store the icons of {} domains", fetched.len());
            }
        }
    }
    batch
        .into_iter()
        .zip(stored_copies)
        .map(|(answered, stored)| {
            let mut result = answered.result;
            if let (Ok(icon), Some(stored)) = (&mut result.outcome, stored) {
                icon.stored = Some(stored);
            }
            result
        })
        .collect()
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
