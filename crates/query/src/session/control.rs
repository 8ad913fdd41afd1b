//! Stopping a running statement: cancel requests and `statement_timeout`.
//!
//! pgwire races a cancel request only against planning; the work of a DataFusion query happens
//! later, while its result stream is polled and rows are sent. So each connection has a
//! [`QueryControl`], and every physical plan of that connection is wrapped in a [`ControlledExec`]
//! whose streams end with an error as soon as the current message is cancelled or the current
//! statement's deadline passes. Streams read the control at every poll, so a cursor fetched by a
//! later message obeys that message's cancel and timeout.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::{FutureExt, Stream};
use tokio::time::{Instant, Sleep};

use crate::exec_wrapper::ExecWrapper;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// Why a statement was stopped; reported as SQLSTATE 57014 (query_canceled), like Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    #[error("canceling statement due to user request")]
    Cancelled,
    #[error("canceling statement due to statement timeout")]
    TimedOut,
}

/// The statement currently running on one connection.
#[derive(Debug, Default)]
pub struct QueryControl {
    current: Mutex<Statement>,
    /// Result streams open on the whole server: each holds a token of this tracker while it
    /// lives, so shutdown can wait for running queries (`close`, then `wait`).
    running: TaskTracker,
}

#[derive(Debug, Clone, Default)]
struct Statement {
    /// Fired by a cancel request; one per client message, so it reaches every result of a
    /// multi-statement query and every row of a cursor fetched in that message.
    cancel: CancellationToken,
    deadline: Option<Instant>,
    /// Changes with every `begin_*`, so open streams pick up the new token and deadline.
    generation: u64,
}

impl QueryControl {
    /// A connection's control, tracking its result streams in the server's `running`.
    pub fn new(running: TaskTracker) -> Self {
        QueryControl {
            current: Mutex::default(),
            running,
        }
    }

    /// A client message arrives (a simple query, or an Execute): earlier cancel requests no
    /// longer apply, and the statement timeout starts again.
    pub fn begin_message(&self, timeout: Option<Duration>) {
        let mut current = self.current.lock().expect("query control lock");
        *current = Statement {
            cancel: CancellationToken::new(),
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            generation: current.generation + 1,
        };
    }

    /// A statement of the current message starts: its timeout runs from now (a `FETCH` from a
    /// cursor gets the whole timeout, not what was left of the `DECLARE`'s).
    pub fn begin_statement(&self, timeout: Option<Duration>) {
        let mut current = self.current.lock().expect("query control lock");
        current.deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        current.generation += 1;
    }

    /// A cancel request for this connection.
    pub fn cancel(&self) {
        self.current
            .lock()
            .expect("query control lock")
            .cancel
            .cancel();
    }

    /// Whether the current message was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.current().cancel.is_cancelled()
    }

    fn current(&self) -> Statement {
        self.current.lock().expect("query control lock").clone()
    }
}

/// The root of every physical plan on a connection: passes batches through until the statement
/// is cancelled or times out.
#[derive(Debug)]
pub struct ControlledExec {
    input: Arc<dyn ExecutionPlan>,
    control: Arc<QueryControl>,
}

impl ControlledExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, control: Arc<QueryControl>) -> Self {
        ControlledExec { input, control }
    }
}

impl DisplayAs for ControlledExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ControlledExec")
    }
}

impl ExecWrapper for ControlledExec {
    fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        ControlledExec::new(input, self.control.clone())
    }
}

impl ExecutionPlan for ControlledExec {
    fn name(&self) -> &str {
        "ControlledExec"
    }

    // Yields every batch of its input, or ends the statement with an error: transparent.
    crate::forward_to_input!(statistics, limit, filters);

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(ControlledStream {
            _running: self.control.running.token(),
            schema: input.schema(),
            input: Some(input),
            control: self.control.clone(),
            watching: None,
        }))
    }
}

struct ControlledStream {
    _running: TaskTrackerToken,
    schema: SchemaRef,
    /// Dropped as soon as the statement is stopped, which stops the work under it.
    input: Option<SendableRecordBatchStream>,
    control: Arc<QueryControl>,
    /// What the stream waits on, for the connection's current message and statement.
    watching: Option<Watch>,
}

struct Watch {
    generation: u64,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl ControlledStream {
    fn interrupted(&mut self, cx: &mut Context<'_>) -> Option<Interrupted> {
        let now = self.control.current();
        if self.watching.as_ref().map(|w| w.generation) != Some(now.generation) {
            self.watching = Some(Watch {
                generation: now.generation,
                cancelled: Box::pin(now.cancel.cancelled_owned()),
                deadline: now.deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            });
        }
        let watch = self.watching.as_mut()?;
        if watch.cancelled.poll_unpin(cx).is_ready() {
            return Some(Interrupted::Cancelled);
        }
        let deadline = watch.deadline.as_mut()?;
        deadline
            .poll_unpin(cx)
            .is_ready()
            .then_some(Interrupted::TimedOut)
    }
}

impl Stream for ControlledStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(input) = self.input.as_mut() else {
            return Poll::Ready(None);
        };
        // The input first, so a batch that is ready is not lost to a deadline that is also ready.
        if let Poll::Ready(item) = input.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.interrupted(cx) {
            Some(why) => {
                self.input = None;
                Poll::Ready(Some(Err(DataFusionError::External(Box::new(why)))))
            }
            None => Poll::Pending,
        }
    }
}

impl RecordBatchStream for ControlledStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::execute_stream;
    use datafusion::prelude::SessionContext;
    use futures::StreamExt;

    async fn slow_plan(ctx: &SessionContext) -> Arc<dyn ExecutionPlan> {
        // Enough work to take far longer than the test's limits.
        ctx.sql("SELECT count(DISTINCT v % 1000003) FROM generate_series(1, 2000000000) AS t(v)")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap()
    }

    async fn run(plan: Arc<dyn ExecutionPlan>, ctx: &SessionContext) -> DataFusionError {
        let mut stream = execute_stream(plan, ctx.task_ctx()).unwrap();
        loop {
            match stream.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return e,
                None => panic!("the query finished instead of being stopped"),
            }
        }
    }

    fn reason(e: &DataFusionError) -> Interrupted {
        match e {
            DataFusionError::External(inner) => *inner.downcast_ref::<Interrupted>().unwrap(),
            other => panic!("unexpected error {other}"),
        }
    }

    #[tokio::test]
    async fn timeout_stops_a_running_query() {
        let ctx = SessionContext::new();
        let control = Arc::new(QueryControl::default());
        control.begin_message(Some(Duration::from_millis(200)));
        let plan = Arc::new(ControlledExec::new(slow_plan(&ctx).await, control));
        let started = std::time::Instant::now();
        let err = run(plan, &ctx).await;
        assert_eq!(reason(&err), Interrupted::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[tokio::test]
    async fn cancel_stops_a_running_query_and_not_the_next() {
        let ctx = SessionContext::new();
        let control = Arc::new(QueryControl::default());
        control.begin_message(None);
        let plan = Arc::new(ControlledExec::new(slow_plan(&ctx).await, control.clone()));
        let canceller = control.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            canceller.cancel();
        });
        assert_eq!(reason(&run(plan, &ctx).await), Interrupted::Cancelled);

        control.cancel(); // a late cancel request, after the statement ended
        control.begin_message(None);
        let small = ctx
            .sql("SELECT 1")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let plan = Arc::new(ControlledExec::new(small, control));
        let batches: Vec<_> = execute_stream(plan, ctx.task_ctx())
            .unwrap()
            .collect()
            .await;
        assert_eq!(batches.len(), 1);
        assert!(batches[0].is_ok());
    }
}
