//! The client against a canned HTTP server: what it sends (method, path, bearer, body)
//! and how it reads answers (typed bodies, 204, refusals).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed assumption is a failed test

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves one canned answer per connection, in order; records each request's head and body.
async fn canned(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        for (status, body) in answers {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as many body bytes as Content-Length says.
            loop {
                let n = s.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
            }
            seen2.lock().unwrap().push(String::from_utf8_lossy(&buf).to_string());
            let reason = if status == 204 { "No Content" } else { "X" };
            let resp = if status == 204 {
                format!("HTTP/1.1 204 {reason}\r\nconnection: close\r\n\r\n")
            } else {
                format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            s.write_all(resp.as_bytes()).await.unwrap();
            s.shutdown().await.ok();
        }
    });
    (url, seen)
}

#[tokio::test]
async fn typed_calls_send_the_contract_and_read_the_answers() {
    let card = r#"{"serial":"C 1","status":"locked","message":"locked: unlock it"}"#;
    let (url, seen) = canned(vec![
        (200, card),
        (204, ""),
        (404, r#"{"error":"not_found","message":"no certificate with serial 0A"}"#),
        (200, r#"[]"#),
    ])
    .await;
    let c = client::Client::builder(&url).allow_http_loopback(true).build().unwrap();

    let v = c.card_status("C 1").await.unwrap();
    assert_eq!(v.status, api::CardStatus::Locked);

    c.with_bearer("tok").abort_renewal(7, "stopped").await.unwrap();

    let e = c.certificate("0A", &api::CaQuery { ca: Some("systems".into()) }).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("not_found")));
    assert_eq!(e.to_string(), "no certificate with serial 0A");

    let q =
        api::ListQuery { status: Some(api::CertStatus::Revoked), subject: Some("A & B".into()), ..Default::default() };
    assert!(c.certificates(&q).await.unwrap().is_empty());

    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("GET /api/v1/cards/C%201 HTTP/1.1"), "{}", seen[0]);
    assert!(!seen[0].to_ascii_lowercase().contains("authorization"));
    assert!(seen[1].starts_with("POST /api/v1/card-renewals/7/abort HTTP/1.1"), "{}", seen[1]);
    assert!(seen[1].to_ascii_lowercase().contains("authorization: bearer tok"), "{}", seen[1]);
    assert!(seen[1].ends_with(r#"{"reason":"stopped"}"#), "{}", seen[1]);
    assert!(seen[2].starts_with("GET /api/v1/admin/certificates/0A?ca=systems HTTP/1.1"), "{}", seen[2]);
    assert!(
        seen[3].starts_with("GET /api/v1/admin/certificates?status=revoked&subject=A+%26+B HTTP/1.1"),
        "{}",
        seen[3]
    );
}
