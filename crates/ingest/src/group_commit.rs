//! Group commit: many concurrent ingest requests share one Delta commit.
//!
//! Each request's events go into a bounded queue with a reply channel. One committer task owns
//! the [`Loader`] (and so the warehouse's state): it takes the first waiting request, gathers
//! whatever else arrives within the commit window (or until the batch is full), loads them all
//! in one go — one commit per table — and only then answers every request. A request is thus
//! answered after its events are durable, and throughput does not pay a commit per event.

use std::time::Duration;

use prov9_store::Warehouse;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::{IngestError, LoadOptions, Loader, RawEvent};

/// How the committer batches.
#[derive(Debug, Clone)]
pub struct GroupCommitOptions {
    /// Longest a request waits for others to share its commit.
    pub window: Duration,
    /// Events that close a batch early.
    pub max_batch_events: usize,
    /// Requests waiting at most; past it, callers are told to retry (HTTP 503).
    pub queue_depth: usize,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        GroupCommitOptions {
            window: Duration::from_millis(100),
            max_batch_events: 50_000,
            queue_depth: 1024,
        }
    }
}

struct Job {
    events: Vec<RawEvent>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The handle requests submit through.
#[derive(Clone)]
pub struct GroupCommitter {
    queue: mpsc::Sender<Job>,
}

impl GroupCommitter {
    /// Start the committer task over a warehouse.
    pub async fn start(
        warehouse: Warehouse,
        options: GroupCommitOptions,
    ) -> Result<Self, IngestError> {
        let loader = Loader::new(warehouse, LoadOptions::default()).await?;
        let (queue, jobs) = mpsc::channel(options.queue_depth.max(1));
        tokio::spawn(commit_loop(loader, jobs, options));
        Ok(GroupCommitter { queue })
    }

    /// Commit `events`; resolves once they are durable (or known to be stored already).
    pub async fn submit(&self, events: Vec<RawEvent>) -> Result<(), IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job { events, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::CommitQueueFull,
                mpsc::error::TrySendError::Closed(_) => IngestError::CommitterStopped,
            })?;
        answer
            .await
            .map_err(|_| IngestError::CommitterStopped)?
            .map_err(IngestError::GroupCommit)
    }
}

async fn commit_loop(
    mut loader: Loader,
    mut jobs: mpsc::Receiver<Job>,
    options: GroupCommitOptions,
) {
    while let Some(first) = jobs.recv().await {
        let deadline = Instant::now() + options.window;
        let mut batch = vec![first];
        let mut events: usize = batch[0].events.len();
        while events < options.max_batch_events {
            match tokio::time::timeout_at(deadline, jobs.recv()).await {
                Ok(Some(job)) => {
                    events += job.events.len();
                    batch.push(job);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let (all, replies): (Vec<Vec<RawEvent>>, Vec<_>) =
            batch.into_iter().map(|j| (j.events, j.reply)).unzip();
        let result = loader
            .load_events(all.into_iter().flatten())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!("ingest commit of {events} events failed: {e}");
            // What the loader knew may now be ahead of the warehouse: read it again.
            match Loader::new(loader.warehouse().clone(), LoadOptions::default()).await {
                Ok(fresh) => loader = fresh,
                Err(e) => tracing::error!("reloading the warehouse state failed: {e}"),
            }
        } else {
            tracing::debug!(events, requests = replies.len(), "group commit");
        }
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> RawEvent {
        RawEvent {
            text: format!(
                r#"{{"eventType":"START","eventTime":"2026-11-01T10:00:00Z","producer":"https://example.com/t","run":{{"runId":"0b9c8a1e-1111-4d2c-9a3e-{i:012}"}},"job":{{"namespace":"n","name":"j"}}}}"#
            ),
            source: format!("test:{i}"),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn commits_what_it_acknowledges_and_refuses_past_the_queue() {
        let warehouse = Warehouse::open("memory://group-commit-test").await.unwrap();
        let committer = GroupCommitter::start(
            warehouse.clone(),
            GroupCommitOptions {
                window: Duration::from_millis(50),
                max_batch_events: 1,
                queue_depth: 1,
            },
        )
        .await
        .unwrap();
        // Twenty requests at once: one commits, one waits in the queue, the rest are refused.
        let answers = futures::future::join_all((0..20).map(|i| {
            let c = committer.clone();
            async move { c.submit(vec![event(i)]).await }
        }))
        .await;
        let accepted = answers.iter().filter(|a| a.is_ok()).count();
        let refused = answers
            .iter()
            .filter(|a| matches!(a, Err(IngestError::CommitQueueFull)))
            .count();
        assert_eq!(accepted + refused, 20, "{answers:?}");
        assert!(accepted >= 1 && refused >= 1, "{answers:?}");
        let stored = warehouse
            .read("events", &["event_id"])
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
        assert_eq!(stored, accepted);
    }
}
