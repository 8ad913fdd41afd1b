//! Live ingest: one event per request, all day, acknowledged durably and visible at once,
//! folded into the tables in large batches.
//!
//! Requests go into a bounded queue with a reply channel. One committer task owns the
//! [`Loader`] (the warehouse's state) and takes every request waiting (a *group*):
//! 1. normalises the group's events against the state (new rows, replaced rows),
//! 2. appends the events to the durable log (`log.rs`: fsync'd locally, one object per group on
//!    object storage),
//! 3. adds the rows to the live tail and publishes it, so the next query on any connection
//!    sees them ([`prov9_store::Tail`]),
//! 4. answers every request of the group.
//!
//! A fold-in runs in the background once the unfolded events reach [`GroupCommitOptions::fold_events`]
//! or are [`GroupCommitOptions::fold_interval`] old: it commits them to the tables (one Delta
//! commit per table) and then writes one warehouse commit that names those versions, records the
//! last group folded in (`log_through`) and swaps the tail for the events that arrived
//! meanwhile, in one step. Then that log is deleted. Producers never wait for a fold-in.
//!
//! After a crash, the groups the newest warehouse commit does not cover are read back from the
//! log and folded in before the server takes requests; rows a cut-short fold-in had already
//! committed are recognised by key and not stored twice.

mod log;

use std::sync::Arc;
use std::time::Duration;

use prov9_store::{BatchGuard, TailBuilder, Warehouse, source};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::changes::{Changes, RowCounts};
use crate::loader::table_versions;
use crate::normalize::ParsedEvent;
use crate::{IngestError, LoadOptions, Loader};
use log::DurableLog;

/// How the committer batches and folds.
#[derive(Debug, Clone)]
pub struct GroupCommitOptions {
    /// Longest a request waits for others to share its group (0: take what is waiting; the
    /// previous group's sync is the natural window).
    pub window: Duration,
    /// Events that close a group early.
    pub max_batch_events: usize,
    /// Requests waiting at most; past it, callers are told to retry (HTTP 503).
    pub queue_depth: usize,
    /// Unfolded events that start a fold-in.
    pub fold_events: usize,
    /// Longest an acknowledged event waits to be folded into the tables.
    pub fold_interval: Duration,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        GroupCommitOptions {
            window: Duration::ZERO,
            max_batch_events: 50_000,
            queue_depth: 4096,
            fold_events: 20_000,
            fold_interval: Duration::from_secs(10),
        }
    }
}

struct Job {
    events: Vec<ParsedEvent>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// The handle requests submit through.
#[derive(Clone)]
pub struct GroupCommitter {
    queue: mpsc::Sender<Job>,
}

/// The committer's task. It ends once every [`GroupCommitter`] handle is dropped, after folding
/// everything acknowledged into the tables: a server awaits it to stop gracefully, so that
/// other processes reading the warehouse see every event without a restart's replay.
pub struct CommitterTask(JoinHandle<()>);

impl CommitterTask {
    pub async fn finished(self) {
        if let Err(e) = self.0.await {
            tracing::error!("the live ingest committer failed (the log keeps its events): {e}");
        }
    }
}

impl GroupCommitter {
    /// Fold in what the log holds from before (a crash), then start the committer task.
    pub async fn start(
        warehouse: Warehouse,
        options: GroupCommitOptions,
    ) -> Result<(Self, CommitterTask), IngestError> {
        let live = Live::open(warehouse, options.clone()).await?;
        let (queue, jobs) = mpsc::channel(options.queue_depth.max(1));
        let task = CommitterTask(tokio::spawn(live.run(jobs)));
        Ok((GroupCommitter { queue }, task))
    }

