//! Critical tasks (reth's `spawn_critical`): the settlement task (derivation, batcher,
//! watcher, payout coordinator) and the block producer. If one ends, fails or panics, the
//! node must not go on answering RPC from a chain it no longer advances or checks: the
//! [`Supervisor`] reports the first such end, and the `cairn` commands log it and exit
//! non-zero. Shutting down (SIGINT or SIGTERM) is not a failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

const TARGET: &str = "cairn::node";

/// Collects why critical tasks ended.
#[derive(Debug)]
pub struct Supervisor {
    tx: mpsc::UnboundedSender<String>,
    rx: mpsc::UnboundedReceiver<String>,
    tasks: Vec<AbortHandle>,
}

impl Default for Supervisor {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx,
            tasks: Vec::new(),
        }
    }
}

impl Supervisor {
    /// Runs `task` on the runtime as a critical task named `name`.
    pub fn spawn_critical<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let inner = tokio::spawn(task);
        self.tasks.push(inner.abort_handle());
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let reason = match inner.await {
                Ok(Ok(())) => format!("{name} ended"),
                Ok(Err(e)) => format!("{name} failed: {e:#}"),
                Err(e) if e.is_panic() => {
                    format!("{name} panicked: {}", panic_text(e.into_panic()))
                }
                Err(_) => return, // aborted at shutdown
            };
            let _ = tx.send(reason);
        });
    }

    /// Runs `work` on a thread of its own as a critical task named `name`.
    pub fn spawn_critical_thread<F>(
        &self,
        name: &'static str,
        work: F,
    ) -> std::io::Result<std::thread::JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name(format!("cairn-{name}"))
            .spawn(move || {
                if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(work)) {
                    let _ = tx.send(format!("{name} panicked: {}", panic_text(panic)));
                }
            })
    }

    /// Waits for the first critical task to end, and says why.
    pub async fn failure(&mut self) -> String {
        match self.rx.recv().await {
            Some(reason) => {
                tracing::error!(target: TARGET, %reason, "a critical task stopped: shutting down");
                reason
            }
            // Unreachable while `self` holds a sender.
            None => std::future::pending().await,
        }
    }

    /// Stops every critical task.
    pub fn abort_all(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (systemd, docker, Kubernetes).
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
