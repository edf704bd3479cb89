//! Mail folders: lookup by a human path ("Inbox/Service desk", "Archive/2026/Q1") and creation
//! of missing levels. A path that does not exist fails with the names that do exist at that
//! level, because "unknown folder" alone leaves an administrator guessing.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{Call, GraphClient};
use super::errors::{GraphError, GraphErrorKind};

/// Graph's well-known folder names that a path may start with (case-insensitive).
pub const WELL_KNOWN_FOLDERS: &[&str] = &[
    "inbox",
    "archive",
    "deleteditems",
    "drafts",
    "sentitems",
    "junkemail",
    "outbox",
    "msgfolderroot",
];

const FOLDER_SELECT: &str = "id,displayName,parentFolderId,totalItemCount";

/// Graph's default folder page is 10; fewer round trips for big trees.
const FOLDER_PAGE: &str = "100";

/// A folder tree wider than this many pages is not a mailbox we can reason about.
const MAX_FOLDER_PAGES: usize = 100;

/// One mail folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub parent_folder_id: Option<String>,
    #[serde(default)]
    pub total_item_count: Option<i64>,
}

#[derive(Deserialize)]
struct FolderPage {
    #[serde(default)]
    value: Vec<Folder>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

pub(crate) fn require_id(id: &str, what: &str) -> Result<(), GraphError> {
    if id.trim().is_empty() {
        return Err(GraphError::new(
            GraphErrorKind::InvalidRequest,
            format!("The {what} id is empty."),
        ));
    }
    Ok(())
}

/// The segments of a folder path; `/` separates levels, blanks around names are ignored.
fn split_path(path: &str) -> Result<Vec<&str>, GraphError> {
    let segments: Vec<&str> = path
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if segments.is_empty() {
        return Err(GraphError::new(
            GraphErrorKind::InvalidRequest,
            "The folder path is empty.",
        ));
    }
    Ok(segments)
}

fn find_named(folders: &[Folder], name: &str) -> Option<Folder> {
    // Exchange compares folder names case-insensitively (it refuses "inbox" next to "Inbox").
    let wanted = name.to_lowercase();
    folders
        .iter()
        .find(|f| f.display_name.to_lowercase() == wanted)
        .cloned()
}

fn not_found(name: &str, place: &str, siblings: &[Folder]) -> GraphError {
    GraphError::new(
        GraphErrorKind::FolderNotFound {
            existing: siblings.iter().map(|f| f.display_name.clone()).collect(),
        },
        format!("There is no folder '{name}' {place}."),
    )
}

impl GraphClient {
    /// A folder by id or well-known name.
    pub async fn get_folder(&self, id_or_well_known: &str) -> Result<Folder, GraphError> {
        require_id(id_or_well_known, "folder")?;
        let url = self.url(
            &["mailFolders", id_or_well_known],
            &[("$select", FOLDER_SELECT.into())],
        )?;
        self.send_json(Call::get(url)).await
    }

    /// The folders under `parent` (`None`: the top level), all pages.
    pub async fn list_child_folders(
        &self,
        parent: Option<&str>,
    ) -> Result<Vec<Folder>, GraphError> {
        let segments: Vec<&str> = match parent {
            None => vec!["mailFolders"],
            Some(id) => {
                require_id(id, "folder")?;
                vec!["mailFolders", id, "childFolders"]
            }
        };
        let mut url = self.url(
            &segments,
            &[
                ("$select", FOLDER_SELECT.into()),
                ("$top", FOLDER_PAGE.into()),
            ],
        )?;
        let mut folders = Vec::new();
        for _ in 0..MAX_FOLDER_PAGES {
            let page: FolderPage = self.send_json(Call::get(url)).await?;
            folders.extend(page.value);
            match page.next_link {
                None => return Ok(folders),
                Some(link) => url = self.check_link(&link)?,
            }
        }
        Err(GraphError::new(
            GraphErrorKind::BadResponse,
            format!("Graph listed more than {MAX_FOLDER_PAGES} pages of folders."),
        ))
    }

    /// The folder at `path`: the first segment is a well-known name or a top-level folder's
    /// name, later ones are child folder names (case-insensitive).
    pub async fn resolve_folder_path(&self, path: &str) -> Result<Folder, GraphError> {
        self.walk(path, false).await
    }

    /// Like [`Self::resolve_folder_path`], creating the levels that are missing.
    pub async fn ensure_folder_path(&self, path: &str) -> Result<Folder, GraphError> {
        self.walk(path, true).await
    }

    async fn walk(&self, path: &str, create: bool) -> Result<Folder, GraphError> {
        let segments = split_path(path)?;
        let mut current = self.top_level(segments[0], create).await?;
        for name in &segments[1..] {
            current = self.child(Some(&current), name, create).await?;
        }
        Ok(current)
    }

    async fn top_level(&self, name: &str, create: bool) -> Result<Folder, GraphError> {
        let lower = name.to_ascii_lowercase();
        if WELL_KNOWN_FOLDERS.contains(&lower.as_str()) {
            match self.get_folder(&lower).await {
                Ok(folder) => return Ok(folder),
                // Not every mailbox has every well-known folder (archive is created on first
                // use); then the name may still be an ordinary top-level folder.
                Err(e) if e.kind == GraphErrorKind::ItemNotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.child(None, name, create).await
    }

    /// The child `name` of `parent` (`None`: top level), created if asked and missing.
    async fn child(
        &self,
        parent: Option<&Folder>,
        name: &str,
        create: bool,
    ) -> Result<Folder, GraphError> {
        let parent_id = parent.map(|f| f.id.as_str());
        let siblings = self.list_child_folders(parent_id).await?;
        if let Some(found) = find_named(&siblings, name) {
            return Ok(found);
        }
        let place = match parent {
            None => "at the top level of the mailbox".to_string(),
            Some(f) => format!("in '{}'", f.display_name),
        };
        if !create {
            return Err(not_found(name, &place, &siblings));
        }
        match self.create_folder(parent_id, name).await {
            Ok(folder) => Ok(folder),
            // Someone else (another run, a person) created it between our list and our POST.
            Err(e) if e.kind == GraphErrorKind::Conflict => {
                let siblings = self.list_child_folders(parent_id).await?;
                find_named(&siblings, name).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn create_folder(&self, parent: Option<&str>, name: &str) -> Result<Folder, GraphError> {
        let segments: Vec<&str> = match parent {
            None => vec!["mailFolders"],
            Some(id) => vec!["mailFolders", id, "childFolders"],
        };
        let url = self.url(&segments, &[])?;
        let body = json!({"displayName": name, "isHidden": false});
        let folder: Folder = self
            .send_json(Call::with_body(Method::POST, url, &body))
            .await?;
        self.note(format!("created the folder '{name}'"));
        Ok(folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_names() {
        assert_eq!(split_path("Inbox").ok(), Some(vec!["Inbox"]));
        assert_eq!(
            split_path(" Archive / 2026/Q1/ ").ok(),
            Some(vec!["Archive", "2026", "Q1"])
        );
        assert!(split_path("").is_err());
        assert!(split_path(" / ").is_err());
    }

    #[test]
    fn names_match_case_insensitively() {
        let folders = vec![Folder {
            id: "1".into(),
            display_name: "Service Desk".into(),
            parent_folder_id: None,
            total_item_count: None,
        }];
        assert_eq!(
            find_named(&folders, "service desk").map(|f| f.id),
            Some("1".into())
        );
        assert!(find_named(&folders, "Service").is_none());
        let e = not_found("X", "in 'Inbox'", &folders);
        assert_eq!(e.existing_folders(), ["Service Desk".to_string()]);
    }
}
