//! Request limits: oversized bodies get 413 on every form route, oversized headers 431, and
//! slow clients (dribbling headers, stalling a body, or saying nothing) are cut off while
//! the server keeps answering everyone else.

use std::time::{Duration, Instant};

use mailport::web::csrf::max_body_bytes;
use mailport::web::{ROUTES, ServerLimits};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::routes::{concrete, signed_in_csrf};

#[tokio::test]
async fn oversized_bodies_are_refused_on_every_form_route() {
    let app = TestApp::signed_in().await;
    app.app_credential().await;
    let csrf = signed_in_csrf(&app.client, &app).await;
    let big = format!("csrf_token={csrf}&description={}", "x".repeat(100 * 1024));
    for (method, path, _) in ROUTES.iter().filter(|(m, p, _)| {
        // The CSV upload has a limit of its own, checked below.
        *m == Method::POST && max_body_bytes(m, p) < 100 * 1024
    }) {
        let url = app.url(&concrete(path, 1));
        let r = app
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-csrf-token", &csrf)
            .body(big.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}");
    }
    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b'x'; 1024])).collect();
    let r = app
        .client
        .post(app.url("/credentials"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrf-token", &csrf)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.api("/credentials").await.as_array().map(Vec::len),
        Some(1)
    );
    // The CSV upload takes up to its own limit, and not a byte more.
    let upload = max_body_bytes(&Method::POST, "/accounts/import");
    assert!(upload > 100 * 1024);
    let r = app
        .client
        .post(app.url("/accounts/import"))
        .header("content-type", "multipart/form-data; boundary=x")
        .header("x-csrf-token", &csrf)
        .body(vec![b'x'; upload + 1])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = TestApp::spawn().await;
    let limit = ServerLimits::default().max_header_bytes;
    let r = browser()
        .get(app.url("/login"))
        .header("x-padding", "a".repeat(limit + 1))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let mut many = browser().get(app.url("/login"));
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let r = many.send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // A browser's ordinary headers, with a large cookie, still pass.
    let r = browser()
        .get(app.url("/login"))
        .header("cookie", format!("other={}", "c".repeat(4096)))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Reads until the server closes the connection (or `within` passes); returns what it sent.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut buf)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_others_are_still_served() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let app = TestApp::spawn_custom(
        Options {
            limits,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let addr = app.running.addr;

    // 30 slow-loris clients send a header byte every 200 ms, and never finish.
    let request = b"GET /login HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut loris = Vec::new();
    for _ in 0..30 {
        loris.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let started = Instant::now();
            for byte in request.iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                if started.elapsed() > Duration::from_secs(10) {
                    panic!("a slow client kept its connection for 10 s");
                }
            }
            started.elapsed()
        }));
    }
    // One that connects and says nothing at all.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    // One that sends its headers and then stalls its body.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=a")
        .await
        .expect("write");

    // Meanwhile everyone else is served quickly.
    for _ in 0..10 {
        let t = Instant::now();
        let r = browser()
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "healthz took {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for handle in loris {
        let held = handle.await.expect("slow client");
        assert!(
            held < Duration::from_secs(4),
            "a slow client held on for {held:?}"
        );
    }
    assert!(
        until_closed(&mut silent, Duration::from_secs(4))
            .await
            .is_some(),
        "a silent connection stayed open"
    );
    let answer = until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .expect("a stalled body kept the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        browser()
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        StatusCode::OK
    );
}
