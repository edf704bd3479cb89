//! One user's mailbox: folders, messages (raw MIME as `Bytes`) and the change sequence that
//! delta queries read.
//!
//! Every mutation bumps `seq`; a message remembers the seq of its last change and of its arrival
//! in its current folder, and a message leaving a folder leaves a [`Tombstone`] there. That makes
//! "what changed in folder F between seq A and B" exact, whatever happens during paging.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use time::OffsetDateTime;

use super::ids;
use super::mime::MessageMeta;

/// The well-known folders every mailbox starts with: (well-known name, display name).
pub const WELL_KNOWN: [(&str, &str); 7] = [
    ("inbox", "Inbox"),
    ("archive", "Archive"),
    ("deleteditems", "Deleted Items"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("junkemail", "Junk Email"),
    ("outbox", "Outbox"),
];

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: String,
    pub display_name: String,
    pub parent_id: String,
    pub well_known: Option<&'static str>,
    pub is_hidden: bool,
}

#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub immutable_id: String,
    pub regular_id: String,
    pub folder_id: String,
    pub raw: Bytes,
    pub meta: Arc<MessageMeta>,
    pub received: OffsetDateTime,
    pub is_read: bool,
    pub change_key: String,
    /// Seq of the last change of any kind (arrival, read state, move).
    pub changed_seq: u64,
    /// Seq at which the message arrived in its current folder.
    pub arrived_seq: u64,
}

/// Why a message left a folder, as delta's `@removed.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedReason {
    /// Moved to another folder: the item still exists in the mailbox.
    Changed,
    /// Deleted through `DELETE`: gone from every visible folder.
    Deleted,
}

impl RemovedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovedReason::Changed => "changed",
            RemovedReason::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tombstone {
    pub seq: u64,
    pub folder_id: String,
    pub immutable_id: String,
    /// The regular id the message had while it was in this folder.
    pub regular_id: String,
    pub reason: RemovedReason,
}

/// Per-mailbox switches the tests flip (kept here, not in the shared world).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MailboxSettings {
    /// An application access policy excludes this mailbox: app-only requests get 403.
    pub access_policy_denies_apps: bool,
    /// false = MailboxNotEnabledForRESTAPI (inactive, soft-deleted, on-premises).
    pub enabled: bool,
    /// Server time: added to every request of this mailbox while it holds a concurrency slot.
    pub delay_ms: u64,
    /// Network round trip: added to every request before it reaches the mailbox, without
    /// holding a slot (the distance between the client and Graph's front door).
    #[serde(default)]
    pub latency_ms: u64,
    /// Throughput of one `$value` body in bytes per second (0: as fast as loopback goes).
    /// The slot stays held while the body streams, as in Exchange.
    #[serde(default)]
    pub value_bytes_per_sec: u64,
    /// Outlook's request budget per app and mailbox: this many admitted requests in any
    /// sliding window of `budget_window_secs` (Microsoft: 10,000 per 10 minutes; 0: no budget).
    #[serde(default = "default_budget_requests")]
    pub budget_requests: u64,
    #[serde(default = "default_budget_window_secs")]
    pub budget_window_secs: u64,
}

fn default_budget_requests() -> u64 {
    10_000
}

fn default_budget_window_secs() -> u64 {
    600
}

impl Default for MailboxSettings {
    fn default() -> Self {
        MailboxSettings {
            access_policy_denies_apps: false,
            enabled: true,
            delay_ms: 0,
            latency_ms: 0,
            value_bytes_per_sec: 0,
            budget_requests: default_budget_requests(),
            budget_window_secs: default_budget_window_secs(),
        }
    }
}

/// A lookup that failed, mapped by the caller to Graph's 400 or 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Malformed,
    NotFound,
}

