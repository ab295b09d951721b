//! The `results` table: what the worker writes for each entry, and the pages and batches the
//! api reads. A result is written from a [`NewResult`] through [`result_row`] only, so what is
//! stored (text made storable, the icon or the failure) is decided once. Multi-row writes are
//! cut so that no statement carries more than PostgreSQL's 65,535 bind parameters.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{FileStatus, ResultStatus, file_chunks, files, results};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, Iterable, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{
    errors::{ErrorClass, Refusal, retrying},
    icons::StoredIcon,
    leases::Work,
    stored_text::{MAX_DOMAIN_CHARS, MAX_ERROR_CHARS, storable},
};

/// Most bind parameters one statement may carry: the protocol counts them in 16 bits.
const MAX_BIND_PARAMETERS: usize = 65_535;

/// Rows of `columns` columns one INSERT may carry within [`MAX_BIND_PARAMETERS`].
pub(crate) fn rows_per_insert(columns: usize) -> usize {
    (MAX_BIND_PARAMETERS / columns.max(1)).max(1)
}

/// The failure category of an entry that is no domain (the resolver's `invalid_domain`): what
/// a result the database refused becomes.
pub const INVALID_DOMAIN: &str = "invalid_domain";

/// One domain's result, ready to be written.
#[derive(Debug, Clone)]
pub struct NewResult {
    /// Index among the file's distinct entries.
    pub position: i32,
    /// The normalised domain, or the raw entry when it is invalid.
    pub domain: String,
    /// The favicon, or why not.
    pub outcome: Result<IconRecord, FailureRecord>,
    /// Attempts made.
    pub tries: i32,
    /// Copied from a recent result of the same domain instead of fetched.
    pub from_cache: bool,
    /// What the cache may copy from it, as the resolver names it (`results.cache_class`): set
    /// on fetched results that are definite answers only ([`crate::cache`]).
    pub cache_class: Option<&'static str>,
}

/// A found icon as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IconRecord {
    /// Where it is.
    pub url: String,
    /// `png`, `ico`, …
    pub format: String,
    /// Real width in pixels.
    pub width: i32,
    /// Real height in pixels.
    pub height: i32,
    /// Size in bytes.
    pub bytes: i64,
    /// `link`, `manifest` or `fallback`.
    pub source: String,
    /// Our stored copy ([`crate::icons`]), when the bytes were kept.
    pub stored: Option<StoredIcon>,
}

/// A failure as stored: its category and the full `category: detail` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// `dns`, `timeout`, …
    pub category: String,
    /// `category: detail`.
    pub message: String,
}

/// The outcome a stored row records, if it is complete: the one reading of a row's icon or
/// failure columns.
pub(crate) fn stored_outcome(row: results::Model) -> Option<Result<IconRecord, FailureRecord>> {
    match row.status {
        ResultStatus::Success => Some(Ok(IconRecord {
            url: row.favicon_url?,
            format: row.icon_format?,
            width: row.icon_width?,
            height: row.icon_height?,
            bytes: row.icon_bytes?,
            source: row.icon_source?,
            stored: row
                .resolution_id
                .zip(row.icon_hash)
                .map(|(resolution_id, hash)| StoredIcon {
                    resolution_id,
                    hash,
                }),
        })),
        ResultStatus::Failed => Some(Err(FailureRecord {
            category: row.error_category?,
            message: row.error?,
        })),
    }
}

/// The domains of `file_id` that already have a result (from an interrupted run), only
/// those at positions `first..=last` when given. Outages are retried.
pub async fn recorded_domains(
    db: &DatabaseConnection,
    file_id: Uuid,
    positions: Option<(i32, i32)>,
) -> Result<HashSet<String>, DbErr> {
    retrying("reading recorded domains", || async move {
        let mut query = results::Entity::find()
            .select_only()
            .column(results::Column::Domain)
            .filter(results::Column::FileId.eq(file_id));
        if let Some((first, last)) = positions {
            query = query.filter(results::Column::Position.between(first, last));
        }
        let domains: Vec<String> = query.into_tuple().all(db).await?;
        Ok(domains.into_iter().collect())
    })
    .await
}

