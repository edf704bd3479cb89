//! Message values streamed into blobs, and post-actions as the mailbox shows them.

use super::*;

fn blob_files(dir: &std::path::Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test]
async fn value_downloads_stream_into_blobs() {
    let f = spawn().await;
    let info = f.seed("inbox", 1, 500_000).remove(0);
    let client = f.client();
    let data = tempfile::tempdir().expect("tempdir");
    let blobs = BlobStore::new(data.path());

    // The connection drops halfway: an error, and the caller aborts the partial blob.
    f.push(vec![(Fault::DropBody, FaultTarget::Value)]);
    let mut writer = blobs.begin().await.expect("begin");
    let e = client
        .download_value(&info.immutable_id, &mut writer, 10_000_000)
        .await
        .expect_err("dropped body");
    assert_eq!(e.kind, GraphErrorKind::Network, "{e}");
    assert!(e.is_transient());
    writer.abort().await;
    assert_eq!(blob_files(data.path()), 0);

    // Too large for the caller: refused before reading the body.
    let mut writer = blobs.begin().await.expect("begin");
    let e = client
        .download_value(&info.immutable_id, &mut writer, info.size as u64 - 1)
        .await
        .expect_err("too large");
    assert_eq!(e.kind, GraphErrorKind::TooLarge);
    writer.abort().await;
    assert_eq!(blob_files(data.path()), 0);

    // The real thing, on another task (the importer spawns downloads): bytes identical to
    // what the mailbox holds.
    let writer = blobs.begin().await.expect("begin");
    let (spawned, id) = (client.clone(), info.immutable_id.clone());
    let (n, writer) = tokio::spawn(async move {
        let mut writer = writer;
        let n = spawned.download_value(&id, &mut writer, 10_000_000).await;
        (n, writer)
    })
    .await
    .expect("task");
    assert_eq!(n.expect("download"), info.size as u64);
    let stored = writer.finish().await.expect("finish");
    assert_eq!(stored.sha256, info.sha256);
    assert_eq!(blob_files(data.path()), 1);

    let e = client
        .download_value("AAMkAGI2AC4AAAnotthere0000", &mut Vec::new(), 1000)
        .await
        .expect_err("unknown id");
    assert_eq!(e.kind, GraphErrorKind::ItemNotFound);
}

#[tokio::test]
async fn post_actions_show_in_the_mailbox() {
    let f = spawn().await;
    let seeded = f.seed("inbox", 3, 1500);
    let client = f.client();
    let archive = client
        .resolve_folder_path("Archive")
        .await
        .expect("archive");

    client
        .mark_read(&seeded[0].immutable_id)
        .await
        .expect("mark read");
    let inbox = f.state().messages(ADELE, "inbox").expect("inbox");
    let first = inbox
        .iter()
        .find(|m| m.immutable_id == seeded[0].immutable_id)
        .expect("still there");
    assert!(first.is_read);

    let moved = client
        .move_message(&seeded[1].immutable_id, &archive.id)
        .await
        .expect("move");
    assert_eq!(
        moved, seeded[1].immutable_id,
        "immutable ids survive a move"
    );
    let in_archive = f.state().messages(ADELE, "archive").expect("archive");
    assert_eq!(in_archive.len(), 1);
    assert_eq!(in_archive[0].immutable_id, seeded[1].immutable_id);

    client
        .delete_message(&seeded[2].immutable_id)
        .await
        .expect("delete");
    client
        .delete_message(&seeded[2].immutable_id)
        .await
        .expect("already gone counts as done");
    let left: Vec<String> = f
        .state()
        .messages(ADELE, "inbox")
        .expect("inbox")
        .into_iter()
        .map(|m| m.immutable_id)
        .collect();
    assert_eq!(left, vec![seeded[0].immutable_id.clone()]);

    let e = client
        .mark_read(&seeded[2].immutable_id)
        .await
        .expect_err("deleted");
    assert_eq!(e.kind, GraphErrorKind::ItemNotFound);
}
