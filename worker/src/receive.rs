//! The one receive loop, for the file-event queue ([`crate::consumer`]) and the DLQ
//! ([`crate::dlq`]) alike: long-polls while a handler slot is free, hands each message to a
//! [`Handler`] in its own task, keeps the message hidden while it runs, then carries out what
//! the handler decided. A message is deleted only when its handler says it is done with it.
//! On shutdown it stops receiving, lets handlers in flight finish within the grace period, then
//! asks the rest to give their work back and waits for them.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::queue::{Message, Queue};

/// What to do with a message once its handler returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Handled for good: delete it.
    Delete,
    /// Not now: hide it for this many seconds from now (0 hands it out again at once).
    Hide(i32),
    /// Leave it as it is: it reappears when its visibility timeout ends.
    Leave,
}

/// What a receive loop does with each message.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `message`. `stop` asks it to give its work back (shutdown, once the grace
    /// period is over); it returns what should become of the message.
    async fn handle(&self, message: &Message, stop: &CancellationToken) -> Disposition;
}

/// How many messages one receive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// As many as there are free handler slots (at most 10), so that no received message
    /// waits hidden for a slot while others run.
    FreeSlots,
    /// This many (1 to 10), handled one after another as slots free up.
    Fixed(i32),
}

/// How one receive loop runs.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// What is received, for logs ("receiving {what} failed"): `messages`, `from the DLQ`.
    pub receiving: &'static str,
    /// Messages handled at once.
    pub concurrency: usize,
    /// Messages asked for per receive.
    pub batch: Batch,
    /// While a message is handled, its visibility is set to this many seconds again every
    /// third of them, so that a long file is not handed to another worker. `None` for
    /// handlers that finish well within the queue's visibility timeout.
    pub heartbeat_secs: Option<i32>,
    /// After shutdown, how long handlers in flight may finish before they are asked to give
    /// their work back.
    pub shutdown_grace: Duration,
}