pub struct Mailbox {
    pub root_id: String,
    pub folders: Vec<Folder>,
    pub messages: HashMap<String, StoredMessage>,
    /// regular id -> immutable id, only for current regular ids.
    regular_index: HashMap<String, String>,
    pub seq: u64,
    pub tombstones: Vec<Tombstone>,
    /// Bumped to invalidate every delta token of this mailbox.
    pub delta_epoch: u64,
    pub settings: MailboxSettings,
    pub in_flight: usize,
    /// When each app's admitted requests arrived, oldest first, for the request budget.
    pub admitted: HashMap<String, std::collections::VecDeque<std::time::Instant>>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Mailbox {
    /// A new mailbox with its well-known folders and the given settings.
    pub fn with_settings(settings: MailboxSettings) -> Self {
        Mailbox {
            settings,
            ..Self::new()
        }
    }

    pub fn new() -> Self {
        // msgfolderroot's parent ("Top of Information Store" in MAPI) is never listed.
        let top_id = ids::new_folder_id();
        let root_id = ids::new_folder_id();
        let mut folders = vec![Folder {
            id: root_id.clone(),
            display_name: "Top of Information Store".into(),
            parent_id: top_id.clone(),
            well_known: Some("msgfolderroot"),
            is_hidden: false,
        }];
        for (name, display) in WELL_KNOWN {
            folders.push(Folder {
                id: ids::new_folder_id(),
                display_name: display.into(),
                parent_id: root_id.clone(),
                well_known: Some(name),
                is_hidden: false,
            });
        }
        Mailbox {
            root_id,
            folders,
            messages: HashMap::new(),
            regular_index: HashMap::new(),
            seq: 0,
            tombstones: Vec::new(),
            delta_epoch: 0,
            settings: MailboxSettings::default(),
            in_flight: 0,
            admitted: HashMap::new(),
        }
    }

    /// A folder by id (exact, case-sensitive) or well-known name (case-insensitive).
    pub fn folder(&self, key: &str) -> Result<&Folder, Lookup> {
        if let Some(f) = self
            .folders
            .iter()
            .find(|f| f.well_known.is_some_and(|wk| wk.eq_ignore_ascii_case(key)))
        {
            return Ok(f);
        }
        if !ids::is_well_formed(key) {
            return Err(Lookup::Malformed);
        }
        self.folders
            .iter()
            .find(|f| f.id == key)
            .ok_or(Lookup::NotFound)
    }

    /// Children of a folder, in Outlook's display order (by name).
    pub fn children(&self, parent_id: &str, include_hidden: bool) -> Vec<&Folder> {
        let mut children: Vec<&Folder> = self
            .folders
            .iter()
            .filter(|f| f.parent_id == parent_id && (include_hidden || !f.is_hidden))
            .collect();
        children.sort_by_key(|f| (f.display_name.to_lowercase(), f.id.clone()));
        children
    }

    pub fn child_count(&self, folder_id: &str) -> usize {
        self.folders
            .iter()
            .filter(|f| f.parent_id == folder_id)
            .count()
    }

    /// (total, unread) items of a folder.
    pub fn counts(&self, folder_id: &str) -> (usize, usize) {
        self.messages
            .values()
            .filter(|m| m.folder_id == folder_id)
            .fold((0, 0), |(t, u), m| (t + 1, u + usize::from(!m.is_read)))
    }

    /// Exchange refuses two siblings with the same name (case-insensitive).
    pub fn create_folder(
        &mut self,
        parent_id: &str,
        name: &str,
        is_hidden: bool,
    ) -> Option<Folder> {
        let exists = self.folders.iter().any(|f| {
            f.parent_id == parent_id && f.display_name.to_lowercase() == name.to_lowercase()
        });
        if exists {
            return None;
        }
        let folder = Folder {
            id: ids::new_folder_id(),
            display_name: name.to_string(),
            parent_id: parent_id.to_string(),
            well_known: None,
            is_hidden,
        };
        self.folders.push(folder.clone());
        Some(folder)
    }

    /// A message by its current regular id or its immutable id.
    pub fn message(&self, id: &str) -> Result<&StoredMessage, Lookup> {
        if !ids::is_well_formed(id) {
            return Err(Lookup::Malformed);
        }
        let immutable = self.regular_index.get(id).map(String::as_str).unwrap_or(id);
        self.messages.get(immutable).ok_or(Lookup::NotFound)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Stores a message; `immutable_id` None means a new random one. The caller makes sure
    /// a given id is not taken.
    pub fn insert(
        &mut self,
        folder_id: &str,
        raw: Bytes,
        meta: MessageMeta,
        received: OffsetDateTime,
        is_read: bool,
        immutable_id: Option<String>,
    ) -> &StoredMessage {
        let seq = self.next_seq();
        let message = StoredMessage {
            immutable_id: immutable_id.unwrap_or_else(ids::new_immutable_message_id),
            regular_id: ids::new_regular_message_id(),
            folder_id: folder_id.to_string(),
            raw,
            meta: Arc::new(meta),
            received,
            is_read,
            change_key: ids::new_change_key(),
            changed_seq: seq,
            arrived_seq: seq,
        };
        let immutable = message.immutable_id.clone();
        self.regular_index
            .insert(message.regular_id.clone(), immutable.clone());
        self.messages.entry(immutable).or_insert(message)
    }

    /// Marks read or unread; a no-op change still gets a new changeKey, as in Exchange.
    pub fn set_read(&mut self, immutable_id: &str, is_read: bool) -> Option<&StoredMessage> {
        let seq = self.next_seq();
        let message = self.messages.get_mut(immutable_id)?;
        message.is_read = is_read;
        message.changed_seq = seq;
        message.change_key = ids::new_change_key();
        Some(message)
    }

    /// Moves a message: it gets a new regular id (Exchange copies, then deletes).
    pub fn move_to(&mut self, immutable_id: &str, folder_id: &str) -> Option<&StoredMessage> {
        let seq = self.next_seq();
        let message = self.messages.get_mut(immutable_id)?;
        let old_folder = std::mem::replace(&mut message.folder_id, folder_id.to_string());
        let old_regular = std::mem::replace(&mut message.regular_id, ids::new_regular_message_id());
        message.changed_seq = seq;
        message.arrived_seq = seq;
        message.change_key = ids::new_change_key();
        let new_regular = message.regular_id.clone();
        self.regular_index.remove(&old_regular);
        self.regular_index
            .insert(new_regular, immutable_id.to_string());
        self.tombstones.push(Tombstone {
            seq,
            folder_id: old_folder,
            immutable_id: immutable_id.to_string(),
            regular_id: old_regular,
            reason: RemovedReason::Changed,
        });
        self.messages.get(immutable_id)
    }

    pub fn delete(&mut self, immutable_id: &str) -> Option<StoredMessage> {
        let seq = self.next_seq();
        let message = self.messages.remove(immutable_id)?;
        self.regular_index.remove(&message.regular_id);
        self.tombstones.push(Tombstone {
            seq,
            folder_id: message.folder_id.clone(),
            immutable_id: immutable_id.to_string(),
            regular_id: message.regular_id.clone(),
            reason: RemovedReason::Deleted,
        });
        Some(message)
    }

    pub fn in_folder<'a>(&'a self, folder_id: &'a str) -> impl Iterator<Item = &'a StoredMessage> {
        self.messages
            .values()
            .filter(move |m| m.folder_id == folder_id)
    }
}
