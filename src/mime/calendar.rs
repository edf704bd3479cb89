//! A readable summary of an iCalendar part (RFC 5545), as Outlook shows a meeting request:
//! title, start and end with their time zone, location, organizer and description. The
//! calendar is parsed with the `ical` crate; only the first event is summarised.

use serde::{Deserialize, Serialize};

/// What a person needs to know about a meeting request, cancellation or event. Every
/// field is text as written in the calendar (times in the event's own time zone, whose
/// name is given, or UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSummary {
    /// The iTIP method (RFC 5546): `REQUEST`, `CANCEL`, `REPLY`, `PUBLISH`, ...
    pub method: Option<String>,
    pub title: Option<String>,
    /// `2017-12-11 09:00`, or `2017-12-11` for an all-day event.
    pub start: Option<String>,
    pub end: Option<String>,
    /// `UTC`, the TZID of the start (`W. Europe Standard Time`), or None for floating time.
    pub time_zone: Option<String>,
    pub location: Option<String>,
    /// `Name <address>` or the address.
    pub organizer: Option<String>,
    pub description: Option<String>,
}

/// Most characters kept of a description.
const MAX_DESCRIPTION_CHARS: usize = 20_000;

impl CalendarSummary {
    /// What kind of calendar message this is, in words.
    pub fn kind(&self) -> &'static str {
        match self.method.as_deref() {
            Some("REQUEST") => "Meeting request",
            Some("CANCEL") => "Meeting cancelled",
            Some("REPLY") => "Meeting reply",
            Some("COUNTER") => "New time proposed",
            _ => "Calendar event",
        }
    }

    /// `2017-12-11 09:00–10:00 UTC`: start and end, the date once when it is the same.
    pub fn when(&self) -> Option<String> {
        let start = self.start.as_deref()?;
        let zone = self
            .time_zone
            .as_deref()
            .map(|z| format!(" {z}"))
            .unwrap_or_default();
        Some(match self.end.as_deref() {
            Some(end) if end != start => match (start.split_once(' '), end.split_once(' ')) {
                (Some((d1, t1)), Some((d2, t2))) if d1 == d2 => format!("{d1} {t1}–{t2}{zone}"),
                _ => format!("{start}{zone} – {end}{zone}"),
            },
            _ => format!("{start}{zone}"),
        })
    }

    /// The summary as plain text, one field a line: the readable body of a message that is
    /// nothing but a calendar.
    pub fn to_text(&self) -> String {
        let mut lines = vec![self.kind().to_string()];
        let mut field = |label: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                lines.push(format!("{label}: {v}"));
            }
        };
        field("Title", self.title.clone());
        field("When", self.when());
        field("Location", self.location.clone());
        field("Organizer", self.organizer.clone());
        let mut text = lines.join("\n");
        if let Some(d) = self.description.as_deref().filter(|d| !d.trim().is_empty()) {
            text.push_str("\n\n");
            text.push_str(d.trim_end());
        }
        text
    }
}

/// Summarises the first event of an iCalendar text; None when it holds no readable event.
pub fn summarise(text: &str) -> Option<CalendarSummary> {
    let reader = std::io::BufReader::new(text.as_bytes());
    let calendar = ical::IcalParser::new(reader).next()?.ok()?;
    let event = calendar.events.first()?;
    let find = |props: &[ical::property::Property], name: &str| {
        props
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .cloned()
    };
    let value = |name: &str| {
        find(&event.properties, name)
            .and_then(|p| p.value)
            .map(|v| unescape(&v))
            .map(|v| super::clean::line(&v))
            .filter(|v| !v.is_empty())
    };
    let start = find(&event.properties, "DTSTART");
    let (start_text, zone) = match &start {
        Some(p) => date_time(p),
        None => (None, None),
    };
    let end_text = match find(&event.properties, "DTEND") {
        Some(p) => date_time(&p).0,
        None => find(&event.properties, "DURATION")
            .and_then(|d| d.value)
            .zip(start.as_ref().and_then(|p| p.value.clone()))
            .and_then(|(d, s)| add_duration(&s, &d)),
    };
    let description = find(&event.properties, "DESCRIPTION")
        .and_then(|p| p.value)
        .map(|v| {
            let text = unescape(&v);
            let text: String = text.chars().take(MAX_DESCRIPTION_CHARS).collect();
            super::clean::body(&text).into_owned()
        });
    let summary = CalendarSummary {
        method: find(&calendar.properties, "METHOD")
            .and_then(|p| p.value)
            .map(|m| m.trim().to_ascii_uppercase()),
        title: value("SUMMARY"),
        start: start_text,
        end: end_text,
        time_zone: zone,
        location: value("LOCATION"),
        organizer: find(&event.properties, "ORGANIZER").and_then(|p| person(&p)),
        description,
    };
    (summary.title.is_some() || summary.start.is_some()).then_some(summary)
}

