//! Writing a body of unknown length to S3 without holding it whole: one `PutObject` when it
//! fits in a part, a multipart upload of 5 MiB parts otherwise.

use anyhow::Context;
use aws_sdk_s3::{
    Client,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};

/// S3's smallest part size for all but the last part.
const PART_SIZE: usize = 5 * 1024 * 1024;

/// An object being written to S3 chunk by chunk. Call [`finish`](Self::finish) to complete
/// it or [`abort`](Self::abort) to discard what was sent. Dropped unfinished (the request timed
/// out or the client went away), it aborts a started multipart upload in the background.
#[derive(Debug)]
pub struct S3StreamWriter {
    client: Client,
    bucket: String,
    key: String,
    content_type: String,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    written: u64,
}

impl S3StreamWriter {
    /// Starts an object; nothing is sent until a part is full or the writer is finished.
    pub fn new(client: Client, bucket: &str, key: &str, content_type: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: content_type.to_owned(),
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
            written: 0,
        }
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `chunk`, sending a part whenever 5 MiB have gathered.
    pub async fn write(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        self.buffer.extend_from_slice(chunk);
        self.written += chunk.len() as u64;
        while self.buffer.len() >= PART_SIZE {
            let rest = self.buffer.split_off(PART_SIZE);
            let part = std::mem::replace(&mut self.buffer, rest);
            self.send_part(part).await?;
        }
        Ok(())
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
