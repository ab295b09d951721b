//! How many uploads one api instance receives at once: at most `MAX_UPLOADS_PER_CLIENT` per
//! client, and no more than `UPLOAD_BUFFER_BYTES` of S3 part buffers across all clients.
//!
//! An upload is streamed to S3, but up to one part (5 MiB) of it sits in memory at a time. The
//! buffer budget is a semaphore counting bytes: before a byte of the body is read, an upload
//! reserves the most its buffer can hold (see [`buffer_needed`]) and gives it back when it ends,
//! however it ends. Both checks refuse at once rather than queue: a client is told to retry
//! (`429 too_many_uploads` for its own uploads, `503 server_busy` when the instance is full)
//! instead of holding a connection while it waits.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::s3_stream::PART_SIZE;
use crate::error::ApiError;

/// What a refused upload is told to wait: uploads take seconds.
pub const UPLOAD_RETRY_AFTER: Duration = Duration::from_secs(2);

/// The most buffer one upload needs: a part, or less when the file cannot be that large
/// (`max_upload_bytes`) or the request says it is shorter (`content_length`, which counts
/// the multipart framing too, so it is never less than the file).
pub fn buffer_needed(max_upload_bytes: u64, content_length: Option<u64>) -> u32 {
    let part = u64::try_from(PART_SIZE).unwrap_or(u64::MAX);
    let needed = part
        .min(max_upload_bytes)
        .min(content_length.unwrap_or(u64::MAX));
    u32::try_from(needed).unwrap_or(u32::MAX)
}

/// Uploads in progress on this instance, per client and in buffer bytes.
#[derive(Debug)]
pub struct UploadCapacity {
    max_per_client: usize,
    per_client: Mutex<HashMap<Uuid, usize>>,
    buffers: Arc<Semaphore>,
}

/// One upload's place: while it lives, it counts against its client's uploads and holds its
/// buffer bytes. Dropped when the upload ends, whatever ends it (answer, error, timeout, the
/// client going away).
#[derive(Debug)]
pub struct UploadSlot {
    capacity: Arc<UploadCapacity>,
    client: Uuid,
    _buffer: OwnedSemaphorePermit,
}

impl UploadCapacity {
    /// Room for `max_per_client` uploads per client and `buffer_bytes` of buffers in all.
    pub fn new(max_per_client: usize, buffer_bytes: u64) -> Self {
        let buffer_bytes = usize::try_from(buffer_bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Self {
            max_per_client,
            per_client: Mutex::new(HashMap::new()),
            buffers: Arc::new(Semaphore::new(buffer_bytes)),
        }
    }

    /// Claims a place for an upload of `client` needing `buffer_bytes`, or says why not:
    /// [`ApiError::TooManyUploads`] when the client already has its maximum in progress,
    /// [`ApiError::ServerBusy`] when the buffers of all uploads would exceed the budget.
    pub fn claim(
        self: &Arc<Self>,
        client: Uuid,
        buffer_bytes: u32,
    ) -> Result<UploadSlot, ApiError> {
        // The critical sections are a map update; a poisoned lock still holds valid counts.
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let uploads = per_client.entry(client).or_default();
        if *uploads >= self.max_per_client {
            return Err(ApiError::TooManyUploads {
                limit: self.max_per_client,
                retry_after: UPLOAD_RETRY_AFTER,
            });
        }
        let buffer = self
            .buffers
            .clone()
            .try_acquire_many_owned(buffer_bytes)
            .map_err(|_| ApiError::ServerBusy {
                retry_after: UPLOAD_RETRY_AFTER,
            })?;
        *uploads += 1;
        Ok(UploadSlot {
            capacity: self.clone(),
            client,
            _buffer: buffer,
        })
    }

    /// Buffer bytes not reserved (for tests).
    #[cfg(test)]
    fn free_buffer(&self) -> usize {
        self.buffers.available_permits()
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut per_client = self
            .capacity
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(uploads) = per_client.get_mut(&self.client) {
            *uploads = uploads.saturating_sub(1);
            if *uploads == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_number_of_uploads() {
        let capacity = Arc::new(UploadCapacity::new(2, 1000));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = capacity.claim(a, 10).unwrap();
        let _second = capacity.claim(a, 10).unwrap();
        assert!(matches!(
            capacity.claim(a, 10),
            Err(ApiError::TooManyUploads { limit: 2, .. })
        ));
        let _other = capacity.claim(b, 10).unwrap();
        drop(first);
        let _third = capacity.claim(a, 10).unwrap();
    }

    #[test]
    fn buffers_share_one_budget_and_come_back() {
        let capacity = Arc::new(UploadCapacity::new(10, 1000));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let big = capacity.claim(a, 700).unwrap();
        assert!(matches!(
            capacity.claim(b, 400),
            Err(ApiError::ServerBusy { .. })
        ));
        let _small = capacity.claim(b, 300).unwrap();
        assert_eq!(capacity.free_buffer(), 0);
        drop(big);
        assert_eq!(capacity.free_buffer(), 700);
        assert!(
            capacity.per_client.lock().unwrap().get(&a).is_none(),
            "a client without uploads is forgotten"
        );
    }

    #[test]
    fn an_upload_needs_at_most_a_part_and_at_most_its_length() {
        assert_eq!(buffer_needed(10 << 20, None), 5 << 20);
        assert_eq!(buffer_needed(1 << 20, None), 1 << 20);
        assert_eq!(buffer_needed(10 << 20, Some(300)), 300);
    }
}
