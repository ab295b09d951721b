//! New files' events go out in batches: the events of uploads that finish together share one
//! call (SNS's `PublishBatch` takes up to [`MAX_BATCH`]). A few batches are in flight at
//! once; while all of them are, the events that arrive wait and then leave together, so
//! batches grow with the load and no event waits on a timer. An upload still answers only
//! once its own event was sent, or failed to be (then the re-publisher sends it later).

use std::{future::Future, sync::Arc};

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Events per call: the most SNS's `PublishBatch` takes.
pub const MAX_BATCH: usize = 10;

/// Sends one batch of events: SNS and the database in the api ([`crate::publish`]), a fake in
/// tests.
pub trait SendBatch<T>: Send + Sync + 'static {
    /// Announces `events` (1 to [`MAX_BATCH`]) in one call and records it; what happened to
    /// each, in the same order (an error says why that event was not sent or not recorded).
    fn send(&self, events: Vec<T>) -> impl Future<Output = Vec<Result<(), String>>> + Send;
}

/// One event waiting for its batch, and where its upload waits for the outcome.
#[derive(Debug)]
struct Waiting<T> {
    event: T,
    outcome: oneshot::Sender<Result<(), String>>,
}

/// Where uploads hand their file's event over. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Announcer<T> {
    waiting: mpsc::UnboundedSender<Waiting<T>>,
}

/// The other end of an [`Announcer`]: [`Batches::run`] sends what it was given.
#[derive(Debug)]
pub struct Batches<T> {
    waiting: mpsc::UnboundedReceiver<Waiting<T>>,
    in_flight: usize,
}

impl<T: Send + 'static> Announcer<T> {
    /// An announcer whose batches, `in_flight` at most at once, go out when the returned
    /// [`Batches`] runs.
    pub fn new(in_flight: usize) -> (Self, Batches<T>) {
        let (sender, waiting) = mpsc::unbounded_channel();
        let batches = Batches {
            waiting,
            in_flight: in_flight.max(1),
        };
        (Self { waiting: sender }, batches)
    }

    /// Queues `event` for the next batch at once; the future says when it went out.
    pub fn announce(&self, event: T) -> impl Future<Output = Result<(), String>> + use<T> {
        let (outcome, answered) = oneshot::channel();
        let queued = self.waiting.send(Waiting { event, outcome });
        async move {
            queued.map_err(|_| "the announcer has stopped".to_owned())?;
            answered
                .await
                .map_err(|_| "the announcer dropped the event".to_owned())?
        }
    }
}

impl<T: Send + 'static> Batches<T> {
    /// Sends batches through `sender` until every [`Announcer`] is dropped.
    pub async fn run(mut self, sender: impl SendBatch<T>) {
        let sender = Arc::new(sender);
        let slots = Arc::new(Semaphore::new(self.in_flight));
        loop {
            // A slot first, then the events: while every slot is busy, events pile up here
            // and the next batch takes them together.
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let Some(first) = self.waiting.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.waiting.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let sender = Arc::clone(&sender);
            tokio::spawn(async move {
                let (events, outcomes): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|waiting| (waiting.event, waiting.outcome))
                    .unzip();
                let sent = sender.send(events).await;
                drop(slot);
                // An upload whose outcome is missing hears that its event was dropped.
                for (outcome, result) in outcomes.into_iter().zip(sent) {
                    let _ = outcome.send(result);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::Notify;

    use super::*;

    /// Records each batch and holds every call until released; refuses event 99.
    #[derive(Debug, Default)]
    struct HeldSender {
        batches: Mutex<Vec<Vec<u32>>>,
        release: Notify,
    }

    impl SendBatch<u32> for Arc<HeldSender> {
        async fn send(&self, events: Vec<u32>) -> Vec<Result<(), String>> {
            self.batches.lock().unwrap().push(events.clone());
            self.release.notified().await;
            events
                .iter()
                .map(|&event| match event {
                    99 => Err("SNS refused the event".to_owned()),
                    _ => Ok(()),
                })
                .collect()
        }
    }

    async fn batches_seen(sender: &HeldSender, count: usize) -> Vec<Vec<u32>> {
        loop {
            let batches = sender.batches.lock().unwrap().clone();
            if batches.len() >= count {
                return batches;
            }
            tokio::task::yield_now().await;
        }
    }

    /// With its one slot busy, the 12 events that arrive meanwhile leave in two calls, 10
    /// and 2, in the order they came; each upload hears its own outcome.
    #[tokio::test]
    async fn events_that_arrive_while_every_slot_is_busy_leave_together() {
        let sender = Arc::new(HeldSender::default());
        let (announcer, batches) = Announcer::new(1);
        tokio::spawn(batches.run(Arc::clone(&sender)));
        let first = tokio::spawn(announcer.announce(0));
        batches_seen(&sender, 1).await;
        let later: Vec<u32> = (1..=11).chain([99]).collect();
        let waiting: Vec<_> = later
            .iter()
            .map(|&event| tokio::spawn(announcer.announce(event)))
            .collect();

        sender.release.notify_one();
        assert_eq!(first.await.unwrap(), Ok(()));
        batches_seen(&sender, 2).await;
        sender.release.notify_one();
        let batches = batches_seen(&sender, 3).await;
        sender.release.notify_one();

        assert_eq!(
            batches,
            [vec![0], later[..10].to_vec(), later[10..].to_vec()]
        );
        let outcomes: Vec<_> = futures::future::join_all(waiting)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let refused = Err("SNS refused the event".to_owned());
        assert!(outcomes[..11].iter().all(Result::is_ok), "{outcomes:?}");
        assert_eq!(outcomes[11], refused);
    }

    /// With a slot free, an event leaves at once, alone: nothing waits to fill a batch.
    #[tokio::test]
    async fn a_lone_event_leaves_at_once() {
        let sender = Arc::new(HeldSender::default());
        let (announcer, batches) = Announcer::new(4);
        tokio::spawn(batches.run(Arc::clone(&sender)));
        let waiting = tokio::spawn(announcer.announce(7));
        assert_eq!(batches_seen(&sender, 1).await, [vec![7]]);
        sender.release.notify_one();
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }

    /// Once the batches have stopped, an upload hears it instead of waiting forever.
    #[tokio::test]
    async fn announcing_after_the_batches_stopped_is_an_error() {
        let (announcer, batches) = Announcer::<u32>::new(1);
        drop(batches);
        assert_eq!(
            announcer.announce(1).await,
            Err("the announcer has stopped".to_owned())
        );
    }
}
