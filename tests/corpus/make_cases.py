# Writes the corpus cases of Mailport's own (tests/corpus/mail/*.eml) and every NAME.json of
# expected values, the shared cases' included (taken from ../shared/cases/mail/README.md).
# The bytes are encoded with Python's codecs, independently of Mailport's decoders.
# Run from anywhere: python3 tests/corpus/make_cases.py (it rewrites the files the same way).
import base64, hashlib, json, struct, os, quopri
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mail")
CRLF = "\r\n"

def b64lines(b):
    s = base64.b64encode(b).decode()
    return CRLF.join(s[i:i+76] for i in range(0, len(s), 76))

def bword(text, label, codec=None):
    return "=?%s?B?%s?=" % (label, base64.b64encode(text.encode(codec or label)).decode())

def qword(text, label, codec=None):
    out = ""
    for b in text.encode(codec or label):
        c = chr(b)
        if c == " ":
            out += "_"
        elif c.isalnum() and b < 128:
            out += c
        else:
            out += "=%02X" % b
    return "=?%s?Q?%s?=" % (label, out)

def sha(b):
    return hashlib.sha256(b).hexdigest()

def att(name, ctype, data):
    return {"name": name, "content_type": ctype, "size": len(data), "sha256": sha(data)}

def head(subject, frm, extra="", to="helpdesk@example.org", date="Mon, 03 Mar 2025 09:00:00 +0000", mid=None):
    h = "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@example.test>\r\nMIME-Version: 1.0\r\n" % (frm, to, subject, date, mid or "m")
    return h + extra

def write(name, raw, expected):
    if isinstance(raw, str):
        raw = raw.encode("ascii")
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(raw)
    expected["raw_sha256"] = sha(raw)
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=2)
        f.write("\n")

# ---------- own cases ----------

# 1 Shift_JIS
body = "お問い合わせありがとうございます。\r\n至急確認いたします。\r\n".encode("shift_jis")
raw = head(bword("お問い合わせの件", "shift_jis"), bword("鈴木 一郎", "shift_jis") + " <suzuki@example.test>", mid="sjis") + \
    "Content-Type: text/plain; charset=\"shift_jis\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(body) + CRLF
write("shift-jis-body-subject", raw, {"subject": "お問い合わせの件", "from_name": "鈴木 一郎", "from_address": "suzuki@example.test",
      "text": ["お問い合わせありがとうございます。", "至急確認いたします。"], "attachments": []})