/// The row the worker writes for `result`: the domain and the error made storable
/// ([`storable`]: no NUL, bounded), whatever the entry held.
pub fn result_row(file_id: Uuid, result: NewResult, now: DateTime<Utc>) -> results::Model {
    let mut row = results::Model {
        id: Uuid::now_v7(),
        file_id,
        position: result.position,
        domain: storable(&result.domain, MAX_DOMAIN_CHARS).into_owned(),
        favicon_url: None,
        status: ResultStatus::Success,
        error: None,
        tries: result.tries,
        icon_format: None,
        icon_width: None,
        icon_height: None,
        icon_bytes: None,
        icon_source: None,
        error_category: None,
        from_cache: result.from_cache,
        cache_class: result.cache_class.map(str::to_owned),
        resolution_id: None,
        icon_hash: None,
        created_at: now,
        updated_at: now,
    };
    match result.outcome {
        Ok(icon) => {
            // A URL is never cut (a `data:` icon is its URL), and holds no NUL once parsed.
            row.favicon_url = Some(storable(&icon.url, usize::MAX).into_owned());
            row.icon_format = Some(icon.format);
            row.icon_width = Some(icon.width);
            row.icon_height = Some(icon.height);
            row.icon_bytes = Some(icon.bytes);
            row.icon_source = Some(icon.source);
            if let Some(stored) = icon.stored {
                row.resolution_id = Some(stored.resolution_id);
                row.icon_hash = Some(stored.hash);
            }
        }
        Err(failure) => {
            row.status = ResultStatus::Failed;
            row.error_category = Some(failure.category);
            row.error = Some(storable(&failure.message, MAX_ERROR_CHARS).into_owned());
        }
    }
    row
}

/// What replaces a row the database refused for its data: a failed `invalid_domain` result
/// that says so, with the domain spelled in printable ASCII in case the text was the trouble.
fn refused_row(row: results::Model, error: &DbErr) -> results::Model {
    let domain: String = row.domain.escape_default().collect();
    results::Model {
        domain: storable(&domain, MAX_DOMAIN_CHARS).into_owned(),
        favicon_url: None,
        status: ResultStatus::Failed,
        error: Some(format!(
            "{INVALID_DOMAIN}: this entry's result could not be stored: {}",
            Refusal(error)
        )),
        icon_format: None,
        icon_width: None,
        icon_height: None,
        icon_bytes: None,
        icon_source: None,
        error_category: Some(INVALID_DOMAIN.to_owned()),
        cache_class: None,
        resolution_id: None,
        icon_hash: None,
        ..row
    }
}

/// Writes a batch of results of `work` (a file, or a chunk of one), skipping
/// domains already recorded, and adds exactly the rows written to the counters (nothing is
/// written once the file is no longer PROCESSING: cancelled or deleted), trying again
/// after outages. When the database refuses the batch for its data, the rows are written one
/// at a time and each one it refuses becomes a failed result saying so; only a refusal of
/// that too (nothing of the file can be stored) is returned, as a permanent error.
pub async fn record_results(
    db: &DatabaseConnection,
    work: Work,
    batch: Vec<NewResult>,
) -> Result<u64, DbErr> {
    let file_id = work.file_id();
    if batch.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let rows: Vec<results::Model> = batch
        .into_iter()
        .map(|result| result_row(file_id, result, now))
        .collect();
    let write = |rows: Vec<results::Model>| {
        retrying("writing results", move || {
            insert_results(db, work, rows.clone())
        })
    };
    match write(rows.clone()).await {
        Err(error) if ErrorClass::of(&error) == ErrorClass::Permanent => {
            tracing::warn!(file.id = %file_id, error.message = %error, "the database refused a batch of {} results of file {file_id}; writing them one by one", rows.len());
        }
        outcome => return outcome,
    }
    let mut written = 0;
    for row in rows {
        written += match write(vec![row.clone()]).await {
            Err(error) if ErrorClass::of(&error) == ErrorClass::Permanent => {
                tracing::warn!(file.id = %file_id, position = row.position, error.message = %error, "the database refused the result of entry {} of file {file_id}; recording it as failed", row.position);
                write(vec![refused_row(row, &error)]).await?
            }
            outcome => outcome?,
        };
    }
    Ok(written)
}

