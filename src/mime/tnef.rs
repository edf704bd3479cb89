//! Reading TNEF (`application/ms-tnef`, `winmail.dat`), the container Outlook and Exchange
//! wrap a message's attachments and body in when they send "Rich Text" mail, as
//! [MS-OXTNEF] describes it: the files inside (with their long names and exact bytes) and
//! the plain text or HTML body.
//!
//! No maintained Rust crate reads TNEF (`tnef` 0.1 stops at the first attribute it does not
//! know, or the first bad checksum, and reads no MAPI properties, so no long names and no
//! body), so this is a small reader of our own. It is lenient like Outlook: checksums are
//! not enforced, unknown attributes are skipped, and a truncated stream yields what came
//! before the cut. Left out: the compressed RTF body (`PR_RTF_COMPRESSED`) and embedded
//! Outlook items; `winmail.dat` itself stays downloadable for those.

use encoding_rs::Encoding;

/// The first four bytes of every TNEF stream.
const SIGNATURE: u32 = 0x223E_9F78;

// Attribute ids ([MS-OXTNEF] 2.1.3.1), the low 16 bits of the attribute field.
const ATT_OEM_CODEPAGE: u16 = 0x9007;
const ATT_BODY: u16 = 0x800C;
const ATT_MSG_PROPS: u16 = 0x9003;
const ATT_ATTACH_REND_DATA: u16 = 0x9002;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_DATA: u16 = 0x800F;
const ATT_ATTACHMENT: u16 = 0x9005;

// MAPI property ids ([MS-OXPROPS]).
const PR_BODY: u16 = 0x1000;
const PR_BODY_HTML: u16 = 0x1013;
const PR_INTERNET_CPID: u16 = 0x3FDE;
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_DATA_BIN: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;
const PR_ATTACH_CONTENT_ID: u16 = 0x3712;

// MAPI property types ([MS-OXCDATA] 2.11.1).
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

/// Most attachments read from one stream.
const MAX_FILES: usize = 1000;

/// A file inside a TNEF stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TnefFile<'a> {
    /// The long file name if the sender gave one, else the short title.
    pub name: Option<String>,
    /// `PR_ATTACH_MIME_TAG`, when present.
    pub content_type: Option<String>,
    pub content_id: Option<String>,
    pub data: &'a [u8],
}

/// What a TNEF stream holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tnef<'a> {
    pub files: Vec<TnefFile<'a>>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
}

/// A little-endian reader over a byte slice that never reads past its end.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
    /// Skips the padding that aligns variable-length values to 4 bytes.
    fn align(&mut self, len: usize) -> Option<()> {
        let pad = (4 - len % 4) % 4;
        self.take(pad.min(self.remaining())).map(|_| ())
    }
}

/// Whether `data` starts like a TNEF stream.
pub fn is_tnef(data: &[u8]) -> bool {
    data.len() >= 4 && u32::from_le_bytes([data[0], data[1], data[2], data[3]]) == SIGNATURE
}

/// Reads a TNEF stream; None when it does not start with the TNEF signature.
pub fn read(data: &[u8]) -> Option<Tnef<'_>> {
    if !is_tnef(data) {
        return None;
    }
    let mut c = Cursor { data, pos: 4 };
    c.u16()?; // legacy key
    let mut out = Tnef::default();
    let mut codepage: &'static Encoding = encoding_rs::WINDOWS_1252;
    let mut current: Option<Pending<'_>> = None;
    let mut body_8bit: Option<&[u8]> = None;
    while c.remaining() > 0 {
        let Some((level, id, value)) = attribute(&mut c) else {
            break;
        };
        match (level, id) {
            (1, ATT_OEM_CODEPAGE) if value.len() >= 4 => {
                let cp = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                codepage = encoding_for(cp).unwrap_or(codepage);
            }
            (1, ATT_BODY) => body_8bit = Some(value),
            (1, ATT_MSG_PROPS) => {
                let props = properties(value);
                out.body_text = props.string(PR_BODY, codepage);
                let html_codepage = props
                    .long(PR_INTERNET_CPID)
                    .and_then(encoding_for)
                    .unwrap_or(codepage);
                out.body_html = props.string(PR_BODY_HTML, html_codepage);
            }
            (2, ATT_ATTACH_REND_DATA) => {
                if let Some(done) = current.take() {
                    out.files.push(done.finish(codepage));
                }
                if out.files.len() >= MAX_FILES {
                    break;
                }
                current = Some(Pending::default());
            }
            (2, ATT_ATTACH_TITLE) => {
                current.get_or_insert_with(Pending::default).title = Some(value)
            }
            (2, ATT_ATTACH_DATA) => current.get_or_insert_with(Pending::default).data = Some(value),
            (2, ATT_ATTACHMENT) => {
                current.get_or_insert_with(Pending::default).props = Some(properties(value));
            }
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        out.files.push(done.finish(codepage));
    }
    if out.body_text.is_none() {
        out.body_text = body_8bit
            .map(|b| decode_8bit(b, codepage))
            .filter(|s| !s.is_empty());
    }
    Some(out)
}

