//! Delta queries: the initial sync, later changes, and expired sync state.

use super::*;

/// Follows a delta round to its deltaLink; returns the items and the deltaLink.
async fn delta_round(t: &TestGraph, first_url: &str, page_size: usize) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut url = first_url.to_string();
    loop {
        let response = t
            .client
            .get(&url)
            .bearer_auth(APP_TOKEN)
            .header(
                "Prefer",
                format!("odata.maxpagesize={page_size}, {PREFER_IMMUTABLE}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        let value = body["value"].as_array().unwrap();
        assert!(value.len() <= page_size);
        items.extend(value.iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.contains("$skiptoken="));
            url = next.to_string();
        } else {
            let delta = body["@odata.deltaLink"]
                .as_str()
                .expect("deltaLink on the last page");
            assert!(delta.contains("$deltatoken="));
            return (items, delta.to_string());
        }
    }
}

#[tokio::test]
async fn delta_initial_sync_then_changes_then_expiry() {
    let t = spawn().await;
    let seeded = t.seed("inbox", small(25));
    // Read before the first sync: still part of the initial round.
    let read_first = &seeded[3];
    t.client
        .patch(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, read_first.immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    let start = format!(
        "{}/users/{ALICE}/mailFolders/inbox/messages/delta?$select=subject,isRead",
        t.graph
    );

    // Page through by hand, with a message arriving mid-round.
    let response = t
        .client
        .get(&start)
        .bearer_auth(APP_TOKEN)
        .header(
            "Prefer",
            format!("odata.maxpagesize=10, {PREFER_IMMUTABLE}"),
        )
        .send()
        .await
        .unwrap();
    let first: Value = response.json().await.unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 10);
    let late = t.seed("inbox", small(1)).remove(0);
    let (rest, delta_link) = delta_round(&t, first["@odata.nextLink"].as_str().unwrap(), 10).await;
    let mut initial: Vec<Value> = first["value"].as_array().unwrap().clone();
    initial.extend(rest);
    let initial_ids = ids(&initial);
    assert_eq!(initial.len(), 25, "every message exactly once");
    let expected: HashSet<String> = seeded.iter().map(|m| m.immutable_id.clone()).collect();
    assert_eq!(initial_ids, expected);
    let read = initial
        .iter()
        .find(|i| i["id"] == read_first.immutable_id.as_str())
        .unwrap();
    assert_eq!(read["isRead"], true);

    // Changes: read one, move one out, delete one; the mid-round arrival is also new.
    let (to_read, to_move, to_delete) = (&seeded[0], &seeded[1], &seeded[2]);
    t.client
        .patch(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, to_read.immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        move_message(&t, &to_move.immutable_id, "archive", true)
            .await
            .status(),
        StatusCode::CREATED
    );
    let response = t
        .client
        .delete(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, to_delete.immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (changes, delta_link2) = delta_round(&t, &delta_link, 10).await;
    assert_eq!(
        ids(&changes),
        HashSet::from([to_read.immutable_id.clone(), late.immutable_id.clone()])
    );
    let changed = changes
        .iter()
        .find(|c| c["id"] == to_read.immutable_id.as_str())
        .unwrap();
    assert_eq!(changed["isRead"], true);
    let removed: Vec<(String, String)> = changes
        .iter()
        .filter(|c| c.get("@removed").is_some())
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["@removed"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed.contains(&(to_move.immutable_id.clone(), "changed".into())));
    assert!(removed.contains(&(to_delete.immutable_id.clone(), "deleted".into())));

    // Nothing new: an empty round.
    let (nothing, _) = delta_round(&t, &delta_link2, 10).await;
    assert!(nothing.is_empty());

    // changeType=created only reports arrivals.
    let (_, created_link) = delta_round(&t, &format!("{start}&changeType=created"), 50).await;
    let newer = t.seed("inbox", small(1)).remove(0);
    t.client
        .patch(format!(
            "{}/users/{ALICE}/messages/{}",
            t.graph, seeded[5].immutable_id
        ))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"isRead": true}))
        .send()
        .await
        .unwrap();
    let (created, _) = delta_round(&t, &created_link, 50).await;
    assert_eq!(ids(&created), HashSet::from([newer.immutable_id.clone()]));

    t.state().expire_delta_tokens(ALICE).unwrap();
    assert_graph_error(
        t.get(&delta_link2, APP_TOKEN).await,
        StatusCode::GONE,
        "syncStateNotFound",
    )
    .await;
    assert_graph_error(
        t.get(&format!("{start}&$deltatoken=made-up"), APP_TOKEN)
            .await,
        StatusCode::GONE,
        "syncStateNotFound",
    )
    .await;
}