# 2 Big5, 8-bit body, Q subject
body = "您好，您的訂單已確認。\r\n謝謝。\r\n".encode("big5")
raw = (head(qword("訂單確認 第12號", "big5"), bword("陳大文", "big5") + " <chan@example.test>", mid="big5") +
       "Content-Type: text/plain; charset=big5\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
write("big5-body-subject", raw, {"subject": "訂單確認 第12號", "from_name": "陳大文", "from_address": "chan@example.test",
      "text": ["您好，您的訂單已確認。", "謝謝。"], "attachments": []})

# 3 EUC-KR under Outlook's label ks_c_5601-1987
body = "안녕하세요. 회의는 월요일 오전 10시입니다.\r\n".encode("euc_kr")
raw = head(bword("회의 일정 안내", "ks_c_5601-1987", "euc_kr"), "\"" + bword("김민수", "ks_c_5601-1987", "euc_kr") + "\" <kim@example.test>", mid="euckr") + \
    "Content-Type: text/plain; charset=\"ks_c_5601-1987\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(body) + CRLF
write("euc-kr-body-subject", raw, {"subject": "회의 일정 안내", "from_name": "김민수", "from_address": "kim@example.test",
      "text": ["안녕하세요. 회의는 월요일 오전 10시입니다."], "attachments": []})

# 4 KOI8-R
body = "Добрый день! Счёт во вложении.\r\n".encode("koi8_r")
raw = (head(qword("Счёт на оплату 15", "koi8-r", "koi8_r"), qword("Иван Петров", "koi8-r", "koi8_r") + " <ivan@example.test>", mid="koi8") +
       "Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
write("koi8-r-body-subject", raw, {"subject": "Счёт на оплату 15", "from_name": "Иван Петров", "from_address": "ivan@example.test",
      "text": ["Добрый день! Счёт во вложении."], "attachments": []})

# 5 EUC-JP body (quoted-printable), ISO-2022-JP subject
body = "請求書を送付します。ご確認ください。\r\n".encode("euc_jp")
qp = quopri.encodestring(body).decode().replace("\n", CRLF)
raw = head(bword("請求書の送付", "ISO-2022-JP", "iso2022_jp"), "Accounts <accounts@example.test>", mid="eucjp") + \
    "Content-Type: text/plain; charset=EUC-JP\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp
write("euc-jp-body-iso2022jp-subject", raw, {"subject": "請求書の送付", "from_name": "Accounts", "from_address": "accounts@example.test",
      "text": ["請求書を送付します。ご確認ください。"], "not_in_text": ["\u001b"], "attachments": []})

# 6 UTF-8 encoded words split inside characters
def split_words(text, size, enc):
    b = text.encode("utf-8")
    chunks = [b[i:i+size] for i in range(0, len(b), size)]
    if enc == "B":
        return "\r\n ".join("=?UTF-8?B?%s?=" % base64.b64encode(c).decode() for c in chunks)
    return "\r\n ".join("=?utf-8?Q?%s?=" % "".join(chr(x) if (chr(x).isalnum() and x < 128) else ("_" if x == 32 else "=%02X" % x) for x in c) for c in chunks)
raw = head(split_words("Überweisung für März – 東京 ✓", 5, "B"), split_words("Zoë Ångström", 3, "Q") + " <zoe@example.test>", mid="split") + \
    "Content-Type: text/plain; charset=utf-8\r\n\r\nSee subject.\r\n"
write("utf8-words-split-inside-characters", raw, {"subject": "Überweisung für März – 東京 ✓", "from_name": "Zoë Ångström", "from_address": "zoe@example.test",
      "text": ["See subject."], "attachments": []})

# TNEF helpers
def tattr(level, id_, data):
    return bytes([level]) + struct.pack("<II", id_, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)
def props(lst):
    out = struct.pack("<I", len(lst))
    for ptype, pid, data in lst:
        out += struct.pack("<HH", ptype, pid)
        if ptype in (0x0003,):
            out += data
            continue
        out += struct.pack("<II", 1, len(data)) + data + b"\0" * ((4 - len(data) % 4) % 4)
    return out
def utf16z(s):
    return (s + "\0").encode("utf-16-le")
def tnef(attrs):
    return struct.pack("<IH", 0x223E9F78, 0x0101) + tattr(1, 0x00089006, b"\x00\x00\x01\x00") + \
        tattr(1, 0x00069007, struct.pack("<II", 1252, 0)) + tattr(1, 0x00078008, b"IPM.Microsoft Mail.Note\0") + b"".join(attrs)
REND = b"\x01\x00\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00"

# 7 TNEF with two files
pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
notes = "Notizen zur Sitzung: Budget 2024 genehmigt.\n".encode("utf-8")
winmail = tnef([
    tattr(2, 0x00069002, REND), tattr(2, 0x00018010, b"QUARTE~1.PDF\0"), tattr(2, 0x0006800F, pdf),
    tattr(2, 0x00069005, props([(0x001F, 0x3707, utf16z("Quarterly report 2024.pdf")), (0x001E, 0x370E, b"application/pdf\0"), (0x0003, 0x3705, struct.pack("<I", 1))])),
    tattr(2, 0x00069002, REND), tattr(2, 0x00018010, b"notes.txt\0"), tattr(2, 0x0006800F, notes),
])
raw = head("Report and notes", "Outlook User <user@example.test>", "Content-Type: multipart/mixed; boundary=\"_t2_\"\r\n", mid="tnef2") + CRLF + \
    "--_t2_\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\nBoth files are attached.\r\n" + \
    "--_t2_\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(winmail) + CRLF + "--_t2_--\r\n"
write("tnef-two-files", raw, {"subject": "Report and notes", "from_name": "Outlook User", "from_address": "user@example.test",
      "text": ["Both files are attached."], "attachments": [att("winmail.dat", "application/ms-tnef", winmail), att("Quarterly report 2024.pdf", "application/pdf", pdf), att("notes.txt", "text/plain", notes)]})

# 8 TNEF holding the only body
docx = b"PK\x03\x04fake-docx-content"
winmail = tnef([
    tattr(1, 0x0002800C, "Bitte prüfen Sie den Vertrag im Anhang.\r\nGrüße\0".encode("cp1252")),
    tattr(2, 0x00069002, REND), tattr(2, 0x00018010, b"contract.docx\0"), tattr(2, 0x0006800F, docx),
])
raw = head("Vertrag", "Legal <legal@example.test>", "Content-Type: multipart/mixed; boundary=\"_t1_\"\r\n", mid="tnef1") + CRLF + \
    "--_t1_\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(winmail) + CRLF + "--_t1_--\r\n"
write("tnef-body-only", raw, {"subject": "Vertrag", "from_name": "Legal", "from_address": "legal@example.test",
      "text": ["Bitte prüfen Sie den Vertrag im Anhang.", "Grüße"],
      "attachments": [att("winmail.dat", "application/ms-tnef", winmail), att("contract.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx)]})

# 9 Meeting request with a time zone next to a text body
ics = CRLF.join([
    "BEGIN:VCALENDAR", "METHOD:REQUEST", "PRODID:Microsoft Exchange Server 2010", "VERSION:2.0",
    "BEGIN:VTIMEZONE", "TZID:W. Europe Standard Time", "BEGIN:STANDARD", "DTSTART:16010101T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:16010101T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3", "END:DAYLIGHT", "END:VTIMEZONE",
    "BEGIN:VEVENT", "ORGANIZER;CN=Anna Schmidt:mailto:anna@example.test", "ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE;CN=Desk:mailto:desk@example.org",
    "DESCRIPTION;LANGUAGE=de-DE:Tagesordnung:\\n1. Termine\\n2. Risiken", "SUMMARY;LANGUAGE=de-DE:Release-Planung",
    "DTSTART;TZID=W. Europe Standard Time:20250331T140000", "DTEND;TZID=W. Europe Standard Time:20250331T153000",
    "UID:040000008200E00074C5B7101A82E0080000000", "LOCATION;LANGUAGE=de-DE:Konferenzraum Köln", "END:VEVENT", "END:VCALENDAR", ""]).encode("utf-8")
raw = head("Release-Planung", "Anna Schmidt <anna@example.test>", "Content-Type: multipart/alternative; boundary=\"_alt_\"\r\n", mid="cal-tz") + CRLF + \
    "--_alt_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines("Lasst uns das Release planen.\r\n".encode()) + CRLF + \
    "--_alt_\r\nContent-Type: text/calendar; charset=\"utf-8\"; method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(ics) + CRLF + "--_alt_--\r\n"
write("calendar-request-with-time-zone", raw, {"subject": "Release-Planung", "from_name": "Anna Schmidt", "from_address": "anna@example.test",
      "text": ["Lasst uns das Release planen."],
      "calendar": {"title": "Release-Planung", "when": "2025-03-31 14:00–15:30 W. Europe Standard Time", "location": "Konferenzraum Köln", "organizer": "Anna Schmidt <anna@example.test>", "description": "Tagesordnung:\n1. Termine\n2. Risiken"},
      "attachments": [att("invite.ics", "text/calendar", ics)]})

# 10 Forward inside a forward
inner = ("From: Vendor <billing@vendor.example>\r\nTo: buyer@example.test\r\nSubject: Invoice 2024-001\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\nMessage-ID: <inv-1@vendor.example>\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"in1\"\r\n\r\n--in1\r\nContent-Type: text/plain\r\n\r\nInvoice attached.\r\n--in1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--in1--\r\n")
middle = ("From: Buyer <buyer@example.test>\r\nTo: accounting@example.test\r\nSubject: FW: Invoice 2024-001\r\nDate: Wed, 03 Jan 2024 10:00:00 +0000\r\nMessage-ID: <fw-1@example.test>\r\nMIME-Version: 1.0\r\n"
          "Content-Type: multipart/mixed; boundary=\"mid1\"\r\n\r\n--mid1\r\nContent-Type: text/plain\r\n\r\nFYI.\r\n--mid1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + inner + "\r\n--mid1--\r\n")
raw = head("FW: FW: Invoice 2024-001", "Accounting <accounting@example.test>", "Content-Type: multipart/mixed; boundary=\"out1\"\r\n", mid="fwfw") + CRLF + \
    "--out1\r\nContent-Type: text/plain\r\n\r\nForwarding the forwarded invoice.\r\n--out1\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + middle + "\r\n--out1--\r\n"
write("forward-inside-forward", raw, {"subject": "FW: FW: Invoice 2024-001", "from_name": "Accounting", "from_address": "accounting@example.test",
      "text": ["Forwarding the forwarded invoice."], "attachments": [att("FW_ Invoice 2024-001.eml", "message/rfc822", middle.encode())]})

# 11 Forwarded messages: without a subject, with a given name, with characters file systems refuse
m1 = "From: a@example.test\r\nTo: b@example.test\r\nDate: Thu, 04 Jan 2024 10:00:00 +0000\r\n\r\nNo subject here.\r\n"
m2 = "From: c@example.test\r\nSubject: Given name wins\r\n\r\nBody.\r\n"
m3 = "From: d@example.test\r\nSubject: Re: a/b \"c\" <d>\r\n\r\nBody.\r\n"
raw = head("Three forwarded messages", "Desk <desk@example.test>", "Content-Type: multipart/mixed; boundary=\"f3\"\r\n", mid="fw3") + CRLF + \
    "--f3\r\nContent-Type: text/plain\r\n\r\nSee the three messages.\r\n" + \
    "--f3\r\nContent-Type: message/rfc822\r\n\r\n" + m1 + "\r\n" + \
    "--f3\r\nContent-Type: message/rfc822; name=\"original.eml\"\r\nContent-Disposition: attachment; filename=\"original.eml\"\r\n\r\n" + m2 + "\r\n" + \
    "--f3\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + m3 + "\r\n--f3--\r\n"
write("forwarded-messages-named-safely", raw, {"subject": "Three forwarded messages", "from_name": "Desk", "from_address": "desk@example.test",
      "text": ["See the three messages."], "attachments": [att("message.eml", "message/rfc822", m1.encode()), att("original.eml", "message/rfc822", m2.encode()), att("Re_ a_b _c_ _d_.eml", "message/rfc822", m3.encode())]})

# 12 Unnamed parts named from their type
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
pdf2 = b"%PDF-1.5\n%%EOF\n"
cal2 = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Call\r\nDTSTART:20250101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
blob = b"\x00\x01\x02unknown"
raw = head("Unnamed parts", "Scanner <scanner@example.test>", "Content-Type: multipart/mixed; boundary=\"un\"\r\n", mid="unnamed") + CRLF + \
    "--un\r\nContent-Type: text/plain\r\n\r\nFour parts without names.\r\n" + \
    "--un\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(pdf2) + CRLF + \
    "--un\r\nContent-Type: image/png\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(png) + CRLF + \
    "--un\r\nContent-Type: text/calendar; method=PUBLISH\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(cal2) + CRLF + \
    "--un\r\nContent-Type: application/x-unknown-thing\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(blob) + CRLF + "--un--\r\n"
write("unnamed-parts-named-by-type", raw, {"subject": "Unnamed parts", "from_name": "Scanner", "from_address": "scanner@example.test",
      "text": ["Four parts without names."], "calendar": {"title": "Call", "when": "2025-01-01 10:00 UTC", "location": None, "organizer": None, "description": None}, "attachments": [att("attachment-1.pdf", "application/pdf", pdf2), att("attachment-2.png", "image/png", png), att("invite.ics", "text/calendar", cal2), att("attachment-4.bin", "application/x-unknown-thing", blob)]})

# 13 Unknown label over windows-1252 bytes
body = "Gebühr: 10 € – bitte überweisen.\r\n".encode("cp1252")
raw = (head("=?x-unknown-charset?Q?Geb=FChr?=", "Billing <billing@example.test>", mid="unknown") +
       "Content-Type: text/plain; charset=\"x-unknown-charset\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
write("unknown-charset-label", raw, {"subject": "Gebühr", "from_name": "Billing", "from_address": "billing@example.test",
      "text": ["Gebühr: 10 € – bitte überweisen."], "not_in_text": ["\ufffd"], "attachments": []})

# 14 us-ascii label over UTF-8 bytes
body = "Grüße aus Zürich — 東京支社より\r\n".encode("utf-8")
raw = (head("Status", "Zurich Office <zh@example.test>", mid="usascii") +
       "Content-Type: text/plain; charset=\"us-ascii\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
write("us-ascii-label-utf8-bytes", raw, {"subject": "Status", "from_name": "Zurich Office", "from_address": "zh@example.test",
      "text": ["Grüße aus Zürich — 東京支社より"], "not_in_text": ["Ã"], "attachments": []})

# 15 Raw 8-bit headers in the body's charset
raw = ("From: \"J\u00fcrgen M\u00fcller\" <jm@example.test>\r\nTo: shop@example.org\r\nSubject: Best\u00e4tigung Ihrer Bestellung \u201eSommer\u201c\r\nDate: Mon, 03 Mar 2025 09:00:00 +0000\r\nMessage-ID: <raw8@example.test>\r\nMIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVielen Dank f\u00fcr Ihre Bestellung.\r\n").encode("cp1252")
write("raw-8bit-headers-windows-1252", raw, {"subject": "Bestätigung Ihrer Bestellung „Sommer“", "from_name": "Jürgen Müller", "from_address": "jm@example.test",
      "text": ["Vielen Dank für Ihre Bestellung."], "attachments": []})

raw = ("From: =?shift_jis?B?" + base64.b64encode("佐藤".encode("shift_jis")).decode() + "?= <sato@example.test>\r\nTo: info@example.org\r\nSubject: ").encode() + "見積もり依頼".encode("shift_jis") + \
    ("\r\nDate: Mon, 03 Mar 2025 09:00:00 +0900\r\nMessage-ID: <rawsjis@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() + "よろしくお願いします。\r\n".encode("shift_jis")
write("raw-8bit-subject-shift-jis", raw, {"subject": "見積もり依頼", "from_name": "佐藤", "from_address": "sato@example.test",
      "text": ["よろしくお願いします。"], "attachments": []})

# 16 Bidi override and other format characters in file names
exe = b"MZ fake executable"
txt = b"plain text\n"
raw = head("Invoice", "Spoofer <spoof@example.test>", "Content-Type: multipart/mixed; boundary=\"bd\"\r\n", mid="bidi") + CRLF + \
    "--bd\r\nContent-Type: text/plain\r\n\r\nPlease open the invoice.\r\n" + \
    "--bd\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(exe) + CRLF + \
    "--bd\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"" + bword("read\u200bme\u2066.txt", "utf-8") + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(txt) + CRLF + "--bd--\r\n"
write("bidi-override-in-file-names", raw, {"subject": "Invoice", "from_name": "Spoofer", "from_address": "spoof@example.test",
      "text": ["Please open the invoice."], "attachments": [att("invoice_fdp.exe", "application/octet-stream", exe), att("read_me_.txt", "text/plain", txt)]})

# 17 UTF-7 in a subject word without a closing '-', a file name and the body
body = "Preis: 5 +IKw und +ZeVnLIqe Text\r\n".encode()
note = b"UTF-7 note\n"
raw = head("=?utf-7?Q?Caf+AOk?=", "=?utf-7?Q?M+APw-ller?= <mueller@example.test>", "Content-Type: multipart/mixed; boundary=\"u7\"\r\n", mid="utf7b") + CRLF + \
    "--u7\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n" + body.decode() + \
    "--u7\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-7''%2BAMQ-nderungen.txt\r\n\r\n" + note.decode() + "--u7--\r\n"
write("utf7-subject-file-name-and-body", raw, {"subject": "Café", "from_name": "Müller", "from_address": "mueller@example.test",
      "text": ["Preis: 5 € und 日本語 Text"], "attachments": [att("Änderungen.txt", "text/plain", b"UTF-7 note")]})

# 18 GBK file name split inside a character across RFC 2231 sections
rep = "报告内容\r\n".encode("gbk")
raw = head(bword("季度报告", "gb2312", "gbk"), bword("王芳", "gb2312", "gbk") + " <wang@example.test>", "Content-Type: multipart/mixed; boundary=\"gb\"\r\n", mid="gbkname") + CRLF + \
    "--gb\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines("附件是报告。\r\n".encode("gbk")) + CRLF + \
    "--gb\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0*=gbk''%B1%A8%B8;\r\n filename*1*=%E6.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(rep) + CRLF + "--gb--\r\n"
write("gbk-file-name-split-across-rfc2231-sections", raw, {"subject": "季度报告", "from_name": "王芳", "from_address": "wang@example.test",
      "text": ["附件是报告。"], "attachments": [att("报告.txt", "application/octet-stream", rep)]})

# 19 ISO-2022-JP file name in two encoded words (as Outlook writes them)
xls = b"PK\x03\x04fake-xlsx"
w1 = bword("見積書_2024", "ISO-2022-JP", "iso2022_jp")
w2 = bword("年度.xlsx", "ISO-2022-JP", "iso2022_jp")
raw = head(bword("見積書送付", "ISO-2022-JP", "iso2022_jp"), "Sales <sales@example.test>", "Content-Type: multipart/mixed; boundary=\"jp\"\r\n", mid="jpname") + CRLF + \
    "--jp\r\nContent-Type: text/plain; charset=\"iso-2022-jp\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + "見積書を添付します。\r\n".encode("iso2022_jp").decode("ascii") + \
    "--jp\r\nContent-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;\r\n name=\"" + w1 + "\r\n " + w2 + "\"\r\nContent-Disposition: attachment;\r\n filename=\"" + w1 + "\r\n " + w2 + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(xls) + CRLF + "--jp--\r\n"
write("iso2022jp-file-name-two-words", raw, {"subject": "見積書送付", "from_name": "Sales", "from_address": "sales@example.test",
      "text": ["見積書を添付します。"], "not_in_text": ["\u001b"], "attachments": [att("見積書_2024年度.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xls)]})

# 20 Control characters in subject, display name, file name and bodies
ctl = b"abc"
raw = ("From: \"Ops\x01 Team\" <ops@example.test>\r\nTo: noc@example.org\r\nSubject: Alert\x1b[31m red\x07 " + bword("now\x00!", "utf-8") + "\r\nDate: Mon, 03 Mar 2025 09:00:00 +0000\r\nMessage-ID: <ctl@example.test>\r\nMIME-Version: 1.0\r\n"
       "Content-Type: multipart/mixed; boundary=\"ct\"\r\n\r\n--ct\r\nContent-Type: multipart/alternative; boundary=\"ca\"\r\n\r\n--ca\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLine one\x0b\x00 continues\x1f here.\r\n"
       "--ca\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML\x00 body\x08 text</p>\r\n--ca--\r\n"
       "--ct\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"" + bword("report\tfinal\x00.txt", "utf-8") + "\"\r\n\r\nabc\r\n--ct--\r\n")
write("control-characters-everywhere", raw, {"subject": "Alert[31m red now!", "from_name": "Ops Team", "from_address": "ops@example.test",
      "text": ["Line one continues here."], "html": ["HTML body text"], "attachments": [att("report final.txt", "text/plain", ctl)]})

# 21 HTML-only body in windows-1251, quoted-printable
html = "<html><body><p>Уважаемый клиент,</p><p>ваш заказ отправлен.</p></body></html>\r\n".encode("cp1251")
qp = quopri.encodestring(html).decode().replace("\n", CRLF)
raw = head(bword("Заказ отправлен", "windows-1251", "cp1251"), "Shop <shop@example.test>", mid="cp1251") + \
    "Content-Type: text/html; charset=\"windows-1251\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp
write("windows-1251-html-only", raw, {"subject": "Заказ отправлен", "from_name": "Shop", "from_address": "shop@example.test",
      "text": ["Уважаемый клиент,", "ваш заказ отправлен."], "html": ["Уважаемый клиент,"], "attachments": []})

# 22 ISO-2022-KR body (RFC 1557)
body = "안녕하세요\r\n감사합니다\r\n".encode("iso2022_kr")
raw = (head("Korean 7-bit", "Park <park@example.test>", mid="iso2022kr") + "Content-Type: text/plain; charset=ISO-2022-KR\r\nContent-Transfer-Encoding: 7bit\r\n\r\n").encode() + body
write("iso-2022-kr-body", raw, {"subject": "Korean 7-bit", "from_name": "Park", "from_address": "park@example.test",
      "text": ["안녕하세요", "감사합니다"], "not_in_text": ["\u001b", "\u000e"], "attachments": []})


# 23 A forwarded message sent in base64 (RFC 2046 forbids it; some gateways do it anyway)
fwd = ("From: =?utf-8?B?" + base64.b64encode("Ærø Støvring".encode()).decode() + "?= <aero@example.test>\r\nSubject: =?utf-8?Q?M=C3=B8de_i_morgen?=\r\n\r\nVi ses.\r\n").encode()
raw = head("Fwd: base64", "Gateway <gw@example.test>", "Content-Type: multipart/mixed; boundary=\"b6\"\r\n", mid="fwdb64") + CRLF + \
    "--b6\r\nContent-Type: text/plain\r\n\r\nForwarded by a gateway.\r\n--b6\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64lines(fwd) + CRLF + "--b6--\r\n"
write("forwarded-message-in-base64", raw, {"subject": "Fwd: base64", "from_name": "Gateway", "from_address": "gw@example.test",
      "text": ["Forwarded by a gateway."], "attachments": [att("Møde i morgen.eml", "message/rfc822", fwd)]})

# ---------- the shared cases: expected values from their README ----------
def shared(name, exp):
    raw = open(os.path.join(OUT, name + ".eml"), "rb").read()
    exp["raw_sha256"] = sha(raw)
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(exp, f, ensure_ascii=False, indent=2)
        f.write("\n")

shared("iso2022jp-qp-body", {"subject": "New request 1001", "from_name": "Service Desk", "from_address": "desk@example.test",
       "text": ["ご依頼を受け付けました。", "担当者：山田"], "not_in_text": ["\u001b", "$B", "(B"], "attachments": []})
shared("iso2022jp-subject-multiword", {"subject": "【防水特集】台風や豪雨に備える商品のご案内", "from_name": "山田 太郎", "from_address": "taro@example.test",
       "text": ["See subject."], "attachments": []})
shared("gb2312-label-gbk-bytes", {"subject": "这是很坏的Minus – 测试", "from_name": None, "from_address": "sender@example.test",
       "text": ["你好，这是一封测试邮件 – 谢谢"], "attachments": []})
shared("iso8859-1-label-cp1252-bytes", {"subject": "Preisänderung “Frühling” – €12", "from_name": "Jürgen Krämer", "from_address": "jk@example.test",
       "text": ["The “new” price – € 12,50 – applies from Monday.", "Danke für Ihre Bestellung."], "attachments": []})
shared("utf7-body", {"subject": "Grüße", "from_name": "Office", "from_address": "office@example.test",
       "text": ["Grüße aus Köln – Rechnung anbei. 文件"], "attachments": []})
shared("folded-header-leading-space", {"subject": "Übergabe “Q3” – Raum 2 ✓", "from_name": "Jürgen Weiß", "from_address": "jw@example.test",
       "text": ["anbei die Übergabe."], "attachments": []})
shared("nul-bytes-subject-body", {"subject": "Disk alert host7", "from_name": "Monitoring", "from_address": "alerts@example.test",
       "text": ["Volume /data is 97% full. Free space: 3 GB.", "Second line after NUL."], "attachments": []})
inner = open(os.path.join(OUT, "forwarded-as-attachment.eml"), "rb").read()
s = inner.index(b"From: Supplier"); e = inner.index(b"--inner-b--\r\n") + len(b"--inner-b--\r\n")
shared("forwarded-as-attachment", {"subject": "FW: Order confirmation 4711", "from_name": "Colleague", "from_address": "colleague@example.test",
       "text": ["Please see the attached mail."], "attachments": [att("Order confirmation 4711.eml", "message/rfc822", inner[s:e])]})
t = open(os.path.join(OUT, "tnef-winmail-dat.eml"), "rb").read().decode()
wd = base64.b64decode("".join(t.split("base64\r\n\r\n")[1].split("--_005")[0].split()))
shared("tnef-winmail-dat", {"subject": "Figures attached", "from_name": "Outlook User", "from_address": "user@example.test",
       "text": ["Please find the figures attached."], "attachments": [att("winmail.dat", "application/ms-tnef", wd), att("figures.txt", "text/plain", b"Quarterly figures: 42\n")]})
c = open(os.path.join(OUT, "meeting-invite-calendar-only.eml"), "rb").read().decode()
ics0 = base64.b64decode("".join(c.split("\r\n\r\n", 1)[1].split()))
shared("meeting-invite-calendar-only", {"subject": "Ticket review", "from_name": "Planner", "from_address": "planner@example.test",
       "text": ["Ticket review", "2017-12-11 09:00–10:00 UTC", "Room 2", "planner@example.test", "Agenda: review open tickets."],
       "calendar": {"title": "Ticket review", "when": "2017-12-11 09:00–10:00 UTC", "location": "Room 2", "organizer": "Planner <planner@example.test>", "description": "Agenda: review open tickets.\n"},
       "attachments": [att("invite.ics", "text/calendar", ics0)]})
shared("rfc2231-continuations", {"subject": "Scanned documents", "from_name": None, "from_address": "scanner@example.test",
       "text": ["Two scans."], "attachments": [att("A10090110721.pdf", "application/octet-stream", b"%PDF-1.4\n"), att("Angebot Müller Stand Juli.pdf", "application/pdf", b"%PDF-1.5\n")]})
sm = open(os.path.join(OUT, "smime-clear-signed.eml"), "rb").read().decode()
p7 = base64.b64decode("".join(sm.split('filename="smime.p7s"\r\n\r\n')[1].split("------EA68")[0].split()))
shared("smime-clear-signed", {"subject": "Toner", "from_name": "Signer", "from_address": "signer@example.test",
       "text": ["Printer on floor 3 is out of toner."], "attachments": [att("smime.p7s", "application/x-pkcs7-signature", p7)]})
shared("bare-lf-multipart-8bit", {"subject": "Facture n° 2019-07 – relance", "from_name": "Renée Dupré", "from_address": "renee@example.test",
       "text": ["Bonjour, la facture ci-jointe reste impayée."], "attachments": [att("releve.csv", "text/csv", b"id;montant\n2019-07;120,00\n")]})
png0 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")
shared("inline-cid-image-no-disposition", {"subject": "Screenshot of the error", "from_name": "Sender", "from_address": "sender@example.test",
       "text": ["See the error below:"], "inline_images": 1, "attachments": [att("image001.png", "image/png", png0)]})
print("ok")
