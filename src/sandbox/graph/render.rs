//! Message and folder JSON as Graph shows them, honouring `$select`, `$expand` and the id type.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use super::mailbox::{Folder, Mailbox, StoredMessage};
use super::mime;
use super::odata::{PropType, Schema};

/// PR_MESSAGE_SIZE, the only extended property the sandbox knows.
pub const MESSAGE_SIZE_PROP: &str = "Integer 0x0E08";

pub const MESSAGE_SCHEMA_PROPS: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
    "singleValueExtendedProperties",
];

const MESSAGE_FILTERABLE: &[(&str, PropType)] = &[
    ("receivedDateTime", PropType::DateTime),
    ("sentDateTime", PropType::DateTime),
    ("isRead", PropType::Bool),
    ("hasAttachments", PropType::Bool),
    ("isDraft", PropType::Bool),
    ("subject", PropType::Text),
];

pub const MESSAGE_LIST: Schema = Schema {
    type_name: "microsoft.graph.message",
    options: &[
        "$top", "$skip", "$select", "$filter", "$orderby", "$expand", "$count",
    ],
    selectable: MESSAGE_SCHEMA_PROPS,
    filterable: MESSAGE_FILTERABLE,
};

pub const MESSAGE_ITEM: Schema = Schema {
    type_name: "microsoft.graph.message",
    options: &["$select", "$expand"],
    selectable: MESSAGE_SCHEMA_PROPS,
    filterable: MESSAGE_FILTERABLE,
};

/// Delta accepts `$select`, a receivedDateTime filter, and its own tokens; `$top` is not
/// honoured by Graph on delta (page size comes from `Prefer: odata.maxpagesize`).
pub const MESSAGE_DELTA: Schema = Schema {
    type_name: "microsoft.graph.message",
    options: &[
        "$select",
        "$filter",
        "$skiptoken",
        "$deltatoken",
        "$orderby",
    ],
    selectable: MESSAGE_SCHEMA_PROPS,
    filterable: &[("receivedDateTime", PropType::DateTime)],
};

pub const FOLDER_PROPS: &[&str] = &[
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
];

pub const FOLDER_LIST: Schema = Schema {
    type_name: "microsoft.graph.mailFolder",
    options: &["$top", "$skip", "$select", "$filter", "$count"],
    selectable: FOLDER_PROPS,
    filterable: &[("displayName", PropType::Text)],
};

pub const FOLDER_ITEM: Schema = Schema {
    type_name: "microsoft.graph.mailFolder",
    options: &["$select"],
    selectable: FOLDER_PROPS,
    filterable: &[],
};

/// Graph's timestamp form: UTC, whole seconds, `Z`.
pub fn graph_time(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .unwrap_or_default()
}

fn email(m: &mime::Mailbox) -> Value {
    json!({"emailAddress": {"name": m.name, "address": m.address}})
}

fn recipients(list: &[mime::Mailbox]) -> Value {
    Value::Array(list.iter().map(email).collect())
}

/// How to render a message in this response.
pub struct MessageView<'a> {
    pub select: Option<&'a [&'static str]>,
    pub expand_props: &'a [String],
    pub immutable_ids: bool,
}

impl MessageView<'_> {
    pub fn id_of(&self, m: &StoredMessage) -> String {
        if self.immutable_ids {
            m.immutable_id.clone()
        } else {
            m.regular_id.clone()
        }
    }
}

/// One property of a message; `None` for names that are not plain properties.
fn message_field(m: &StoredMessage, id: &str, name: &str) -> Option<Value> {
    let meta = &m.meta;
    Some(match name {
        "createdDateTime" | "lastModifiedDateTime" | "receivedDateTime" => {
            json!(graph_time(m.received))
        }
        "changeKey" => json!(m.change_key),
        "categories" => json!([]),
        "sentDateTime" => json!(graph_time(meta.sent.unwrap_or(m.received))),
        "hasAttachments" => json!(meta.has_attachments),
        "internetMessageId" => json!(meta.internet_message_id),
        "subject" => json!(meta.subject),
        "bodyPreview" => json!(meta.body_preview),
        "importance" => json!("normal"),
        "parentFolderId" => json!(m.folder_id),
        "conversationId" => json!(meta.conversation_id),
        "isDeliveryReceiptRequested" | "isReadReceiptRequested" | "isDraft" => json!(false),
        "isRead" => json!(m.is_read),
        "webLink" => json!(format!(
            "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            super::odata::encode_component(id)
        )),
        "inferenceClassification" => json!("focused"),
        "body" => json!({"contentType": meta.body_type, "content": meta.body}),
        "sender" => meta.sender.as_ref().map(email).unwrap_or(Value::Null),
        "from" => meta.from.as_ref().map(email).unwrap_or(Value::Null),
        "toRecipients" => recipients(&meta.to),
        "ccRecipients" => recipients(&meta.cc),
        "bccRecipients" => recipients(&meta.bcc),
        "replyTo" => recipients(&meta.reply_to),
        "flag" => json!({"flagStatus": "notFlagged"}),
        _ => return None,
    })
}

pub fn message(m: &StoredMessage, view: &MessageView<'_>) -> Value {
    let id = view.id_of(m);
    let mut obj = Map::new();
    obj.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", m.change_key)),
    );
    obj.insert("id".into(), json!(id));
    for name in MESSAGE_SCHEMA_PROPS {
        if view.select.is_none_or(|s| s.contains(name))
            && let Some(value) = message_field(m, &id, name)
        {
            obj.insert((*name).into(), value);
        }
    }
    if !view.expand_props.is_empty() {
        let props: Vec<Value> = view
            .expand_props
            .iter()
            .filter(|p| p.eq_ignore_ascii_case(MESSAGE_SIZE_PROP))
            .map(|_| json!({"id": MESSAGE_SIZE_PROP, "value": m.raw.len().to_string()}))
            .collect();
        obj.insert("singleValueExtendedProperties".into(), Value::Array(props));
    }
    Value::Object(obj)
}

pub fn folder(mailbox: &Mailbox, f: &Folder, select: Option<&[&'static str]>) -> Value {
    let (total, unread) = mailbox.counts(&f.id);
    let full = json!({
        "id": f.id,
        "displayName": f.display_name,
        "parentFolderId": f.parent_id,
        "childFolderCount": mailbox.child_count(&f.id),
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": f.is_hidden,
    });
    match (select, full) {
        (Some(select), Value::Object(map)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k == "id" || select.contains(&k.as_str()))
                .collect(),
        ),
        (_, full) => full,
    }
}
