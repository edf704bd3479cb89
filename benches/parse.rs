//! Messages parsed per second: `mailport::mime::parse` against the parser it replaced (kept
//! below as `before`, unchanged but for names), on the import benchmark's 30 KB messages
//! (the sandbox's generator: a UTF-8 text and HTML body and one attachment), in one run.
//!
//! `cargo bench --bench parse`; `MAILPORT_PARSE_MESSAGES` and `MAILPORT_PARSE_ROUNDS` change
//! the work (defaults 2,000 messages, 15 rounds). Speed is messages per second of the
//! thread's CPU time, so that other processes on the machine do not count. Rounds alternate between the two parsers and
//! the median round of each is reported, so that a busy neighbour hurts both alike; which of
//! the two goes first in a round alternates as well.

use std::hint::black_box;
use std::time::Instant;

use mailport::sandbox::graph::{GenerateSpec, generate};

/// Today's parser before this change, as it was in `src/mime.rs`.
mod before {
    use mail_parser::{MessageParser, MimeHeaders};

    #[derive(Debug, Default)]
    #[allow(dead_code)]
    pub struct Parsed {
        pub subject: String,
        pub from: Option<(Option<String>, Option<String>)>,
        pub to: Vec<(Option<String>, Option<String>)>,
        pub cc: Vec<(Option<String>, Option<String>)>,
        pub date: Option<i64>,
        pub message_id: Option<String>,
        pub text_body: Option<String>,
        pub html_body: Option<String>,
        pub attachments: Vec<(String, String, usize, Option<String>, bool)>,
    }

    const MAX_BODY_CHARS: usize = 2_000_000;
    const MAX_FIELD_CHARS: usize = 2_000;

    fn clip(s: &str, max: usize) -> String {
        match s.char_indices().nth(max) {
            Some((i, _)) => s[..i].to_string(),
            None => s.to_string(),
        }
    }

    fn mailboxes(addr: Option<&mail_parser::Address<'_>>) -> Vec<(Option<String>, Option<String>)> {
        addr.map(|a| {
            a.iter()
                .take(500)
                .map(|m| {
                    (
                        m.name().map(|n| clip(n, MAX_FIELD_CHARS)),
                        m.address().map(|n| clip(n, MAX_FIELD_CHARS)),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    }

    pub fn parse(raw: &[u8]) -> Parsed {
        let Some(msg) = MessageParser::default().parse(raw) else {
            return Parsed::default();
        };
        let attachments = msg
            .attachments()
            .take(1000)
            .enumerate()
            .map(|(i, part)| {
                let content_type = part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into())
                    .to_ascii_lowercase();
                let name = part
                    .attachment_name()
                    .map(|n| clip(n, 255))
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| format!("attachment-{}", i + 1));
                (
                    name,
                    clip(&content_type, 255),
                    part.contents().len(),
                    part.content_id()
                        .map(|c| clip(c.trim_matches(|ch| ch == '<' || ch == '>'), 255)),
                    part.content_disposition().is_some_and(|d| d.is_inline()),
                )
            })
            .collect();
        Parsed {
            subject: clip(msg.subject().unwrap_or(""), MAX_FIELD_CHARS),
            from: mailboxes(msg.from()).into_iter().next(),
            to: mailboxes(msg.to()),
            cc: mailboxes(msg.cc()),
            date: msg.date().map(|d| d.to_timestamp()),
            message_id: msg.message_id().map(|m| clip(m, MAX_FIELD_CHARS)),
            text_body: msg.body_text(0).map(|b| clip(&b, MAX_BODY_CHARS)),
            html_body: msg.body_html(0).map(|b| clip(&b, MAX_BODY_CHARS)),
            attachments,
        }
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`): time the
/// other processes on a shared machine take is not counted.
fn cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Messages per second of CPU time (wall time where the CPU time cannot be read) of one
/// pass over all messages.
fn pass(messages: &[Vec<u8>], parse: impl Fn(&[u8])) -> f64 {
    let (cpu, wall) = (cpu_nanos(), Instant::now());
    for raw in messages {
        parse(raw);
    }
    let seconds = match (cpu, cpu_nanos()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => wall.elapsed().as_secs_f64(),
    };
    messages.len() as f64 / seconds
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let count = env_number("MAILPORT_PARSE_MESSAGES", 2000);
    let rounds = env_number("MAILPORT_PARSE_ROUNDS", 15).max(1);
    let spec = GenerateSpec {
        count,
        size: 30_000,
        attachments: 1,
        seed: 1,
        ..GenerateSpec::default()
    };
    let messages: Vec<Vec<u8>> = match generate(&spec) {
        Ok(list) => list.into_iter().map(|g| g.raw).collect(),
        Err(e) => {
            eprintln!("cannot generate messages: {e}");
            std::process::exit(1);
        }
    };
    let bytes: usize = messages.iter().map(Vec::len).sum();
    println!(
        "parse: {count} messages of {} bytes on average, {rounds} rounds each, alternating; messages per CPU second",
        bytes / count.max(1)
    );
    // Warm both up (page cache, allocator, branch predictors).
    pass(&messages, |raw| {
        black_box(before::parse(raw));
    });
    pass(&messages, |raw| {
        black_box(mailport::mime::parse(raw));
    });
    let floor = |messages: &[Vec<u8>]| {
        pass(messages, |raw| {
            black_box(mail_parser::MessageParser::default().parse(raw));
        })
    };
    let mut bare = Vec::new();
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let before = |messages: &[Vec<u8>]| {
        pass(messages, |raw| {
            black_box(before::parse(raw));
        })
    };
    let after = |messages: &[Vec<u8>]| {
        pass(messages, |raw| {
            black_box(mailport::mime::parse(raw));
        })
    };
    for round in 0..rounds {
        // Which goes first alternates too: the second pass of a round runs on warmer caches.
        if round % 2 == 0 {
            old.push(before(&messages));
            new.push(after(&messages));
        } else {
            new.push(after(&messages));
            old.push(before(&messages));
        }
        bare.push(floor(&messages));
    }
    let (old, new, bare) = (median(old), median(new), median(bare));
    println!("mail-parser's parse alone (the floor):           {bare:>9.0} messages/s");
    println!("before (mail-parser fields as stored until now): {old:>9.0} messages/s");
    println!("after  (mailport::mime::parse):                  {new:>9.0} messages/s");
    println!("ratio after / before: {:.2}x", new / old);
}
