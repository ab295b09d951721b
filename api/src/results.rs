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
    /// `success` or `failed`.
    pub status: ResultStatus,
    /// Why it failed: `category: detail`.
    pub error: Option<String>,
    /// Fetch attempts made.
    pub tries: i32,
}

impl From<results::Model> for ResultView {
    fn from(result: results::Model) -> Self {
        Self {
            position: result.position,
            domain: result.domain,
            favicon_url: result.favicon_url,
            status: result.status,
            error: result.error,
            tries: result.tries,
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
pub const CSV_HEADER: &[&str] = &["domain", "favicon_url", "status", "error", "tries"];

/// Renders results as CSV rows (RFC 4180 quoting, formula cells escaped).
pub fn csv_rows(rows: &[results::Model], with_header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 64));
    if with_header {
        writer.write_record(CSV_HEADER)?;
    }
    for row in rows {
        let tries = row.tries.to_string();
        writer.write_record([
            spreadsheet_safe(&row.domain).as_ref(),
            spreadsheet_safe(row.favicon_url.as_deref().unwrap_or_default()).as_ref(),
            row.status.as_str(),
            spreadsheet_safe(row.error.as_deref().unwrap_or_default()).as_ref(),
            tries.as_str(),
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
