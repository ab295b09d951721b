//! The `redrives` table: how often the DLQ consumer sent a file or chunk back to the queue,
//! and how far it had got then, so its budget counts progress rather than receives.

use entity::{file_chunks, files, redrives};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Statement};

use crate::leases::Work;

/// How far a dead-lettered file or chunk has got, and what the DLQ consumer noted when it
/// last sent it back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Results recorded: by the file (its counters), or by the chunk.
    pub recorded: i32,
    /// `recorded` when it was last sent back (0 before).
    pub mark: i32,
    /// Times it was sent back.
    pub redrives: i32,
}

impl Progress {
    /// It recorded results since it was last sent back (or ever, the first time).
    pub fn advanced(&self) -> bool {
        self.recorded > self.mark
    }
}

/// The `redrives` key of a file (-1) or of its chunk.
fn redrive_key(work: Work) -> i32 {
    match work {
        // A retry makes no new rows; its budget is the file's.
        Work::File(_) | Work::Retry(_) => -1,
        Work::Chunk { number, .. } => number,
    }
}

/// The progress of `work`; `None` when there is nothing left to do (no such file or chunk, a
/// terminal file, a done chunk).
pub async fn progress(db: &DatabaseConnection, work: Work) -> Result<Option<Progress>, DbErr> {
    let recorded = match work {
        Work::File(file_id) | Work::Retry(file_id) => files::Entity::find_by_id(file_id)
            .one(db)
            .await?
            .filter(|file| !file.status.is_terminal())
            .map(|file| file.succeeded_count.saturating_add(file.failed_count)),
        Work::Chunk { file_id, number } => file_chunks::Entity::find_by_id((file_id, number))
            .one(db)
            .await?
            .filter(|chunk| !chunk.done)
            .map(|chunk| chunk.recorded_count),
    };
    let Some(recorded) = recorded else {
        return Ok(None);
    };
    let noted = redrives::Entity::find_by_id((work.file_id(), redrive_key(work)))
        .one(db)
        .await?;
    Ok(Some(Progress {
        recorded,
        mark: noted.as_ref().map_or(0, |noted| noted.progress_mark),
        redrives: noted.map_or(0, |noted| noted.redrive_count),
    }))
}

/// Notes that `work` was sent back to the queue at `progress.recorded` results, unless
/// another consumer noted a redrive since `progress` was read; false then.
pub async fn note_redrive(
    db: &DatabaseConnection,
    work: Work,
    progress: Progress,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            r#"
            INSERT INTO redrives (file_id, chunk, redrive_count, progress_mark)
            VALUES ($1, $2, 1, $3)
            ON CONFLICT (file_id, chunk) DO UPDATE SET
                redrive_count = redrives.redrive_count + 1,
                progress_mark = EXCLUDED.progress_mark,
                updated_at = now()
            WHERE redrives.redrive_count = $4
            "#,
            [
                work.file_id().into(),
                redrive_key(work).into(),
                progress.recorded.into(),
                progress.redrives.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}