/// One attribute: level (1 message, 2 attachment), id, value. The checksum after the value
/// is read but not enforced.
fn attribute<'a>(c: &mut Cursor<'a>) -> Option<(u8, u16, &'a [u8])> {
    let level = c.u8()?;
    let id = (c.u32()? & 0xFFFF) as u16;
    let len = c.u32()? as usize;
    let value = c.take(len)?;
    c.u16()?;
    Some((level, id, value))
}

/// The attachment being read: its attributes arrive one by one.
#[derive(Default)]
struct Pending<'a> {
    title: Option<&'a [u8]>,
    data: Option<&'a [u8]>,
    props: Option<Props<'a>>,
}

impl<'a> Pending<'a> {
    fn finish(self, codepage: &'static Encoding) -> TnefFile<'a> {
        let props = self.props.unwrap_or_default();
        let name = props
            .string(PR_ATTACH_LONG_FILENAME, codepage)
            .or_else(|| self.title.map(|t| decode_8bit(t, codepage)))
            .or_else(|| props.string(PR_ATTACH_FILENAME, codepage))
            .or_else(|| props.string(PR_DISPLAY_NAME, codepage))
            .filter(|n| !n.trim().is_empty());
        let data = self
            .data
            .or_else(|| props.binary(PR_ATTACH_DATA_BIN))
            .unwrap_or_default();
        TnefFile {
            name,
            content_type: props
                .string(PR_ATTACH_MIME_TAG, codepage)
                .filter(|t| t.contains('/')),
            content_id: props.string(PR_ATTACH_CONTENT_ID, codepage),
            data,
        }
    }
}

/// A MAPI property value that Mailport uses.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Long(u32),
    String8(&'a [u8]),
    Unicode(&'a [u8]),
    Binary(&'a [u8]),
}

/// The properties of an attMsgProps or attAttachment block, by property id.
#[derive(Default)]
struct Props<'a> {
    values: Vec<(u16, Value<'a>)>,
}

impl<'a> Props<'a> {
    fn get(&self, id: u16) -> Option<Value<'a>> {
        self.values.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
    }
    fn string(&self, id: u16, codepage: &'static Encoding) -> Option<String> {
        match self.get(id)? {
            Value::String8(b) | Value::Binary(b) => Some(decode_8bit(b, codepage)),
            Value::Unicode(b) => {
                let (text, _) = encoding_rs::UTF_16LE.decode_without_bom_handling(b);
                Some(text.trim_end_matches('\0').to_string())
            }
            Value::Long(_) => None,
        }
    }
    fn binary(&self, id: u16) -> Option<&'a [u8]> {
        match self.get(id)? {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }
    fn long(&self, id: u16) -> Option<u32> {
        match self.get(id)? {
            Value::Long(v) => Some(v),
            _ => None,
        }
    }
}

/// Size of the fixed-length property types; None for variable-length or unknown ones.
fn fixed_size(ptype: u16) -> Option<usize> {
    match ptype {
        0x0001..=0x0004 | 0x000A | 0x000B => Some(4),
        0x0005..=0x0007 | 0x0014 | 0x0040 => Some(8),
        0x0048 => Some(16),
        _ => None,
    }
}

/// Reads a MAPI property list ([MS-OXTNEF] 2.1.3.4). Stops at the first property whose
/// size cannot be known; what came before is kept.
fn properties(block: &[u8]) -> Props<'_> {
    let mut c = Cursor {
        data: block,
        pos: 0,
    };
    let mut props = Props::default();
    let Some(count) = c.u32() else {
        return props;
    };
    for _ in 0..count.min(4096) {
        let Some(()) = property(&mut c, &mut props) else {
            break;
        };
    }
    props
}

fn property<'a>(c: &mut Cursor<'a>, props: &mut Props<'a>) -> Option<()> {
    let ptype = c.u16()?;
    let id = c.u16()?;
    if id >= 0x8000 {
        // A named property: GUID, kind, then a number or a UTF-16 name.
        c.take(16)?;
        match c.u32()? {
            0 => {
                c.u32()?;
            }
            _ => {
                let len = c.u32()? as usize;
                c.take(len)?;
                c.align(len)?;
            }
        }
    }
    let base = ptype & !MV_FLAG;
    let multi = ptype & MV_FLAG != 0;
    let variable = matches!(base, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT);
    let count = if multi || variable {
        c.u32()? as usize
    } else {
        1
    };
    if count > c.remaining() {
        return None;
    }
    for n in 0..count {
        if variable {
            let len = c.u32()? as usize;
            let data = c.take(len)?;
            c.align(len)?;
            if n == 0 && !multi {
                let value = match base {
                    PT_STRING8 => Value::String8(data),
                    PT_UNICODE => Value::Unicode(data),
                    // PT_OBJECT: an IID before the object (embedded items are left out).
                    _ => Value::Binary(data),
                };
                props.values.push((id, value));
            }
        } else {
            let size = fixed_size(base)?;
            let data = c.take(size)?;
            if n == 0 && !multi && size == 4 {
                props.values.push((
                    id,
                    Value::Long(u32::from_le_bytes([data[0], data[1], data[2], data[3]])),
                ));
            }
        }
    }
    Some(())
}

