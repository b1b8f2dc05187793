//! Entry points for the coverage-guided fuzz targets in `fuzz/` (built only with
//! `--cfg fuzzing`, which `cargo fuzz` sets). Each takes the bytes a remote or local party
//! could send, runs the code that reads them, and checks what must hold for any input; a
//! violated check panics, which the fuzzer reports as a crash.

use std::io::Cursor;

use crate::config::HttpUrl;
use crate::control::proto::Request;
use crate::control::server::{Line, read_request};
use crate::metrics::{Route, route};

/// Control socket: request lines as a client streams them. No line handed on is longer than
/// the limit, a too-long line stops the reading, and every line parses or is refused.
pub fn control_requests(data: &[u8]) {
    const MAX: usize = 64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async {
        let mut reader = tokio::io::BufReader::new(Cursor::new(data));
        let mut line = Vec::new();
        let mut consumed = 0;
        loop {
            match read_request(&mut reader, &mut line, MAX).await {
                Ok(Line::Request) => {
                    assert!(line.len() <= MAX, "a {}-byte request line", line.len());
                    assert!(!line.contains(&b'\n'));
                    assert_eq!(&data[consumed..consumed + line.len()], &line[..]);
                    consumed += line.len() + 1;
                    if let Ok(request) = serde_json::from_slice::<Request>(&line) {
                        let again = serde_json::to_vec(&request).expect("a request serializes");
                        let back: Request = serde_json::from_slice(&again).expect("round trip");
                        assert_eq!(back, request);
                    }
                }
                Ok(Line::TooLong) => {
                    assert_eq!(
                        line.len(),
                        MAX + 1,
                        "reads one byte past the limit, no more"
                    );
                    break;
                }
                Ok(Line::End) => break,
                Err(e) => panic!("reading from memory failed: {e}"),
            }
        }
    });
}

/// Metrics endpoint: any request head routes somewhere, and only `GET /metrics` to the page.
pub fn metrics_request(head: &[u8]) {
    let r = route(head);
    if r == Route::Metrics {
        let text = String::from_utf8_lossy(head);
        let first = text.split('\n').next().unwrap_or_default();
        let mut words = first.split_whitespace();
        assert_eq!(words.next(), Some("GET"));
        assert!(words.next().is_some_and(|p| p.starts_with("/metrics")));
    }
}

/// HTTP_GET health check: any answer from a real server is judged without panicking, and an
/// answer judged healthy has a complete header and the status the check wants.
pub fn http_check_answer(data: &[u8]) {
    let Some((&selector, answer)) = data.split_first() else {
        return;
    };
    let url = HttpUrl {
        path: "/".into(),
        status_code: (selector & 1 == 1).then_some(200),
        digest: (selector & 2 == 2).then(|| "d41d8cd98f00b204e9800998ecf8427e".into()),
    };
    if crate::lb::judge_http(answer, &url).is_ok() {
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a healthy answer has a complete header");
        if url.digest.is_some() {
            assert_eq!(end + 4, answer.len(), "the empty body's digest, so no body");
        }
    }
}
