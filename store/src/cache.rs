//! The result cache: recent results of the same domain, from any file of any client, that a
//! new file may copy instead of fetching again. Which outcomes may be copied, and for how
//! long, is the resolver's rule; this module only finds the rows that rule lets through.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::results;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::results::{FailureRecord, IconRecord, stored_outcome};

/// The newest fetched result of each of `domains` that the cache may still copy: one whose
/// class (`results.cache_class`) is in `fresh` with a creation time after the class's limit.
/// Favicons are public, and only the icon or the failure is copied. `domains` holds at most a
/// few hundred names (one cache lookup batch).
pub async fn recent_outcomes(
    db: &DatabaseConnection,
    domains: Vec<String>,
    fresh: &[(&str, DateTime<Utc>)],
) -> Result<HashMap<String, Result<IconRecord, FailureRecord>>, DbErr> {
    if domains.is_empty() || fresh.is_empty() {
        return Ok(HashMap::new());
    }
    let mut copyable = Condition::any();
    for (class, since) in fresh {
        copyable = copyable.add(
            Condition::all()
                .add(results::Column::CacheClass.eq(*class))
                .add(results::Column::CreatedAt.gt(*since)),
        );
    }
    let rows = results::Entity::find()
        .distinct_on([results::Column::Domain])
        .filter(results::Column::Domain.is_in(domains))
        .filter(copyable)
        .order_by_asc(results::Column::Domain)
        .order_by_desc(results::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.domain.clone(), stored_outcome(row)?)))
        .collect())
}
