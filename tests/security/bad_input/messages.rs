//! Arbitrary messages through parse, store, the detail page and the downloads.

use super::*;

fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => proptest::sample::select(MIME_PIECES).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ];
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..2048),
        3 => proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat()),
    ]
}

#[test]
fn any_bytes_parse_without_panic_and_within_the_caps() {
    runner(256)
        .run(&message_bytes(), |raw| {
            let parsed = mailport::mime::parse(&raw);
            prop_assert!(parsed.subject.chars().count() <= 2_000);
            prop_assert!(parsed.attachments.len() <= 1_000);
            prop_assert!(parsed.to.len() <= 500);
            for (i, a) in parsed.attachments.iter().enumerate() {
                prop_assert!(a.name.chars().count() <= 255 && !a.name.trim().is_empty());
                let bytes = mailport::mime::attachment_bytes(&raw, i);
                prop_assert_eq!(bytes.map(|b| b.len()), Some(a.size));
            }
            Ok(())
        })
        .expect("property");
}

#[test]
fn any_message_is_stored_shown_and_downloaded() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = rt.block_on(TestApp::signed_in());
    let n = AtomicUsize::new(0);
    runner(64)
        .run(&message_bytes(), |raw| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            rt.block_on(bounded("storing and showing a message", async {
                let (id, _) =
                    store(&app, "fuzz", &format!("g{i}"), &raw, Some(1_800_000_000)).await;
                let page = app.get(&format!("/mail/{id}")).await;
                assert_eq!(page.status(), reqwest::StatusCode::OK, "{raw:?}");
                let attachments = mailport::mime::parse(&raw).attachments.len();
                for n in 0..attachments {
                    let r = app.get(&format!("/mail/{id}/attachments/{n}")).await;
                    assert_eq!(
                        r.status(),
                        reqwest::StatusCode::OK,
                        "attachment {n} of {raw:?}"
                    );
                    let disposition = r
                        .headers()
                        .get("content-disposition")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    assert!(disposition.starts_with("attachment"), "{disposition}");
                }
                let r = app.get(&format!("/mail/{id}/raw")).await;
                assert_eq!(r.bytes().await.expect("raw").as_ref(), raw.as_slice());
                let r = app.get(&format!("/api/v1/messages/{id}")).await;
                assert_eq!(r.status(), reqwest::StatusCode::OK);
            }));
            Ok(())
        })
        .expect("property");
    rt.block_on(async {
        assert_eq!(
            app.get("/mail?account=fuzz").await.status(),
            reqwest::StatusCode::OK
        );
    });
}
