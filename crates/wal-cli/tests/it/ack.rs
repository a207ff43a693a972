//! `append --ack` acknowledges each record while standard input is still
//! open.

use std::io::{BufRead, Read, Write};

use crate::{run_ok, s, start_acked_append, text};

#[test]
fn each_lsn_is_printed_before_the_next_line_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (child, mut stdin, mut stdout) = start_acked_append(&log, &[]);
    // A safety net, not a timing assertion: were the tool to wait for the
    // end of input, the read below would block forever; kill it after a
    // generous while so the test fails instead of hanging.
    let child = std::sync::Arc::new(std::sync::Mutex::new(child));
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = {
        let child = child.clone();
        std::thread::spawn(move || {
            if finished
                .recv_timeout(std::time::Duration::from_secs(300))
                .is_err()
            {
                let _ = child.lock().unwrap().kill();
            }
        })
    };
    for i in 1..=5u64 {
        // One line, then its acknowledgement, with standard input still
        // open: if the tool waited for the end of input this would block.
        writeln!(stdin, "record {i}").unwrap();
        stdin.flush().unwrap();
        let mut ack = String::new();
        stdout.read_line(&mut ack).unwrap();
        assert_eq!(ack, format!("{i}\n"));
    }
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "nothing but acknowledgements on stdout");
    assert!(child.lock().unwrap().wait().unwrap().success());
    done.send(()).unwrap();
    watchdog.join().unwrap();

    // The acknowledged records are there.
    let dumped = run_ok(&["dump", s(&log), "--payload"], b"");
    assert_eq!(
        text(&dumped),
        "record 1\nrecord 2\nrecord 3\nrecord 4\nrecord 5\n"
    );
}

#[test]
fn many_records_are_acknowledged_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let input: String = (0..2000).map(|i| format!("{i}\n")).collect();
    let out = text(&run_ok(
        &["append", s(&log), "--ack", "--sync", "none"],
        input.as_bytes(),
    ));
    let expected: String = (1..=2000).map(|i| format!("{i}\n")).collect();
    assert_eq!(out, expected);
}
