//! Mail folders: listing, filtering, child folders, creation and duplicates.

use super::*;

async fn create_folder(t: &TestGraph, url: &str, name: &str) -> Response {
    t.client
        .post(format!("{}{url}", t.graph))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"displayName": name, "isHidden": false}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn folders_list_filter_create_and_duplicate() {
    let t = spawn().await;
    let base = format!("/users/{ALICE}/mailFolders");
    let body: Value = t.get_json(&base, APP_TOKEN).await;
    let names: HashSet<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    for name in [
        "Inbox",
        "Archive",
        "Deleted Items",
        "Drafts",
        "Sent Items",
        "Junk Email",
        "Outbox",
    ] {
        assert!(names.contains(name), "{name} missing");
    }
    assert!(body.get("@odata.nextLink").is_none());
    let inbox = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["displayName"] == "Inbox")
        .unwrap()
        .clone();
    for key in [
        "id",
        "parentFolderId",
        "childFolderCount",
        "unreadItemCount",
        "totalItemCount",
        "isHidden",
    ] {
        assert!(inbox.get(key).is_some(), "{key}");
    }

    let response = create_folder(&t, &base, "Bob's Imported").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_graph_error(
        create_folder(&t, &base, "bob's imported").await,
        StatusCode::CONFLICT,
        "ErrorFolderExists",
    )
    .await;
    for i in 0..4 {
        assert_eq!(
            create_folder(&t, &base, &format!("Extra {i}"))
                .await
                .status(),
            StatusCode::CREATED
        );
    }

    // 12 top-level folders: a page of 10 (the default) plus a nextLink to the last 2.
    let page1: Value = t.get_json(&base, APP_TOKEN).await;
    assert_eq!(page1["value"].as_array().unwrap().len(), 10);
    let next = page1["@odata.nextLink"].as_str().unwrap();
    let page2: Value = t.get_json(next, APP_TOKEN).await;
    assert_eq!(page2["value"].as_array().unwrap().len(), 2);

    let filtered: Value = t
        .get(
            &format!("{base}?$filter=displayName eq 'Bob''s Imported'"),
            APP_TOKEN,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["value"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["value"][0]["id"], created["id"]);

    // Child folders, and the well-known name resolving to the same folder as its id.
    let child_url = format!("{base}/inbox/childFolders");
    assert_eq!(
        create_folder(&t, &child_url, "Sub").await.status(),
        StatusCode::CREATED
    );
    let children: Value = t.get_json(&child_url, APP_TOKEN).await;
    assert_eq!(children["value"][0]["displayName"], "Sub");
    assert_eq!(children["value"][0]["parentFolderId"], inbox["id"]);
    let by_name: Value = t.get_json(&format!("{base}/Inbox"), APP_TOKEN).await;
    assert_eq!(by_name["id"], inbox["id"]);
    assert_eq!(by_name["childFolderCount"], 1);

    assert_graph_error(
        t.get(&format!("{base}/not*an*id"), APP_TOKEN).await,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidIdMalformed",
    )
    .await;
    assert_graph_error(
        t.get(&format!("{base}/AAMkAGI2AC4AAAnotthere0000"), APP_TOKEN)
            .await,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
    )
    .await;
}
