//! Writing a body of unknown length to S3 without holding it whole: one `PutObject` when it
//! fits in a part, a multipart upload of 5 MiB parts otherwise. The buffer never holds more
//! than one part, which is what [`super::capacity`] budgets per upload.

use anyhow::Context;
use aws_sdk_s3::{
    Client,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};

/// S3's smallest part size for all but the last part, and the most a writer buffers.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// An object being written to S3 chunk by chunk. Call [`finish`](Self::finish) to complete
/// it or [`abort`](Self::abort) to discard what was sent. Dropped unfinished (the request timed
/// out or the client went away), it aborts a started multipart upload in the background.
///
/// The key and media type may be changed ([`retarget`](Self::retarget)) until the first
/// request to S3, which is sent only once a part is full or at the end: an upload is written
/// as it arrives, before its type (and so its name) is known.
#[derive(Debug)]
pub struct S3StreamWriter {
    client: Client,
    bucket: String,
    key: String,
    content_type: String,
    buffer: Vec<u8>,
    /// The buffer's capacity never exceeds this (or one part), see [`Self::write`].
    max_buffer: usize,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    written: u64,
}

impl S3StreamWriter {
    /// Starts an object; nothing is sent until a part is full or the writer is finished. The
    /// buffer grows as needed up to `max_buffer` bytes (at most one part).
    pub fn new(
        client: Client,
        bucket: &str,
        key: &str,
        content_type: &str,
        max_buffer: usize,
    ) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            buffer: Vec::new(),
            max_buffer: max_buffer.min(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
            written: 0,
        }
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The object's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Changes key and media type if nothing has been sent to S3 yet; returns whether it did.
    pub fn retarget(&mut self, key: &str, content_type: &str) -> bool {
        if self.upload_id.is_some() {
            return false;
        }
        key.clone_into(&mut self.key);
        content_type.clone_into(&mut self.content_type);
        true
    }

    /// Appends `chunk`, sending a part whenever 5 MiB have gathered. The buffer is filled up to
    /// exactly one part and sent before the rest of `chunk` is taken, and grows by doubling up
    /// to `max_buffer`, so its allocation never exceeds what the upload reserved.
    pub async fn write(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        let mut rest = chunk;
        while !rest.is_empty() {
            let room = PART_SIZE - self.buffer.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.grow_for(now.len());
            self.buffer.extend_from_slice(now);
            self.written += now.len() as u64;
            rest = later;
            if self.buffer.len() == PART_SIZE {
                let part = std::mem::take(&mut self.buffer);
                self.send_part(part).await?;
            }
        }
        Ok(())
    }

    /// Makes room for `more` bytes: double the capacity, but no more than `max_buffer` (unless
    /// the data itself needs it, which a reservation made from the request's length excludes).
    fn grow_for(&mut self, more: usize) {
        let needed = self.buffer.len() + more;
        if needed > self.buffer.capacity() {
            let target = (self.buffer.capacity() * 2)
                .max(needed)
                .min(self.max_buffer.max(needed));
            self.buffer.reserve_exact(target - self.buffer.len());
        }
    }

    async fn send_part(&mut self, part: Vec<u8>) -> anyhow::Result<()> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .context("failed to start a multipart upload")?;
                let id = created
                    .upload_id()
                    .context("S3 returned no upload id")?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1).context("too many parts")?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .with_context(|| format!("failed to upload part {number}"))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }

    /// Sends what is left and completes the object.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        if self.upload_id.is_none() {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .body(ByteStream::from(std::mem::take(&mut self.buffer)))
                .send()
                .await
                .context("failed to store the upload in S3")?;
            return Ok(());
        }
        if !self.buffer.is_empty() {
            let last = std::mem::take(&mut self.buffer);
            self.send_part(last).await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_upload_id(self.upload_id.clone())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .context("failed to complete the multipart upload")?;
        self.upload_id = None;
        Ok(())
    }

    /// Discards the parts sent so far; failures are only logged, as S3 lifecycle rules can
    /// clean up what remains.
    pub async fn abort(mut self) {
        if let Some(upload_id) = self.upload_id.take() {
            let result = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send()
                .await;
            if let Err(error) = result {
                tracing::warn!(s3.key = %self.key, error.message = %error, "failed to abort a multipart upload");
            }
        }
    }
}

impl Drop for S3StreamWriter {
    fn drop(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let request = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id);
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            if let Err(error) = request.send().await {
                tracing::warn!(s3.key = %key, error.message = %error, "failed to abort an abandoned multipart upload");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(max_buffer: usize) -> S3StreamWriter {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        S3StreamWriter::new(Client::from_conf(config), "b", "k", "text/csv", max_buffer)
    }

    #[tokio::test]
    async fn the_buffer_never_outgrows_its_reservation_or_a_part() {
        let mut small = writer(300);
        for _ in 0..3 {
            small.write(&[b'a'; 100]).await.unwrap();
        }
        assert_eq!(small.written(), 300);
        assert!(
            small.buffer.capacity() <= 300,
            "{}",
            small.buffer.capacity()
        );

        let mut large = writer(PART_SIZE);
        let chunk = vec![b'a'; 64 * 1024 + 7];
        while large.written() + (chunk.len() as u64) < PART_SIZE as u64 {
            large.write(&chunk).await.unwrap();
        }
        assert!(large.buffer.capacity() <= PART_SIZE);
    }

    #[test]
    fn the_target_can_change_until_a_part_is_sent() {
        let mut writer = writer(100);
        assert!(writer.retarget("other", "application/json"));
        assert_eq!(writer.key(), "other");
        writer.upload_id = Some("started".to_owned());
        assert!(!writer.retarget("third", "text/csv"));
        writer.upload_id = None;
    }
}
