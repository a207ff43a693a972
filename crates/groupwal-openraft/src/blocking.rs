//! Blocking groupwal calls from async code: never on an executor's worker
//! thread.

use crate::error::{Error, Result};

/// Runs `f` on tokio's blocking pool when called inside a tokio runtime
/// (openraft 0.9's runtime), else on a thread of its own, and waits for it
/// without blocking the caller's thread.
pub(crate) async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::Task(e.to_string())),
        Err(_) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("groupwal-openraft".into())
                .spawn(move || {
                    let _ = tx.send(f());
                })
                .map_err(|e| Error::Task(e.to_string()))?;
            rx.await
                .map_err(|_| Error::Task("the blocking thread panicked".into()))
        }
    }
}
