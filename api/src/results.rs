//! Reading a file's results: pages for the API and batches for the CSV download.

use entity::{FileStatus, ResultStatus, files, results};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;

/// One domain's result as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultView {
    /// Index of the domain among the file's distinct entries, from 0.
    pub position: i32,
    /// The normalised domain (or the raw entry when it was invalid).
    pub domain: String,
    /// The favicon's URL, on success.
    pub favicon_url: Option<String>,
    /// What the favicon is, on success.
    pub icon: Option<IconView>,
    /// `success` or `failed`.
    pub status: ResultStatus,
    /// Why it failed, by kind: `invalid_domain`, `dns`, `connect`, `tls`, `timeout`,
    /// `http_status`, `not_image`, `no_icon`, `blocked` or `too_large`.
    pub error_category: Option<String>,
    /// Why it failed: `category: detail`.
    pub error: Option<String>,
    /// Fetch attempts made.
    pub tries: i32,
    /// Answered from a recent result of the same domain, without fetching.
    pub from_cache: bool,
}

/// The chosen icon, as read from its bytes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IconView {
    /// `ico`, `png`, `gif`, `jpeg`, `webp`, `bmp` or `svg`.
    pub format: String,
    /// Width in pixels (the largest entry of an ICO; 0 for an SVG without a size).
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Size in bytes.
    pub bytes: i64,
    /// Where it was declared: `link`, `manifest` or `fallback`.
    pub source: String,
}

impl From<results::Model> for ResultView {
    fn from(result: results::Model) -> Self {
        let icon = match (result.icon_format, result.icon_source) {
            (Some(format), Some(source)) => Some(IconView {
                format,
                width: result.icon_width.unwrap_or_default(),
                height: result.icon_height.unwrap_or_default(),
                bytes: result.icon_bytes.unwrap_or_default(),
                source,
            }),
            _ => None,
        };
        Self {
            position: result.position,
            domain: result.domain,
            favicon_url: result.favicon_url,
            icon,
            status: result.status,
            error_category: result.error_category,
            error: result.error,
            tries: result.tries,
            from_cache: result.from_cache,
        }
    }
}

/// Which results to page through.
#[derive(Debug, Clone, Copy)]
pub struct ResultsPage {
    /// Only this status, or all.
    pub status: Option<ResultStatus>,
    /// From 1.
    pub page: u64,
    /// Items per page.
    pub per_page: u64,
}

/// One page of `file`'s results in position order, and how many match in all.
///
/// The total comes from the file's counters (kept exact by the worker), not from a count.
/// A COMPLETED file's positions are dense, so an unfiltered page is a range of positions and
/// deep pages cost the same as the first; otherwise the index `(file_id, status, position)`
/// serves an offset scan.
pub async fn page(
    db: &DatabaseConnection,
    file: &files::Model,
    query: ResultsPage,
) -> Result<(Vec<results::Model>, u64), DbErr> {
    let total = match query.status {
        None => file.succeeded_count + file.failed_count,
        Some(ResultStatus::Success) => file.succeeded_count,
        Some(ResultStatus::Failed) => file.failed_count,
    };
    let offset = (query.page - 1).saturating_mul(query.per_page);
    let mut select = results::Entity::find().filter(results::Column::FileId.eq(file.id));
    if let Some(status) = query.status {
        select = select.filter(results::Column::Status.eq(status));
    }
    select = select.order_by_asc(results::Column::Position);
    let items = if query.status.is_none() && file.status == FileStatus::Completed {
        let start = i64::try_from(offset).unwrap_or(i64::MAX);
        let end = start.saturating_add(i64::try_from(query.per_page).unwrap_or(i64::MAX));
        select
            .filter(results::Column::Position.gte(start))
            .filter(results::Column::Position.lt(end))
            .all(db)
            .await?
    } else {
        select.offset(offset).limit(query.per_page).all(db).await?
    };
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

/// Up to `limit` results of `file_id` after position `after`, for streaming downloads.
pub async fn batch_after(
    db: &DatabaseConnection,
    file_id: uuid::Uuid,
    after: i32,
    limit: u64,
) -> Result<Vec<results::Model>, DbErr> {
    results::Entity::find()
        .filter(results::Column::FileId.eq(file_id))
        .filter(results::Column::Position.gt(after))
        .order_by_asc(results::Column::Position)
        .limit(limit)
        .all(db)
        .await
}

/// A cell that a spreadsheet would not run as a formula: values starting with `=`, `+`, `-`,
/// `@`, tab or carriage return get a leading `'` (OWASP's advice for CSV injection).
pub fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// The CSV header of downloads.
pub const CSV_HEADER: &[&str] = &[
    "domain",
    "favicon_url",
    "status",
    "format",
    "width",
    "height",
    "bytes",
    "source",
    "error_category",
    "error",
    "tries",
];

/// Renders results as CSV rows (RFC 4180 quoting, formula cells escaped).
pub fn csv_rows(rows: &[results::Model], with_header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 96));
    if with_header {
        writer.write_record(CSV_HEADER)?;
    }
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for row in rows {
        writer.write_record([
            spreadsheet_safe(&row.domain).as_ref(),
            spreadsheet_safe(row.favicon_url.as_deref().unwrap_or_default()).as_ref(),
            row.status.as_str(),
            row.icon_format.as_deref().unwrap_or_default(),
            &number(row.icon_width.map(i64::from)),
            &number(row.icon_height.map(i64::from)),
            &number(row.icon_bytes),
            row.icon_source.as_deref().unwrap_or_default(),
            row.error_category.as_deref().unwrap_or_default(),
            spreadsheet_safe(row.error.as_deref().unwrap_or_default()).as_ref(),
            &row.tries.to_string(),
        ])?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+1"), "'+1");
        assert_eq!(spreadsheet_safe("-1"), "'-1");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("example.com"), "example.com");
    }
}