/// The encoding of a Windows code page number.
fn encoding_for(codepage: u32) -> Option<&'static Encoding> {
    u16::try_from(codepage).ok().and_then(codepage::to_encoding)
}

/// An 8-bit string in the stream's code page, without its terminating NUL.
fn decode_8bit(bytes: &[u8], codepage: &'static Encoding) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    super::charset::decode_with(codepage, &bytes[..end]).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a TNEF stream for tests: (level, attribute field, value).
    pub fn stream(attributes: &[(u8, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&SIGNATURE.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        for (level, id, value) in attributes {
            out.push(*level);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
            let sum = value
                .iter()
                .fold(0u16, |s, &b| s.wrapping_add(u16::from(b)));
            out.extend_from_slice(&sum.to_le_bytes());
        }
        out
    }

    /// A MAPI property block with unicode strings and binaries.
    pub fn props(list: &[(u16, u16, Vec<u8>)]) -> Vec<u8> {
        let mut out = (list.len() as u32).to_le_bytes().to_vec();
        for (ptype, id, data) in list {
            out.extend_from_slice(&ptype.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
            if fixed_size(*ptype).is_some() {
                out.extend_from_slice(data);
                continue;
            }
            out.extend_from_slice(&1u32.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
            out.extend(std::iter::repeat_n(0u8, (4 - data.len() % 4) % 4));
        }
        out
    }

    pub fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(|u| u.to_le_bytes())
            .collect()
    }

    #[test]
    fn reads_the_shared_case() {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD
            .decode("eJ8+IgEAAQaQCAAEAAAAAAABAAEAAQeQBgAIAAAA5AQAAAAAAADoAAEIgAcAGAAAAElQTS5NaWNyb3NvZnQgTWFpbC5Ob3RlADEIAgKQBgAOAAAAAQD/////AAAAAAAAAAD9AwIQgAEADAAAAGZpZ3VyZXMudHh0AIMEAg+ABgAWAAAAUXVhcnRlcmx5IGZpZ3VyZXM6IDQyCqgH")
            .unwrap_or_default();
        let t = read(&data).unwrap_or_default();
        assert_eq!(t.files.len(), 1);
        assert_eq!(t.files[0].name.as_deref(), Some("figures.txt"));
        assert_eq!(t.files[0].data, b"Quarterly figures: 42\n");
    }

    #[test]
    fn long_names_bodies_and_two_files() {
        let data = stream(&[
            (1, 0x0006_9007, vec![0xE4, 0x04, 0, 0, 0, 0, 0, 0]),
            (1, 0x0002_800C, b"Hello from Outlook\0".to_vec()),
            (2, 0x0006_9002, vec![1, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            (2, 0x0001_8010, b"REPORT~1.PDF\0".to_vec()),
            (2, 0x0006_800F, b"%PDF-1.4".to_vec()),
            (
                2,
                0x0006_9005,
                props(&[
                    (
                        PT_UNICODE,
                        PR_ATTACH_LONG_FILENAME,
                        utf16("Quarterly report 日本.pdf"),
                    ),
                    (
                        PT_STRING8,
                        PR_ATTACH_MIME_TAG,
                        b"application/pdf\0".to_vec(),
                    ),
                    (0x0003, 0x3705, 1u32.to_le_bytes().to_vec()),
                ]),
            ),
            (2, 0x0006_9002, vec![1, 0]),
            (2, 0x0001_8010, b"caf\xe9.txt\0".to_vec()),
            (2, 0x0006_800F, b"second".to_vec()),
        ]);
        let t = read(&data).unwrap_or_default();
        assert_eq!(t.body_text.as_deref(), Some("Hello from Outlook"));
        assert_eq!(t.files.len(), 2);
        assert_eq!(
            t.files[0].name.as_deref(),
            Some("Quarterly report 日本.pdf")
        );
        assert_eq!(t.files[0].content_type.as_deref(), Some("application/pdf"));
        assert_eq!(t.files[0].data, b"%PDF-1.4");
        assert_eq!(t.files[1].name.as_deref(), Some("café.txt"));
        assert_eq!(t.files[1].data, b"second");
    }

    #[test]
    fn bodies_from_mapi_properties_and_truncated_streams() {
        let data = stream(&[(
            1,
            0x0006_9003,
            props(&[
                (PT_UNICODE, PR_BODY, utf16("Text body")),
                (PT_BINARY, PR_BODY_HTML, b"<p>HTML</p>".to_vec()),
            ]),
        )]);
        let t = read(&data).unwrap_or_default();
        assert_eq!(t.body_text.as_deref(), Some("Text body"));
        assert_eq!(t.body_html.as_deref(), Some("<p>HTML</p>"));
        for cut in 0..data.len() {
            let _ = read(&data[..cut]);
        }
        assert!(read(b"not tnef").is_none());
    }
}