    /// Ingest `events` (parsed by the caller, off the committer's one task); resolves once they
    /// are durable and visible to queries (or known to be stored already).
    pub async fn submit(&self, events: Vec<ParsedEvent>) -> Result<(), IngestError> {
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

/// What a fold-in committed: rows added, the last group it folds in, and the batch lock it
/// holds until its warehouse commit is written.
type Folded = Result<(RowCounts, u64, BatchGuard), IngestError>;

struct Live {
    warehouse: Warehouse,
    loader: Loader,
    log: DurableLog,
    options: GroupCommitOptions,
    /// Normalised since the last fold-in started, and the last group among them.
    unfolded: Changes,
    unfolded_through: Option<u64>,
    unfolded_since: Option<Instant>,
    /// What queries see: the rows being folded in and the unfolded ones.
    tail: TailBuilder,
    folding: Option<JoinHandle<Folded>>,
    /// Every table's version after this process's last fold-in: another writer shows as a
    /// difference.
    versions: Vec<i64>,
    /// A recovery failed: what the tail shows may not match `unfolded`, so nothing is folded
    /// in (and no log deleted) until a recovery succeeds.
    stale: bool,
}

impl Live {
    /// Read the warehouse's state and fold in what the log holds, starting over while another
    /// writer's commits win the race (its rows are then part of the state read next).
    async fn open(warehouse: Warehouse, options: GroupCommitOptions) -> Result<Self, IngestError> {
        let mut attempt = 1;
        loop {
            match Live::open_once(warehouse.clone(), options.clone()).await {
                Err(e) if e.is_conflict() && attempt < crate::error::RACE_ATTEMPTS => {
                    tracing::info!(
                        "another writer committed first, reading the warehouse again: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
                opened => return opened,
            }
        }
    }

    async fn open_once(
        warehouse: Warehouse,
        options: GroupCommitOptions,
    ) -> Result<Self, IngestError> {
        let loader = Loader::new(warehouse.clone(), LoadOptions::default()).await?;
        let through = warehouse
            .snapshot()
            .await?
            .commit
            .as_ref()
            .and_then(|c| c.log_through);
        let (log, pending) = DurableLog::open(&warehouse, through).await?;
        let mut live = Live {
            versions: loader.table_versions().to_vec(),
            warehouse,
            loader,
            log,
            options,
            unfolded: Changes::default(),
            unfolded_through: None,
            unfolded_since: None,
            tail: TailBuilder::default(),
            folding: None,
            stale: false,
        };
        if !pending.is_empty() {
            let events: usize = pending.iter().map(|g| g.events.len()).sum();
            tracing::info!(
                groups = pending.len(),
                events,
                "folding in events acknowledged before the last stop"
            );
            let last = pending.last().map(|g| g.seq);
            let mut parsed = Vec::new();
            for raw in pending.into_iter().flat_map(|g| g.events) {
                let event = ParsedEvent::parse(raw.text, raw.source.clone()).map_err(|reason| {
                    IngestError::BadEvent {
                        location: format!("the live ingest log ({})", raw.source),
                        reason,
                    }
                })?;
                parsed.push(event);
            }
            let changes = live.loader.normalise(live.not_stored(parsed))?;
            live.unfolded = changes;
            live.unfolded_through = last;
            live.fold_now().await?;
        }
        Ok(live)
    }

    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        loop {
            let due = self
                .unfolded_since
                .map(|t| t + self.options.fold_interval)
                .filter(|_| self.folding.is_none());
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(first) => self.group(first, &mut jobs).await,
                    None => break,
                },
                folded = async { self.folding.as_mut().expect("a fold-in runs").await },
                    if self.folding.is_some() =>
                {
                    self.folding = None;
                    let folded = folded.map_err(IngestError::CommitTask).and_then(|f| f);
                    self.finish_fold(folded).await;
                }
                () = sleep_until(due), if due.is_some() => {}
            }
            if self.folding.is_none() && self.fold_due() {
                self.start_fold().await;
            }
        }
        // The server is stopping: leave nothing for the next start to replay.
        if let Some(folding) = self.folding.take() {
            let folded = folding
                .await
                .map_err(IngestError::CommitTask)
                .and_then(|f| f);
            self.finish_fold(folded).await;
        }
        if self.stale {
            tracing::warn!("not folding in at shutdown: the next start replays the log");
        } else if let Err(e) = self.fold_now().await {
            tracing::error!("folding in at shutdown failed (the log keeps the events): {e}");
        }
    }

    fn fold_due(&self) -> bool {
        self.unfolded_through.is_some()
            && (self.unfolded.events.len() >= self.options.fold_events
                || self
                    .unfolded_since
                    .is_some_and(|t| t.elapsed() >= self.options.fold_interval))
    }

    /// One group: every request waiting (up to the group size), answered together.
    async fn group(&mut self, first: Job, jobs: &mut mpsc::Receiver<Job>) {
        let deadline = Instant::now() + self.options.window;
        let mut events = first.events.len();
        let mut batch = vec![first];
        while events < self.options.max_batch_events {
            let next = if self.options.window.is_zero() {
                jobs.try_recv().ok()
            } else {
                tokio::time::timeout_at(deadline, jobs.recv())
                    .await
                    .ok()
                    .flatten()
            };
            let Some(job) = next else { break };
            events += job.events.len();
            batch.push(job);
        }
        let (all, replies): (Vec<Vec<ParsedEvent>>, Vec<_>) =
            batch.into_iter().map(|j| (j.events, j.reply)).unzip();
        let result = self.ingest(all.into_iter().flatten().collect()).await;
        if let Err(e) = &result {
            tracing::error!("ingesting {events} events failed: {e}");
            if let Err(e) = self.recover().await {
                tracing::error!("recovering the live ingest state failed: {e}");
            }
        }
        let result = result.map_err(|e| e.to_string());
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }

    /// Normalise, log durably, publish to the tail.
    async fn ingest(&mut self, events: Vec<ParsedEvent>) -> Result<(), IngestError> {
        let events = self.not_stored(events);
        if events.is_empty() {
            return Ok(());
        }
        // Encoded before normalising takes the events; written only once they normalised, so
        // the log never holds an event that cannot be folded in.
        let pairs: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.source.as_str(), e.payload.as_str()))
            .collect();
        let group = self.log.encode(&pairs)?;
        let changes = self.loader.normalise(events)?;
        if changes.events.is_empty() {
            return Ok(());
        }
        let seq = self.log.write(group).await?;
        for (table, batch) in changes.batches() {
            self.tail.push(table, batch)?;
        }
        self.warehouse.set_tail(Arc::new(self.tail.tail()));
        self.unfolded.absorb(changes);
        self.unfolded_through = Some(seq);
        self.unfolded_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// The events the warehouse does not hold yet.
    fn not_stored(&self, events: Vec<ParsedEvent>) -> Vec<ParsedEvent> {
        events
            .into_iter()
            .filter(|e| !self.loader.has_event(&e.event_id))
            .collect()
    }