/// Consumes `queue` with `handler` until `shutdown` is cancelled, then drains.
pub async fn run(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn Handler>,
    settings: LoopSettings,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let stop_work = CancellationToken::new();
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let wanted = match settings.batch {
            Batch::FreeSlots => 1 + i32::try_from(permits.available_permits().min(9)).unwrap_or(0),
            Batch::Fixed(count) => count,
        };
        let received = tokio::select! {
            () = shutdown.cancelled() => break,
            received = queue.receive(wanted) => received,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(error.message = %format!("{error:#}"), "receiving {} failed; retrying", settings.receiving);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut first = Some(first);
        for message in messages {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (queue, handler, stop) = (queue.clone(), handler.clone(), stop_work.clone());
            let heartbeat_secs = settings.heartbeat_secs;
            let span = tracing::info_span!("message", message.id = %message.id, file.id = tracing::field::Empty);
            tasks.spawn(
                async move {
                    handle(
                        queue.as_ref(),
                        handler.as_ref(),
                        &message,
                        heartbeat_secs,
                        &stop,
                    )
                    .await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
    }
    drain(tasks, stop_work, settings.shutdown_grace).await;
}

/// Runs the handler with a heartbeat beside it, then carries out its decision.
async fn handle(
    queue: &dyn Queue,
    handler: &dyn Handler,
    message: &Message,
    heartbeat_secs: Option<i32>,
    stop: &CancellationToken,
) {
    let disposition = match heartbeat_secs {
        None => handler.handle(message, stop).await,
        Some(seconds) => {
            let handling = handler.handle(message, stop);
            tokio::pin!(handling);
            let every = Duration::from_secs(u64::try_from(seconds / 3).unwrap_or(1).max(1));
            loop {
                tokio::select! {
                    disposition = &mut handling => break disposition,
                    () = tokio::time::sleep(every) => {
                        match queue.set_visibility(&message.receipt_handle, seconds).await {
                            Ok(()) => common::metrics::visibility_extended(),
                            Err(error) => {
                                tracing::warn!(error.message = %format!("{error:#}"), "heartbeat failed to extend the message");
                            }
                        }
                    }
                }
            }
        }
    };
    match disposition {
        Disposition::Delete => {
            if let Err(error) = queue.delete(&message.receipt_handle).await {
                tracing::warn!(error.message = %format!("{error:#}"), "failed to delete message {}", message.id);
            }
        }
        Disposition::Hide(seconds) => {
            if let Err(error) = queue.set_visibility(&message.receipt_handle, seconds).await {
                tracing::warn!(error.message = %format!("{error:#}"), "failed to change the visibility of message {}", message.id);
            }
        }
        Disposition::Leave => {}
    }
}

/// Waits up to `grace` for tasks, then asks the rest to give their work back and waits for
/// them to do so.
async fn drain(mut tasks: JoinSet<()>, stop_work: CancellationToken, grace: Duration) {
    if tasks.is_empty() {
        return;
    }
    tracing::info!(tasks = tasks.len(), "waiting for files in flight");
    let finished =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(
            tasks = tasks.len(),
            "grace period over; releasing files in flight"
        );
        stop_work.cancel();
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;
    use crate::{queue::memory::MemoryQueue, testing::until};

    fn settings(concurrency: usize) -> LoopSettings {
        LoopSettings {
            receiving: "test messages",
            concurrency,
            batch: Batch::FreeSlots,
            heartbeat_secs: Some(30),
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// Returns `disposition` once `release` is notified (or at once without one), counting
    /// the messages it started.
    #[derive(Debug)]
    struct Gated {
        release: Option<Arc<Notify>>,
        started: AtomicUsize,
        disposition: Disposition,
    }

    impl Gated {
        fn new(release: Option<Arc<Notify>>, disposition: Disposition) -> Arc<Self> {
            Arc::new(Self {
                release,
                started: AtomicUsize::new(0),
                disposition,
            })
        }
    }

    #[async_trait]
    impl Handler for Gated {
        async fn handle(&self, _message: &Message, _stop: &CancellationToken) -> Disposition {
            self.started.fetch_add(1, Ordering::SeqCst);
            if let Some(release) = &self.release {
                release.notified().await;
            }
            self.disposition
        }
    }

    fn start(
        queue: &Arc<MemoryQueue>,
        handler: Arc<dyn Handler>,
        settings: LoopSettings,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(run(queue.clone(), handler, settings, shutdown.clone()));
        (shutdown, running)
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_is_deleted_only_after_its_handler_succeeds() {
        let queue = Arc::new(MemoryQueue::default());
        let handled = queue.push("a");
        let release = Arc::new(Notify::new());
        let handler = Gated::new(Some(release.clone()), Disposition::Delete);
        let (shutdown, running) = start(&queue, handler.clone(), settings(2));
        until(|| handler.started.load(Ordering::SeqCst) == 1).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(queue.deleted().is_empty(), "deleted while being handled");
        release.notify_one();
        until(|| queue.deleted() == [handled.clone()]).await;
        shutdown.cancel();
        running.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_whose_handler_did_not_succeed_is_never_deleted() {
        for disposition in [Disposition::Hide(7), Disposition::Leave] {
            let queue = Arc::new(MemoryQueue::default());
            let id = queue.push("a");
            let handler = Gated::new(None, disposition);
            let (shutdown, running) = start(&queue, handler.clone(), settings(1));
            until(|| handler.started.load(Ordering::SeqCst) >= 1).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            shutdown.cancel();
            running.await.unwrap();
            assert!(queue.deleted().is_empty(), "{disposition:?}");
            let hidden: Vec<i32> = queue
                .visibility_changes(&id)
                .into_iter()
                .filter(|seconds| *seconds != 30)
                .collect();
            match disposition {
                Disposition::Hide(seconds) => assert_eq!(hidden.first(), Some(&seconds)),
                _ => assert!(hidden.is_empty(), "{hidden:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_keeps_a_message_hidden_while_its_handler_runs() {
        let queue = Arc::new(MemoryQueue::default());
        let id = queue.push("a");
        let release = Arc::new(Notify::new());
        let handler = Gated::new(Some(release.clone()), Disposition::Delete);
        let (shutdown, running) = start(&queue, handler.clone(), settings(1));
        until(|| handler.started.load(Ordering::SeqCst) == 1).await;
        // A third of the 30 s visibility between beats: three beats in 35 s.
        tokio::time::sleep(Duration::from_secs(35)).await;
        assert_eq!(queue.visibility_changes(&id), [30, 30, 30]);
        release.notify_one();
        until(|| !queue.deleted().is_empty()).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            queue.visibility_changes(&id).len(),
            3,
            "no beat after the end"
        );
        shutdown.cancel();
        running.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_messages_are_taken_than_there_are_free_slots() {
        let queue = Arc::new(MemoryQueue::default());
        for n in 0..5 {
            queue.push(&n.to_string());
        }
        let release = Arc::new(Notify::new());
        let handler = Gated::new(Some(release.clone()), Disposition::Delete);
        let (shutdown, running) = start(&queue, handler.clone(), settings(2));
        until(|| handler.started.load(Ordering::SeqCst) == 2).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(handler.started.load(Ordering::SeqCst), 2);
        assert_eq!(
            queue.visible(),
            3,
            "the others stay in the queue for other workers"
        );
        shutdown.cancel();
        for _ in 0..2 {
            release.notify_one();
        }
        running.await.unwrap();
        assert_eq!(queue.deleted().len(), 2);
    }

    /// Waits for `stop`, then gives its work back, as a file handler does.
    #[derive(Debug, Default)]
    struct Stoppable {
        started: AtomicUsize,
        stopped: AtomicUsize,
    }

    #[async_trait]
    impl Handler for Stoppable {
        async fn handle(&self, _message: &Message, stop: &CancellationToken) -> Disposition {
            self.started.fetch_add(1, Ordering::SeqCst);
            stop.cancelled().await;
            self.stopped.fetch_add(1, Ordering::SeqCst);
            Disposition::Hide(0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_receiving_and_releases_work_after_the_grace_period() {
        let queue = Arc::new(MemoryQueue::default());
        let id = queue.push("a");
        let handler = Arc::new(Stoppable::default());
        let (shutdown, running) = start(&queue, handler.clone(), settings(2));
        until(|| handler.started.load(Ordering::SeqCst) == 1).await;
        let receives = queue.receives();
        let began = tokio::time::Instant::now();
        shutdown.cancel();
        running.await.unwrap();
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
            "the grace period, not {waited:?}"
        );
        assert_eq!(handler.stopped.load(Ordering::SeqCst), 1);
        assert_eq!(queue.receives(), receives, "no receive after shutdown");
        assert_eq!(queue.visibility_changes(&id).last(), Some(&0), "released");
        assert!(queue.deleted().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_work_in_flight_finish_within_the_grace_period() {
        let queue = Arc::new(MemoryQueue::default());
        let id = queue.push("a");
        let release = Arc::new(Notify::new());
        let handler = Gated::new(Some(release.clone()), Disposition::Delete);
        let (shutdown, running) = start(&queue, handler.clone(), settings(2));
        until(|| handler.started.load(Ordering::SeqCst) == 1).await;
        shutdown.cancel();
        tokio::time::sleep(Duration::from_secs(2)).await;
        release.notify_one();
        running.await.unwrap();
        assert_eq!(queue.deleted(), [id]);
    }
}