/// A parameter of a property, unquoted.
fn param(p: &ical::property::Property, name: &str) -> Option<String> {
    p.params
        .as_ref()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// `CN=Name:mailto:addr` as `Name <addr>`.
fn person(p: &ical::property::Property) -> Option<String> {
    let address = p.value.as_deref().map(|v| {
        let v = v.trim();
        match v.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => v[7..].to_string(),
            _ => v.to_string(),
        }
    });
    let name = param(p, "CN").map(|n| super::clean::line(&n));
    let address = address
        .map(|a| super::clean::line(&a))
        .filter(|a| !a.is_empty());
    match (name, address) {
        (Some(n), Some(a)) if !n.is_empty() && n != a => Some(format!("{n} <{a}>")),
        (_, Some(a)) => Some(a),
        (Some(n), None) => Some(n),
        (None, None) => None,
    }
}

/// A DATE or DATE-TIME value as `YYYY-MM-DD[ HH:MM]`, and its zone (`UTC`, the TZID, or
/// none for floating time and dates).
fn date_time(p: &ical::property::Property) -> (Option<String>, Option<String>) {
    let Some(v) = p.value.as_deref().map(str::trim) else {
        return (None, None);
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let date = match v.get(..8) {
        Some(d) if digits(d) => format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]),
        _ => return (Some(super::clean::line(v)), None),
    };
    let Some(time) = v
        .get(9..13)
        .filter(|t| v.as_bytes().get(8) == Some(&b'T') && digits(t))
    else {
        return (Some(date), None);
    };
    let text = format!("{date} {}:{}", &time[..2], &time[2..4]);
    let zone = if v.ends_with('Z') || v.ends_with('z') {
        Some("UTC".to_string())
    } else {
        param(p, "TZID").map(|z| super::clean::line(&z))
    };
    (Some(text), zone)
}

/// DTSTART plus an RFC 5545 DURATION (`PT1H30M`, `P1D`, `P2W`), as `YYYY-MM-DD HH:MM`.
fn add_duration(start: &str, duration: &str) -> Option<String> {
    let start = start.trim();
    let date = time::Date::parse(
        start.get(..8)?,
        time::macros::format_description!("[year][month][day]"),
    )
    .ok()?;
    let (hour, minute) = match start.get(9..13) {
        Some(t) => (t.get(..2)?.parse().ok()?, t.get(2..)?.parse().ok()?),
        None => (0, 0),
    };
    let begin = date.with_hms(hour, minute, 0).ok()?;
    let d = duration.trim().trim_start_matches('+');
    let d = d.strip_prefix('P')?;
    let mut total = time::Duration::ZERO;
    let mut number = String::new();
    let mut in_time = false;
    for c in d.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' => in_time = true,
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                total += match (unit, in_time) {
                    ('W', _) => time::Duration::weeks(n),
                    ('D', _) => time::Duration::days(n),
                    ('H', true) => time::Duration::hours(n),
                    ('M', true) => time::Duration::minutes(n),
                    ('S', true) => time::Duration::seconds(n),
                    _ => return None,
                };
            }
        }
    }
    let end = begin.checked_add(total)?;
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        end.year(),
        u8::from(end.month()),
        end.day(),
        end.hour(),
        end.minute()
    ))
}

/// RFC 5545 §3.3.11 TEXT escapes: `\n`, `\,`, `\;`, `\\`.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nORGANIZER;CN=Planner:mailto:planner@example.test\r\nDESCRIPTION;LANGUAGE=en-US:Agenda: review open tickets.\\n\r\nSUMMARY;LANGUAGE=en-US:Ticket review\r\nDTSTART:20171211T090000Z\r\nDTEND:20171211T100000Z\r\nUID:x\r\nLOCATION;LANGUAGE=en-US:Room 2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn summarises_a_meeting_request() {
        let s = summarise(INVITE).unwrap_or_default();
        assert_eq!(s.title.as_deref(), Some("Ticket review"));
        assert_eq!(s.when().as_deref(), Some("2017-12-11 09:00–10:00 UTC"));
        assert_eq!(s.location.as_deref(), Some("Room 2"));
        assert_eq!(
            s.organizer.as_deref(),
            Some("Planner <planner@example.test>")
        );
        assert_eq!(
            s.description.as_deref(),
            Some("Agenda: review open tickets.\n")
        );
        assert_eq!(s.kind(), "Meeting request");
        let text = s.to_text();
        assert!(
            text.starts_with(
                "Meeting request\nTitle: Ticket review\nWhen: 2017-12-11 09:00–10:00 UTC"
            ),
            "{text}"
        );
    }

    #[test]
    fn time_zones_durations_and_all_day_events() {
        let cal = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16011028T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nSUMMARY:Planning\\, Q3\r\nDTSTART;TZID=\"W. Europe Standard Time\":20210527T103000\r\nDURATION:PT1H30M\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let s = summarise(cal).unwrap_or_default();
        assert_eq!(s.title.as_deref(), Some("Planning, Q3"));
        assert_eq!(
            s.when().as_deref(),
            Some("2021-05-27 10:30–12:00 W. Europe Standard Time")
        );
        let all_day = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Holiday\r\nDTSTART;VALUE=DATE:20240101\r\nDTEND;VALUE=DATE:20240102\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let s = summarise(all_day).unwrap_or_default();
        assert_eq!(s.when().as_deref(), Some("2024-01-01 – 2024-01-02"));
        assert!(summarise("not a calendar").is_none());
        assert!(summarise("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").is_none());
    }
}