/// Inserts `rows` in statements within the bind-parameter limit and adds the rows written to
/// the file's counters (and the chunk's progress), in one transaction.
async fn insert_results(
    db: &DatabaseConnection,
    work: Work,
    rows: Vec<results::Model>,
) -> Result<u64, DbErr> {
    let file_id = work.file_id();
    let txn = db.begin().await?;
    let (mut succeeded, mut failed) = (0, 0);
    for part in rows.chunks(rows_per_insert(results::Column::iter().count())) {
        let inserted = match results::Entity::insert_many(part.iter().cloned().map(active_result))
            .on_conflict_do_nothing_on([results::Column::FileId, results::Column::Domain])
            .exec_with_returning_many(&txn)
            .await?
        {
            TryInsertResult::Inserted(models) => models,
            TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
        };
        for row in inserted {
            match row.status {
                ResultStatus::Success => succeeded += 1,
                ResultStatus::Failed => failed += 1,
            }
        }
    }
    let now = Utc::now();
    let written = succeeded + failed;
    if written > 0 {
        // Only while the file is PROCESSING: once it is cancelled (or deleted) a batch adds
        // nothing. The UPDATE reads the status as committed last and holds the row until the
        // commit, so a cancel either comes after this batch or makes it roll back.
        let counted = files::Entity::update_many()
            .col_expr(
                files::Column::SucceededCount,
                Expr::col(files::Column::SucceededCount).add(count(succeeded)),
            )
            .col_expr(
                files::Column::FailedCount,
                Expr::col(files::Column::FailedCount).add(count(failed)),
            )
            .col_expr(files::Column::UpdatedAt, Expr::value(now))
            .filter(files::Column::Id.eq(file_id))
            .filter(files::Column::Status.eq(FileStatus::Processing))
            .exec(&txn)
            .await?;
        if counted.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(0);
        }
        if let Work::Chunk { number, .. } = work {
            file_chunks::Entity::update_many()
                .col_expr(
                    file_chunks::Column::RecordedCount,
                    Expr::col(file_chunks::Column::RecordedCount).add(count(written)),
                )
                .filter(file_chunks::Column::FileId.eq(file_id))
                .filter(file_chunks::Column::Number.eq(number))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(written as u64)
}

/// A result row as a model to insert, every column set.
pub(crate) fn active_result(row: results::Model) -> results::ActiveModel {
    results::ActiveModel {
        id: Set(row.id),
        file_id: Set(row.file_id),
        position: Set(row.position),
        domain: Set(row.domain),
        favicon_url: Set(row.favicon_url),
        status: Set(row.status),
        error: Set(row.error),
        tries: Set(row.tries),
        icon_format: Set(row.icon_format),
        icon_width: Set(row.icon_width),
        icon_height: Set(row.icon_height),
        icon_bytes: Set(row.icon_bytes),
        icon_source: Set(row.icon_source),
        error_category: Set(row.error_category),
        from_cache: Set(row.from_cache),
        cache_class: Set(row.cache_class),
        resolution_id: Set(row.resolution_id),
        icon_hash: Set(row.icon_hash),
        created_at: Set(row.created_at),
        updated_at: Set(row.updated_at),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Where a page of results starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    /// Page number, from 1: skips `(page - 1) * per_page` matching results (an offset scan
    /// when filtered, so deep pages cost more; kept for compatibility).
    Number(u64),
    /// Keyset: the matching results after this position (the last one of the previous page),
    /// served by the index `(file_id, status, position)` at the same cost at any depth.
    After(i32),
}

/// Which results of a file to page through.
#[derive(Debug, Clone, Copy)]
pub struct ResultsPage {
    /// Only this status, or all.
    pub status: Option<ResultStatus>,
    /// Only failures of this category (`dns`, `timeout`, ...), or all.
    pub error_category: Option<&'static str>,
    /// Where the page starts.
    pub start: PageStart,
    /// Items per page.
    pub per_page: u64,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct ResultsPageRows {
    /// The results, in position order.
    pub items: Vec<results::Model>,
    /// How many results match in all.
    pub total: u64,
    /// Whether results match after the last of `items`: its position is then the cursor of
    /// the next page ([`PageStart::After`]).
    pub more: bool,
}

/// One page of `file`'s results in position order, how many match in all, and whether more
/// follow.
///
/// The total comes from the file's counters (kept exact by the worker), not from a count,
/// except when filtered by error category, which the counters do not break down.
/// A COMPLETED file's positions are dense, so an unfiltered page is a range of positions and
/// deep pages cost the same as the first. Filtered, a page after a position ([`PageStart::After`])
/// is a range scan of the index `(file_id, status, position)` from that position, as cheap at
/// the end as at the start; a page number is an offset scan of that index.
pub async fn page(
    db: &DatabaseConnection,
    file: &files::Model,
    query: ResultsPage,
) -> Result<ResultsPageRows, DbErr> {
    let mut select = results::Entity::find().filter(results::Column::FileId.eq(file.id));
    if let Some(status) = query.status {
        select = select.filter(results::Column::Status.eq(status));
    }
    let total = match (query.error_category, query.status) {
        (Some(category), _) => {
            select = select.filter(results::Column::ErrorCategory.eq(category));
            i32::try_from(select.clone().count(db).await?).unwrap_or(i32::MAX)
        }
        (None, None) => file.succeeded_count + file.failed_count,
        (None, Some(ResultStatus::Success)) => file.succeeded_count,
        (None, Some(ResultStatus::Failed)) => file.failed_count,
    };
    select = select.order_by_asc(results::Column::Position);
    // One row more than a page tells whether another page follows.
    let wanted = query.per_page.saturating_add(1);
    let dense = query.status.is_none() && query.error_category.is_none();
    let first_position = match query.start {
        PageStart::Number(page) => {
            i64::try_from((page - 1).saturating_mul(query.per_page)).unwrap_or(i64::MAX)
        }
        PageStart::After(position) => i64::from(position) + 1,
    };
    let mut items = if dense && file.status == FileStatus::Completed {
        let end = first_position.saturating_add(i64::try_from(wanted).unwrap_or(i64::MAX));
        select
            .filter(results::Column::Position.gte(first_position))
            .filter(results::Column::Position.lt(end))
            .all(db)
            .await?
    } else {
        match query.start {
            PageStart::Number(page) => {
                select
                    .offset((page - 1).saturating_mul(query.per_page))
                    .limit(wanted)
                    .all(db)
                    .await?
            }
            PageStart::After(position) => {
                select
                    .filter(results::Column::Position.gt(position))
                    .limit(wanted)
                    .all(db)
                    .await?
            }
        }
    };
    let more = u64::try_from(items.len()).unwrap_or(u64::MAX) > query.per_page;
    items.truncate(usize::try_from(query.per_page).unwrap_or(usize::MAX));
    Ok(ResultsPageRows {
        items,
        total: u64::try_from(total).unwrap_or(0),
        more,
    })
}

/// Up to `limit` results of `file_id` after position `after`, for streaming downloads.
pub async fn batch_after(
    db: &DatabaseConnection,
    file_id: Uuid,
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
