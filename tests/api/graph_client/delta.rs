//! Delta rounds: initial, incremental, and an expired sync state.

use super::*;

/// Follows a delta round to its deltaLink.
async fn delta_round(
    client: &GraphClient,
    folder: &str,
    mut cursor: DeltaCursor<'_>,
) -> (Vec<String>, Vec<String>, String, usize) {
    let mut messages = Vec::new();
    let mut removed = Vec::new();
    let mut pages = 0;
    let mut next: String;
    loop {
        let page = client.delta(folder, cursor).await.expect("delta page");
        pages += 1;
        messages.extend(page.messages.into_iter().map(|m| m.id));
        removed.extend(page.removed);
        match (page.next_link, page.delta_link) {
            (Some(link), _) => {
                next = link;
                cursor = DeltaCursor::Link(&next);
            }
            (None, Some(delta)) => return (messages, removed, delta, pages),
            (None, None) => panic!("a delta page without a link"),
        }
    }
}

#[tokio::test]
async fn delta_initial_incremental_and_expired() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 25, 1500);
    let client = f.client_with(
        Arc::new(FixedToken(APP_TOKEN)),
        GraphSettings {
            page_size: 10,
            ..fast()
        },
    );
    let inbox = client.get_folder("inbox").await.expect("inbox").id;
    let archive = client.get_folder("archive").await.expect("archive").id;

    let (initial, removed, delta_link, pages) = delta_round(
        &client,
        &inbox,
        DeltaCursor::Start {
            received_since: None,
        },
    )
    .await;
    assert_eq!(pages, 3, "odata.maxpagesize=10 was honoured");
    assert!(removed.is_empty());
    assert_eq!(initial.len(), 25);
    let expected: HashSet<&str> = seeded.iter().map(|m| m.immutable_id.as_str()).collect();
    assert_eq!(
        initial.iter().map(String::as_str).collect::<HashSet<_>>(),
        expected
    );

    // Only mail received since a point in time.
    let since = OffsetDateTime::parse(&seeded[20].received_date_time, &Rfc3339).expect("time");
    let (recent, _, _, _) = delta_round(
        &client,
        &inbox,
        DeltaCursor::Start {
            received_since: Some(since),
        },
    )
    .await;
    assert_eq!(recent.len(), 5);

    client
        .mark_read(&seeded[0].immutable_id)
        .await
        .expect("read");
    client
        .move_message(&seeded[1].immutable_id, &archive)
        .await
        .expect("move");
    client
        .delete_message(&seeded[2].immutable_id)
        .await
        .expect("delete");
    let arrived = f.seed("inbox", 1, 1500).remove(0);

    let (changed, removed, delta_link2, _) =
        delta_round(&client, &inbox, DeltaCursor::Link(&delta_link)).await;
    assert_eq!(
        changed.into_iter().collect::<HashSet<_>>(),
        HashSet::from([seeded[0].immutable_id.clone(), arrived.immutable_id.clone()])
    );
    assert_eq!(
        removed.into_iter().collect::<HashSet<_>>(),
        HashSet::from([
            seeded[1].immutable_id.clone(),
            seeded[2].immutable_id.clone()
        ])
    );

    f.state().expire_delta_tokens(ADELE).expect("expire");
    let e = client
        .delta(&inbox, DeltaCursor::Link(&delta_link2))
        .await
        .expect_err("expired");
    assert_eq!(e.kind, GraphErrorKind::SyncStateExpired);
    assert_eq!(e.status, Some(410));
}
