//! Where a webhook delivery is.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The state of a webhook delivery: `Pending` until the receiver answers 2xx (`Delivered`)
/// or the last attempt fails (`Failed`).
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
pub enum DeliveryState {
    /// Not delivered yet; attempted again when due.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The receiver answered 2xx.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// Every attempt failed.
    #[sea_orm(string_value = "failed")]
    Failed,
}
