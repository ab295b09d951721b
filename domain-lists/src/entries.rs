//! A file's entries as the worker keeps them: distinct, in order of first appearance, each
//! either a normalised [`Domain`] or the reason it is none. What is kept is what is stored: an
//! invalid entry's text is made storable ([`crate::stored_text`]) before it is compared, so two
//! entries that would be stored alike count once and a redelivery finds them recorded.

use std::collections::HashSet;

use favicon::{Domain, Failure, FailureCategory, InvalidDomain};

use crate::stored_text::{self, MAX_DOMAIN_CHARS, MAX_ERROR_CHARS};

/// One distinct entry of a file.
#[derive(Debug)]
pub struct Entry {
    /// Index among the file's distinct entries, from 0.
    pub position: i32,
    /// The normalised domain, or the entry's storable text when it is invalid: what the
    /// result's `domain` holds.
    pub key: String,
    /// The domain to resolve, or why the entry is none (an `invalid_domain` failure).
    pub domain: Result<Domain, Failure>,
}

impl Entry {
    /// The entry `key` at `position`, read back from a chunk of a large file.
    pub fn from_key(position: i32, key: String) -> Self {
        Self {
            position,
            domain: Domain::parse(&key).map_err(invalid),
            key,
        }
    }
}

/// Why `raw` is no domain, as a failure whose message is storable.
fn invalid(error: InvalidDomain) -> Failure {
    Failure::new(
        FailureCategory::InvalidDomain,
        stored_text::storable(&error.to_string(), MAX_ERROR_CHARS),
    )
}

/// Distinct entries in order of first appearance: valid ones by normalised name, invalid ones
/// by their trimmed, storable text. Stops collecting past `limit` entries (duplicates counted,
/// as the api counts a job's list), so an oversized file costs no more memory than the limit.
#[derive(Debug)]
pub struct DistinctEntries {
    seen: HashSet<String>,
    entries: Vec<Entry>,
    read: usize,
    limit: usize,
}

impl DistinctEntries {
    /// Collects up to `limit` entries.
    pub fn new(limit: usize) -> Self {
        Self {
            seen: HashSet::new(),
            entries: Vec::new(),
            read: 0,
            limit,
        }
    }

    /// More entries were read than the limit allows.
    pub fn too_many(&self) -> bool {
        self.read > self.limit
    }

    /// Entries read, duplicates included.
    pub fn read(&self) -> usize {
        self.read
    }

    /// Takes one raw entry as the reader gave it.
    pub fn push(&mut self, raw: &str) {
        self.read += 1;
        if self.too_many() {
            return;
        }
        let (key, domain) = match Domain::parse(raw) {
            Ok(domain) => (domain.as_str().to_owned(), Ok(domain)),
            Err(error) => (
                stored_text::storable(raw.trim(), MAX_DOMAIN_CHARS).into_owned(),
                Err(invalid(error)),
            ),
        };
        if self.seen.contains(&key) {
            return;
        }
        self.seen.insert(key.clone());
        self.entries.push(Entry {
            position: i32::try_from(self.entries.len()).unwrap_or(i32::MAX),
            key,
            domain,
        });
    }

    /// The distinct entries, in order.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_count_once_and_keep_first_position() {
        let raw = [
            "A.com",
            "https://a.com/x",
            "b.com",
            "not a domain",
            "not a domain",
            "b.com.",
        ];
        let mut distinct = DistinctEntries::new(usize::MAX);
        for raw in raw {
            distinct.push(raw);
        }
        let entries = distinct.into_entries();
        let keys: Vec<_> = entries
            .iter()
            .map(|e| (e.position, e.key.as_str()))
            .collect();
        assert_eq!(keys, [(0, "a.com"), (1, "b.com"), (2, "not a domain")]);
        assert!(
            entries[2]
                .domain
                .as_ref()
                .is_err_and(|e| e.category == FailureCategory::InvalidDomain)
        );
    }

    #[test]
    fn entries_past_the_limit_are_counted_not_kept() {
        let mut distinct = DistinctEntries::new(2);
        for raw in ["a.com", "a.com", "b.com", "c.com"] {
            distinct.push(raw);
        }
        assert!(distinct.too_many());
        assert_eq!(distinct.read(), 4);
        assert_eq!(
            distinct.into_entries().len(),
            1,
            "stopped collecting at the limit"
        );
    }

    #[test]
    fn invalid_entries_are_kept_as_storable_text() {
        let mut distinct = DistinctEntries::new(usize::MAX);
        let long = "x".repeat(1_000_000);
        for raw in ["nul\0job.example.com", "nul\u{FFFD}job.example.com", &long] {
            distinct.push(raw);
        }
        let entries = distinct.into_entries();
        assert_eq!(entries.len(), 2, "stored alike, counted once");
        assert_eq!(entries[0].key, "nul\u{FFFD}job.example.com");
        assert_eq!(entries[1].key.chars().count(), MAX_DOMAIN_CHARS);
        for entry in &entries {
            let failure = entry.domain.as_ref().expect_err("invalid");
            assert!(stored_text::is_storable(
                &failure.to_string(),
                MAX_ERROR_CHARS + 20
            ));
            assert!(stored_text::is_storable(&entry.key, MAX_DOMAIN_CHARS));
        }
    }
}
