//! Listing messages oldest first with paging, resolving and creating folder paths.

use super::*;

#[tokio::test]
async fn lists_1000_messages_oldest_first_in_20_requests() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 1000, 1500);
    f.state().reset_request_log();
    let client = f.client();
    let inbox = client.get_folder("inbox").await.expect("inbox");
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_messages(&inbox.id, next.as_deref())
            .await
            .expect("page");
        assert!(page.messages.len() <= 50);
        seen.extend(page.messages);
        match page.next_link {
            Some(link) => next = Some(link),
            None => break,
        }
    }
    let expected: Vec<&str> = seeded.iter().map(|m| m.immutable_id.as_str()).collect();
    let got: Vec<&str> = seen.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, expected, "immutable ids, each once, oldest first");
    assert!(seen.iter().zip(&seeded).all(|(m, s)| {
        m.size == Some(s.size as i64)
            && m.received.as_deref() == Some(s.received_date_time.as_str())
            && m.internet_message_id.as_deref() == Some(s.internet_message_id.as_str())
            && m.is_read == Some(false)
    }));
    let log = f.state().request_log();
    assert_eq!(log.totals.get("list"), Some(&20));
    let first_list = log
        .entries
        .iter()
        .find(|e| e.kind.as_deref() == Some("list"))
        .expect("list request");
    assert!(first_list.query.contains("$top=50"));
    assert!(first_list.query.contains("$select="));
    assert_eq!(client.stats().requests, 21);
    assert_eq!(client.stats().retries, 0);
    assert!(client.stats().last_request_id.is_some());
}

#[tokio::test]
async fn resolves_folder_paths_and_names_what_exists() {
    let f = spawn().await;
    let client = f.client();
    let inbox_id = f.folder_id("inbox");
    for path in ["Inbox", "inbox", " INBOX/ "] {
        assert_eq!(
            client.resolve_folder_path(path).await.expect(path).id,
            inbox_id
        );
    }
    let desk = client
        .ensure_folder_path("Inbox/Service desk")
        .await
        .expect("create");
    assert_eq!(desk.parent_folder_id.as_deref(), Some(inbox_id.as_str()));
    let found = client
        .resolve_folder_path("inbox/service DESK")
        .await
        .expect("nested");
    assert_eq!(found.id, desk.id);
    assert_eq!(found.display_name, "Service desk");
    assert_eq!(found.total_item_count, Some(0));

    let e = client
        .resolve_folder_path("Inbox/Helpdesk")
        .await
        .expect_err("unknown child");
    assert_eq!(
        e.kind,
        GraphErrorKind::FolderNotFound {
            existing: vec!["Service desk".into()]
        }
    );
    assert!(e.to_string().contains("'Helpdesk'"), "{e}");
    assert!(e.to_string().contains("Service desk"), "{e}");

    let e = client
        .resolve_folder_path("Posteingang")
        .await
        .expect_err("unknown top level");
    let existing: HashSet<&str> = e.existing_folders().iter().map(String::as_str).collect();
    for name in ["Inbox", "Archive", "Sent Items", "Deleted Items"] {
        assert!(existing.contains(name), "{name} in {existing:?}");
    }
    // A top-level folder that is not well-known resolves by its display name.
    client.ensure_folder_path("Projects").await.expect("create");
    assert_eq!(
        client
            .resolve_folder_path("projects")
            .await
            .expect("by name")
            .display_name,
        "Projects"
    );
}

#[tokio::test]
async fn ensure_folder_path_creates_missing_levels_once() {
    let f = spawn().await;
    let client = f.client();
    f.state().reset_request_log();
    let q1 = client
        .ensure_folder_path("Archive/2026/Q1")
        .await
        .expect("create");
    let again = client
        .ensure_folder_path("archive/2026/q1")
        .await
        .expect("again");
    assert_eq!(q1.id, again.id);
    let log = f.state().request_log();
    assert_eq!(log.totals.get("create_folder"), Some(&2));
    let names: Vec<String> = f
        .state()
        .folders(ADELE)
        .expect("folders")
        .into_iter()
        .map(|f| f.display_name)
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "2026").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "Q1").count(), 1);
    assert!(client.stats().log.iter().any(|l| l.contains("'Q1'")));

    // Two runs racing for the same new folder both end up with it (one may see 409).
    let other = f.client();
    let (a, b) = tokio::join!(
        client.ensure_folder_path("Imported/A"),
        other.ensure_folder_path("Imported/A")
    );
    assert_eq!(a.expect("a").id, b.expect("b").id);
}
