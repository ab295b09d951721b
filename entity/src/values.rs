//! Value types stored in the tables, as the database spells them.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a file is in the pipeline. `Completed`, `Failed` and `Cancelled` are terminal (a
/// COMPLETED file is reopened only by a retry of its failed results).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FileStatus {
    /// Stored and announced; no worker has started it.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// A worker is resolving its domains.
    #[sea_orm(string_value = "PROCESSING")]
    Processing,
    /// Every distinct domain has a result (some may have failed).
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    /// The file could not be processed; `error_message` says why.
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Its owner cancelled it while PENDING or PROCESSING; the results recorded before stay.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

impl FileStatus {
    /// True for the statuses a file never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The name used in the database, the API and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

impl std::str::FromStr for FileStatus {
    type Err = UnknownValue;

    /// Accepts any case, as users type status filters by hand.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Ok(Self::Pending),
            "PROCESSING" => Ok(Self::Processing),
            "COMPLETED" => Ok(Self::Completed),
            "FAILED" => Ok(Self::Failed),
            "CANCELLED" => Ok(Self::Cancelled),
            _ => Err(UnknownValue(s.to_owned())),
        }
    }
}

/// The format of an uploaded domain list.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// Comma-separated values, with or without a header.
    #[sea_orm(string_value = "csv")]
    Csv,
    /// Tab-separated values (as spreadsheets export them), with or without a header.
    #[sea_orm(string_value = "tsv")]
    Tsv,
    /// A JSON array of domains or objects, or `{"domains": [...]}`.
    #[sea_orm(string_value = "json")]
    Json,
    /// Newline-delimited JSON: one domain (a string, or an object with `domain` or `url`)
    /// per line.
    #[sea_orm(string_value = "ndjson")]
    Ndjson,
}

impl FileType {
    /// The file extension and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
        }
    }
}

/// The outcome for one domain.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    /// A favicon was found; `favicon_url` holds it.
    #[sea_orm(string_value = "success")]
    Success,
    /// No favicon; `error` says why, prefixed by a category such as `invalid_domain:`.
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl ResultStatus {
    /// The database and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for ResultStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "success" => Ok(Self::Success),
            "failed" => Ok(Self::Failed),
            _ => Err(UnknownValue(s.to_owned())),
        }
    }
}

/// A string that names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue(pub String);

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown value `{}`", self.0)
    }
}

impl std::error::Error for UnknownValue {}
