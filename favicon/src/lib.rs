//! Finds a domain's best favicon, fast and safely.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use favicon::{Domain, Resolver, ResolverSettings};
//!
//! let resolver = Resolver::new(&ResolverSettings::default())?;
//! let resolution = resolver.resolve(&Domain::parse("Example.com")?).await;
//! match resolution.outcome {
//!     Ok(icon) => println!("{} ({}x{} {})", icon.url, icon.width, icon.height, icon.format),
//!     Err(failure) => println!("no icon: {failure}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Domain::parse`] turns an entry of a list into a normalised host name (or says why it is
//! none); [`Resolver::resolve`] fetches the home page, collects and fetches the icon
//! candidates and picks the best by real dimensions, within a per-domain deadline and never
//! connecting to a non-public address. What it gives, a [`Resolution`], is an [`Icon`] or a
//! [`Failure`] of a [`FailureCategory`], and says which outcomes a cache may keep and for how
//! long ([`Resolution::cache_class`]). An [`Icon`] carries the bytes of the images verified on
//! the way ([`Icon::images`]: the chosen one first, dark variants, other sizes), so that they
//! can be stored and served without fetching the site again.
//!
//! The library knows nothing of PostgreSQL, S3 or SQS, and reads no environment: it is the
//! resolver of the worker, of `worker resolve`, of the benchmarks and of the fuzz targets,
//! each of which builds [`ResolverSettings`] its own way.

mod cache;
mod domain;
mod resolver;
mod settings;

pub use self::{
    cache::CacheClass,
    domain::{Domain, InvalidDomain},
    resolver::{
        Failure, FailureCategory, Icon, IconImage, IconSource, ImageFormat, Resolution, Resolver,
        ResolverError, Theme,
    },
    settings::{DnsOverrides, InvalidDnsOverride, ResolverSettings, parse_dns_override},
};

/// The home-page parser, for the `html_candidates` fuzz target: it takes any bytes a site
/// sends. Not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::resolver::html::{Candidate, CandidateKind, extract_candidates};
}
