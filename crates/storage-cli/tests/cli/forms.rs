//! `storage serve` against form bodies without end: refused early, with the server's memory bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Served;

/// How much of each endless body is sent at most, if the server neither answers nor closes before.
const SENT_AT_MOST: usize = 300 << 20;
/// How much the server's resident memory may grow while the bodies are sent.
const GROWTH_AT_MOST_KIB: u64 = 32 << 10;

/// A field of `/proc/PID/status` in KiB, e.g. `VmRSS:` (now) or `VmHWM:` (the peak so far).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// POST `start` then `tail` again and again, chunked, until the server answers or closes or `SENT_AT_MOST` went out;
/// the status line of the answer.
fn post_endless(port: u16, start: &[u8], tail: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    // The pace at which a blocked write looks again whether the server has answered; not a wait for anything.
    stream.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let head = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=B\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let reader = {
        let (mut stream, answered) = (stream.try_clone().unwrap(), answered.clone());
        std::thread::spawn(move || {
            let mut response = Vec::new();
            let mut buffer = [0u8; 4096];
            while !response.windows(2).any(|w| w == b"\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => response.extend_from_slice(&buffer[..read]),
                }
            }
            answered.store(true, Ordering::SeqCst);
            String::from_utf8_lossy(&response).lines().next().unwrap_or("closed without an answer").to_owned()
        })
    };
    // An empty chunk would end the body: nothing is sent for empty data.
    let chunk = |data: &[u8]| match data.len() {
        0 => Vec::new(),
        len => [format!("{len:x}\r\n").into_bytes(), data.to_vec(), b"\r\n".to_vec()].concat(),
    };
    let (start, tail) = (chunk(start), chunk(tail));
    let mut pending: &[u8] = &start;
    let mut sent = 0;
    while sent < SENT_AT_MOST && !answered.load(Ordering::SeqCst) {
        match stream.write(pending) {
            Ok(written) => {
                sent += written;
                pending = &pending[written..];
                if pending.is_empty() {
                    pending = &tail;
                }
            }
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    reader.join().expect("the reader")
}

#[test]
fn endless_form_bodies_are_refused_and_the_server_memory_stays_bounded() {
    let served = Served::disk_storage();
    let (port, child) = (served.port, &served.child);
    let before = memory_kib(child.id(), "VmRSS:");
    let endless_header = b"--B\r\nContent-Disposition: form-data; name=\"a\"; x=\"".to_vec();
    let answers: Vec<(&str, String)> = [
        ("a part header that never ends", endless_header, vec![b'A'; 64 << 10]),
        ("a body without a boundary", Vec::new(), vec![b'x'; 64 << 10]),
    ]
    .into_iter()
    .map(|(what, start, tail)| (what, post_endless(port, &start, &tail)))
    .collect();
    let peak = memory_kib(child.id(), "VmHWM:");
    drop(served);
    assert!(
        peak.saturating_sub(before) < GROWTH_AT_MOST_KIB,
        "the server grew from {before} KiB to a peak of {peak} KiB while sent endless forms ({answers:?})"
    );
    for (what, answer) in answers {
        assert!(answer.starts_with("HTTP/1.1 413"), "{what}: {answer}");
    }
}