    /// Start folding the unfolded events into the tables, in the background.
    async fn start_fold(&mut self) {
        if self.stale {
            // Next try after another interval, not in a loop.
            self.unfolded_since = Some(Instant::now());
            if let Err(e) = self.recover().await {
                tracing::error!("recovering the live ingest state failed: {e}");
            }
            return;
        }
        match table_versions(&self.warehouse, true).await {
            Ok(now) if now == self.versions => {}
            Ok(_) => {
                tracing::info!(
                    "another writer committed to the warehouse: reading its state again"
                );
                if let Err(e) = self.recover().await {
                    tracing::error!("recovering the live ingest state failed: {e}");
                }
                return;
            }
            Err(e) => {
                tracing::error!("reading table versions failed: {e}");
                return;
            }
        }
        let Some((changes, through)) = self.take_unfolded() else {
            return;
        };
        let warehouse = self.warehouse.clone();
        self.folding = Some(tokio::spawn(async move {
            let batch = warehouse.batch_lock().await;
            let rows = changes.commit(&warehouse).await?;
            Ok((rows, through, batch))
        }));
    }

    /// Publish a fold-in's commit: its rows leave the tail as they enter the tables.
    async fn finish_fold(&mut self, folded: Folded) {
        let result = match folded {
            Ok((rows, through, _batch)) => self.publish(&rows, through).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::error!("folding live events into the tables failed (the log keeps them): {e}");
            if let Err(e) = self.recover().await {
                tracing::error!("recovering the live ingest state failed: {e}");
            }
        }
    }

    async fn publish(&mut self, rows: &RowCounts, through: u64) -> Result<(), IngestError> {
        let mut tail = TailBuilder::default();
        for (table, batch) in self.unfolded.batches() {
            tail.push(table, batch)?;
        }
        self.warehouse
            .publish(
                source::HTTP,
                rows.by_table(),
                Some(through),
                Some(Arc::new(tail.tail())),
            )
            .await?;
        self.tail = tail;
        self.versions = table_versions(&self.warehouse, false).await?;
        self.log.forget_through(through).await?;
        tracing::debug!(through, "live events folded in");
        Ok(())
    }

