//! A server-like loop on tokio: each "request" task appends asynchronously
//! and answers once its record is durable. No file I/O runs on the
//! runtime's threads; the log's own thread writes and syncs.
//!
//! `cargo run -p groupwal --example server`

// An example reports on the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use groupwal::{Wal, WalOptions};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // Opening recovers the log: blocking work, so off the runtime.
    let path = dir.path().to_path_buf();
    let (wal, _) =
        tokio::task::spawn_blocking(move || Wal::open(path, &WalOptions::new())).await??;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    let handler = {
        let wal = wal.clone();
        tokio::spawn(async move {
            // One task per request, as a server would; each answers once
            // its record is durable.
            let mut requests = Vec::new();
            while let Some(request) = rx.recv().await {
                let wal = wal.clone();
                requests.push(tokio::spawn(async move {
                    let lsn = wal.append_async(request.as_bytes()).await?;
                    println!("ok {lsn}: {request}");
                    Ok::<_, groupwal::Error>(())
                }));
            }
            let answered = requests.len();
            for r in requests {
                if let Err(e) = r
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    eprintln!("request failed: {e}");
                }
            }
            answered
        })
    };
    for i in 0..20 {
        tx.send(format!("PUT key{i} value{i}")).await?;
    }
    drop(tx);
    let answered = handler.await?;
    println!(
        "{answered} requests, durable up to lsn {}",
        wal.durable_lsn()
    );
    // Closing syncs: blocking, so off the runtime. It closes the log for
    // every clone.
    tokio::task::spawn_blocking(move || wal.close()).await??;
    Ok(())
}
