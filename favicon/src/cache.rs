//! The cache rule, in one place: which outcomes a cache may keep, and for how long
//! ([`Resolution::cache_class`] says why). Whoever stores results stores what it is told.

use std::time::Duration;

use crate::{Failure, FailureCategory, Icon, Resolution, ResolverSettings};

impl Resolution {
    /// Whether a cache shared by later lookups may answer them with this outcome, and under
    /// which time to live ([`CacheClass::ttl`]); `None` when they must resolve again.
    ///
    /// Only definite answers are kept, the ones asking again soon would get again: the icon
    /// that was found, a name that does not exist (NXDOMAIN), and a site's own answer without
    /// an icon (an error status that is not temporary, no image, no icon, an icon too large).
    /// Each has its own time to live. Time-outs, refused or broken connections, TLS failures,
    /// temporary DNS failures (SERVFAIL, no answer) and 5xx or 429 answers are never kept: they
    /// describe a moment, not the site, and the cache is shared by every client, so one passing
    /// outage would otherwise stick to everybody's files. Blocked addresses are not kept
    /// either: they are cheap to find again and follow the resolver's settings.
    ///
    /// The class is decided when the outcome is fetched and stored with it; its time to live
    /// is read from the settings when it is looked up, so changing a setting applies to
    /// outcomes already stored.
    pub fn cache_class(&self) -> Option<CacheClass> {
        CacheClass::of(&self.outcome)
    }
}

/// What kind of definite answer a resolution holds, for a cache ([`Resolution::cache_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheClass {
    /// The icon was found (`RESOLVER_CACHE_TTL_SECS`).
    Icon,
    /// The name does not exist (`RESOLVER_CACHE_NXDOMAIN_TTL_SECS`).
    NoSuchName,
    /// The site answered, without a usable icon (`RESOLVER_CACHE_FAILURE_TTL_SECS`).
    SiteAnswer,
}

impl CacheClass {
    /// Every class.
    pub const ALL: [Self; 3] = [Self::Icon, Self::NoSuchName, Self::SiteAnswer];

    /// The class of a freshly fetched outcome, or `None` when it must not be copied.
    fn of(outcome: &Result<Icon, Failure>) -> Option<Self> {
        match outcome {
            Ok(_) => Some(Self::Icon),
            Err(failure) if !failure.definite => None,
            Err(failure) => match failure.category {
                FailureCategory::Dns => Some(Self::NoSuchName),
                FailureCategory::HttpStatus
                | FailureCategory::NotImage
                | FailureCategory::NoIcon
                | FailureCategory::TooLarge => Some(Self::SiteAnswer),
                FailureCategory::InvalidDomain
                | FailureCategory::Connect
                | FailureCategory::Tls
                | FailureCategory::Timeout
                | FailureCategory::Blocked => None,
            },
        }
    }

    /// How long a result of this class is copied; zero disables it.
    pub fn ttl(self, settings: &ResolverSettings) -> Duration {
        match self {
            Self::Icon => settings.cache_ttl,
            Self::NoSuchName => settings.cache_nxdomain_ttl,
            Self::SiteAnswer => settings.cache_failure_ttl,
        }
    }

    /// The class's stable name, for storing it with a result (the worker's `results.cache_class`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Icon => "icon",
            Self::NoSuchName => "no_such_name",
            Self::SiteAnswer => "site_answer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IconSource, ImageFormat};

    fn failure(category: FailureCategory) -> Result<Icon, Failure> {
        Err(Failure::new(category, "detail"))
    }

    #[test]
    fn only_definite_answers_are_cached() {
        let icon = Icon {
            url: "https://a.com/favicon.ico".to_owned(),
            format: ImageFormat::Ico,
            width: 16,
            height: 16,
            bytes: 100,
            source: IconSource::Fallback,
            images: Vec::new(),
        };
        assert_eq!(CacheClass::of(&Ok(icon)), Some(CacheClass::Icon));
        let nxdomain = Err(Failure::new(FailureCategory::Dns, "gone").with_definite(true));
        assert_eq!(CacheClass::of(&nxdomain), Some(CacheClass::NoSuchName));
        assert_eq!(CacheClass::of(&failure(FailureCategory::Dns)), None);
        for answered in [
            FailureCategory::HttpStatus,
            FailureCategory::NotImage,
            FailureCategory::NoIcon,
            FailureCategory::TooLarge,
        ] {
            assert_eq!(
                CacheClass::of(&failure(answered)),
                Some(CacheClass::SiteAnswer),
                "{answered}"
            );
        }
        let unavailable =
            Err(Failure::new(FailureCategory::HttpStatus, "503").with_definite(false));
        assert_eq!(CacheClass::of(&unavailable), None);
        for passing in [
            FailureCategory::Connect,
            FailureCategory::Timeout,
            FailureCategory::Tls,
            FailureCategory::Blocked,
            FailureCategory::InvalidDomain,
        ] {
            assert_eq!(CacheClass::of(&failure(passing)), None, "{passing}");
        }
    }

    #[test]
    fn each_class_has_its_own_time_to_live() {
        let settings = ResolverSettings::default();
        assert_eq!(CacheClass::Icon.ttl(&settings), Duration::from_secs(86_400));
        assert_eq!(
            CacheClass::NoSuchName.ttl(&settings),
            Duration::from_secs(3_600)
        );
        assert_eq!(
            CacheClass::SiteAnswer.ttl(&settings),
            Duration::from_secs(21_600)
        );
    }
}
