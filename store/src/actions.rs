//! What a file's owner may do to it after uploading: cancel it, delete it, and retry its failed
//! results ([`crate::retries`]). Each is scoped to the calling client (another client's file is
//! as absent as one that never existed) and changes the status through [`crate::transitions`].

use entity::{FileStatus, files};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::{
    files::find_for_client,
    transitions::{self, Change, TransitionError},
};

/// Why an action on a file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such file, or another client's.
    #[error("no such file")]
    NotFound,
    /// The file's status does not allow it (a finished file is not cancelled; only a
    /// COMPLETED file is retried).
    #[error("the file is {}", .0.as_str())]
    WrongStatus(FileStatus),
    /// A retry of a COMPLETED file that has no failed result worth resolving again.
    #[error("the file has no failed result to retry")]
    NothingToRetry,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Cancels the client's file `file_id` when it is PENDING or PROCESSING: it becomes
/// CANCELLED, its lease is cleared so the worker holding it stops at its next batch, and the
/// results recorded so far stay. Returns the file as it is now.
pub async fn cancel(
    db: &DatabaseConnection,
    client_id: Uuid,
    file_id: Uuid,
) -> Result<files::Model, ActionError> {
    let file = find_for_client(db, client_id, file_id)
        .await?
        .ok_or(ActionError::NotFound)?;
    match transitions::change(db, file_id, Change::Cancel).await {
        Ok(()) => {}
        Err(TransitionError::Refused(refused)) => {
            return Err(ActionError::WrongStatus(refused.from));
        }
        Err(TransitionError::Missing(_)) => return Err(ActionError::NotFound),
        // Cancelling asks for no lease.
        Err(TransitionError::NotHeld(_)) => return Err(ActionError::WrongStatus(file.status)),
        Err(TransitionError::Database(error)) => return Err(error.into()),
    }
    find_for_client(db, client_id, file_id)
        .await?
        .ok_or(ActionError::NotFound)
}

/// Deletes the client's file `file_id` with everything recorded of it (results, chunks,
/// pending retries, redrive notes: the foreign keys cascade). True when there was such a
/// file. Its S3 objects are the caller's to delete, before (a failure there leaves the row,
/// so the delete can be asked again).
pub async fn delete(
    db: &DatabaseConnection,
    client_id: Uuid,
    file_id: Uuid,
) -> Result<bool, DbErr> {
    let deleted = files::Entity::delete_many()
        .filter(files::Column::Id.eq(file_id))
        .filter(files::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Whether file `file_id` is still being worked on (PROCESSING): what a worker asks between
/// two batches, to stop when the file was cancelled or deleted meanwhile.
pub async fn still_processing(db: &DatabaseConnection, file_id: Uuid) -> Result<bool, DbErr> {
    crate::errors::retrying("reading the file's status", || async move {
        let status: Option<FileStatus> = files::Entity::find_by_id(file_id)
            .select_only()
            .column(files::Column::Status)
            .into_tuple()
            .one(db)
            .await?;
        Ok(status == Some(FileStatus::Processing))
    })
    .await
}