    /// The unfolded changes and their last group, to fold in; the log starts a new segment.
    fn take_unfolded(&mut self) -> Option<(Changes, u64)> {
        let through = self.unfolded_through.take()?;
        self.unfolded_since = None;
        self.log.rotate();
        Some((std::mem::take(&mut self.unfolded), through))
    }

    /// Fold everything unfolded in now, waiting for it.
    async fn fold_now(&mut self) -> Result<(), IngestError> {
        let Some((changes, through)) = self.take_unfolded() else {
            return Ok(());
        };
        let _batch = self.warehouse.batch_lock().await;
        let rows = changes.commit(&self.warehouse).await?;
        self.publish(&rows, through).await
    }

    /// Start again from what is certain: the tables and the log. Reads the warehouse's state
    /// again and folds in every logged group no warehouse commit covers yet.
    async fn recover(&mut self) -> Result<(), IngestError> {
        if let Some(folding) = self.folding.take() {
            let _ = folding.await;
        }
        let fresh = Live::open(self.warehouse.clone(), self.options.clone()).await;
        self.stale = fresh.is_err();
        *self = fresh?;
        self.warehouse.set_tail(Arc::new(self.tail.tail()));
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize) -> ParsedEvent {
        ParsedEvent::parse(
            format!(
                r#"{{"eventType":"START","eventTime":"2026-11-01T10:00:00Z","producer":"https://example.com/t","run":{{"runId":"0b9c8a1e-1111-4d2c-9a3e-{i:012}"}},"job":{{"namespace":"n","name":"j"}}}}"#
            ),
            format!("test:{i}"),
        )
        .unwrap()
    }

    async fn stored_events(warehouse: &Warehouse) -> usize {
        warehouse
            .read("events", &["event_id"])
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn acknowledges_what_it_logged_and_refuses_past_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let (committer, task) = GroupCommitter::start(
            warehouse.clone(),
            GroupCommitOptions {
                window: Duration::from_millis(50),
                max_batch_events: 1,
                queue_depth: 1,
                ..GroupCommitOptions::default()
            },
        )
        .await
        .unwrap();
        // Twenty requests at once: one is taken, one waits in the queue, the rest are refused.
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
        // Acknowledged: in the tail, not yet in the tables (the fold-in waits 10 s).
        let tail = warehouse.snapshot().await.unwrap().tail.clone();
        assert_eq!(tail.table("events").map_or(0, |t| t.rows()), accepted);
        assert_eq!(stored_events(&warehouse).await, 0);

        // A restart (as after kill -9) folds the logged events in before taking requests.
        task.0.abort();
        drop(committer);
        let reopened = Warehouse::open(dir.path().to_str().unwrap()).await.unwrap();
        let _again = GroupCommitter::start(reopened.clone(), GroupCommitOptions::default())
            .await
            .unwrap();
        assert_eq!(stored_events(&reopened).await, accepted);
        let commit = reopened.snapshot().await.unwrap().commit.clone().unwrap();
        assert_eq!(commit.source, "http");
        assert_eq!(commit.added.get("events").copied(), Some(accepted as u64));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_fold_in_moves_rows_from_the_tail_to_the_tables_in_one_commit() {
        let warehouse = Warehouse::open("memory://fold-in-test").await.unwrap();
        let (committer, _task) = GroupCommitter::start(
            warehouse.clone(),
            GroupCommitOptions {
                fold_events: 5,
                ..GroupCommitOptions::default()
            },
        )
        .await
        .unwrap();
        for i in 0..12 {
            committer.submit(vec![event(i)]).await.unwrap();
        }
        // Two fold-ins of at least five events each land; the rest stays in the tail.
        let mut waited = 0;
        loop {
            let snapshot = warehouse.snapshot().await.unwrap();
            let tail = snapshot.tail.table("events").map_or(0, |t| t.rows());
            let stored = stored_events(&warehouse).await;
            // Whatever the moment, every acknowledged event is in exactly one of the two.
            let named = snapshot.commit.as_ref().unwrap().versions["events"];
            if named
                == warehouse
                    .current("events")
                    .await
                    .unwrap()
                    .version()
                    .unwrap() as i64
            {
                assert_eq!(tail + stored, 12, "tail {tail}, stored {stored}");
            }
            if stored >= 10 || waited > 200 {
                assert!(stored >= 10, "stored {stored}");
                break;
            }
            waited += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
