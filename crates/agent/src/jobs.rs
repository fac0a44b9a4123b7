//! Jobs of the local API: one card task at a time (`POST /v1/jobs`), its events kept for a
//! late subscriber (`GET /v1/jobs/ID/events`, server-sent events, or `GET /v1/jobs/ID`),
//! paused for "Next" and cancellable between steps.
//!
//! [`Progress`] is what a task reports to: a job's event log, or the terminal for the same
//! task run as a command. This module never sees a passcode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use serde::Serialize;
use serde_json::{Value, json};

/// How long a job waits for "Next" before it gives up (and a renewal is aborted).
pub(crate) const WAIT_FOR_NEXT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The job was cancelled through `POST /v1/jobs/ID/cancel`.
#[derive(Debug)]
pub(crate) struct JobCancelled;

impl std::fmt::Display for JobCancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the job was cancelled")
    }
}

impl std::error::Error for JobCancelled {}

/// One event: `event: NAME` and its JSON `data`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JobEvent {
    /// `step`, `waiting`, `done` or `failed`.
    pub(crate) event: &'static str,
    /// Its data.
    pub(crate) data: Value,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobState {
    /// Working.
    Running,
    /// Waiting for `next`.
    Waiting,
    /// Finished (`done` was the last event).
    Done,
    /// Failed (`failed` was the last event).
    Failed,
}

struct Inner {
    state: JobState,
    events: Vec<JobEvent>,
    subscribers: Vec<tokio::sync::mpsc::UnboundedSender<JobEvent>>,
}

/// A job: its id, events, and the "next" and "cancel" signals.
pub(crate) struct Job {
    /// Its id.
    pub(crate) id: String,
    inner: Mutex<Inner>,
    next: tokio::sync::Notify,
    cancel: AtomicBool,
}

impl Job {
    /// A new running job with a random id.
    pub(crate) fn new() -> Result<Arc<Job>> {
        Ok(Arc::new(Job {
            id: hex::encode(pki::random_bytes::<8>()?),
            inner: Mutex::new(Inner { state: JobState::Running, events: Vec::new(), subscribers: Vec::new() }),
            next: tokio::sync::Notify::new(),
            cancel: AtomicBool::new(false),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an event and sends it to every subscriber; `done` and `failed` end the job
    /// (and the subscribers' streams).
    pub(crate) fn emit(&self, event: &'static str, data: Value) {
        let ev = JobEvent { event, data };
        let mut g = self.lock();
        if matches!(g.state, JobState::Done | JobState::Failed) {
            return;
        }
        g.events.push(ev.clone());
        g.subscribers.retain(|s| s.send(ev.clone()).is_ok());
        match event {
            "done" => g.state = JobState::Done,
            "failed" => g.state = JobState::Failed,
            "waiting" => g.state = JobState::Waiting,
            _ => g.state = JobState::Running,
        }
        if matches!(g.state, JobState::Done | JobState::Failed) {
            g.subscribers.clear();
        }
    }

    /// The state and every event so far.
    pub(crate) fn snapshot(&self) -> (JobState, Vec<JobEvent>) {
        let g = self.lock();
        (g.state, g.events.clone())
    }

    /// Whether the job has ended.
    pub(crate) fn finished(&self) -> bool {
        matches!(self.lock().state, JobState::Done | JobState::Failed)
    }

    /// A stream of the events: the past ones first, then live ones until the job ends.
    pub(crate) fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<JobEvent> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut g = self.lock();
        for ev in &g.events {
            let _ = tx.send(ev.clone());
        }
        if !matches!(g.state, JobState::Done | JobState::Failed) {
            g.subscribers.push(tx);
        }
        rx
    }

    /// `POST /v1/jobs/ID/next`.
    pub(crate) fn next(&self) {
        self.next.notify_one();
    }

    /// `POST /v1/jobs/ID/cancel`: the job stops at its next step.
    pub(crate) fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.next.notify_one();
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// What a task reports to: a job, or the terminal.
#[derive(Clone)]
pub(crate) enum Progress {
    /// A command on a terminal: lines of text, or JSON lines with `--json`.
    Terminal {
        /// `--json`.
        json: bool,
    },
    /// A job of the local API.
    Job(Arc<Job>),
}

impl Progress {
    /// `event: step` `{"step": NAME}` (e.g. `creating`).
    pub(crate) fn step(&self, name: &str) {
        match self {
            Progress::Terminal { json: true } => println!("{}", json!({ "step": name })),
            Progress::Terminal { json: false } => {}
            Progress::Job(j) => j.emit("step", json!({ "step": name })),
        }
    }

    /// `event: step` `{"certificate": NAME, "state": STATE}` (Pending, Writing, Done).
    pub(crate) fn certificate(&self, name: &str, state: &str) {
        match self {
            Progress::Terminal { json: true } => println!("{}", json!({"certificate": name, "state": state})),
            Progress::Terminal { json: false } => println!("{name} certificate: {state}"),
            Progress::Job(j) => j.emit("step", json!({"certificate": name, "state": state})),
        }
    }

    /// Stops here when the job was cancelled.
    pub(crate) fn check(&self) -> Result<()> {
        match self {
            Progress::Job(j) if j.cancelled() => Err(JobCancelled.into()),
            _ => Ok(()),
        }
    }

    /// `event: waiting` `{"for": "next"}`, then waits for `next` (or `cancel`).
    pub(crate) async fn wait_next(&self) -> Result<()> {
        if let Progress::Job(j) = self {
            self.check()?;
            j.emit("waiting", json!({"for": "next"}));
            if tokio::time::timeout(WAIT_FOR_NEXT, j.next.notified()).await.is_err() {
                return Err(crate::tasks::Refusal {
                    code: "timeout",
                    message: format!(
                        "nobody pressed Next for {} minutes: the job was stopped; start it again",
                        WAIT_FOR_NEXT.as_secs() / 60
                    ),
                }
                .into());
            }
            self.check()?;
            let mut g = j.lock();
            if g.state == JobState::Waiting {
                g.state = JobState::Running;
            }
        }
        Ok(())
    }
}
