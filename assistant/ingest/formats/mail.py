"""Saved mail: single messages (.eml) and mailboxes (.mbox), each message a citable place.

Read with the standard library's `email` (modern policy: decoded headers, charsets honoured)
and `mailbox`, which walks an mbox message by message without loading it whole. A message
is cited by its subject, sender and date; its plain-text body is preferred, its HTML body
read as visible text otherwise. Attachments are named, and those of a supported type are read
as further places of the same document, each labelled with its message and file name.
"""

from __future__ import annotations

import mailbox
import tempfile
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from assistant.ingest.formats.common import (
    MANY_NEWLINES,
    Extracted,
    ExtractionError,
    Page,
    clean_line,
    noted,
    os_reason,
)
from assistant.ingest.formats.text import decode_text
from assistant.ingest.formats.web import extract_html

MAX_MESSAGES = 20_000  # messages read from one mailbox
MAX_BODY_CHARS = 200_000  # of one message's text; longer bodies are cut with a warning
MAX_TEXT_CHARS = 16 * 1024 * 1024  # of one mailbox, as for the largest text file
MAX_ATTACHMENTS = 20  # attachments of one message that are read
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # decoded; larger ones are only named

Reader = Callable[[Path], Extracted]


def extract_eml(data: bytes, attachments: Reader | None = None) -> Extracted:
    """The message unpaged; each attached document of a supported type follows as its own
    numbered places ("message: Lunch from Kari, attachment menu.pdf, page 2")."""
    message = _parse(data)
    page, cut = _message_page(message, None, None)
    pages = [page, *_attachment_pages(message, page.label or "message", attachments, 1)]
    if not any(p.text.strip() for p in pages):
        raise ExtractionError("empty message (no text)")
    notes = ["the message is very long: only its beginning was read"] if cut else []
    return Extracted(kind="eml", pages=pages, warnings=notes, title=_subject(message))


def extract_mbox(path: Path, attachments: Reader | None = None) -> Extracted:
    try:
        box = mailbox.mbox(str(path), create=False)
        keys = box.keys()  # one pass over the file to find where messages start
    except OSError as err:
        raise os_reason(err) from err
    except Exception as err:
        noted(err, "mbox")
        raise ExtractionError("corrupt mailbox: its messages cannot be told apart") from err
    pages: list[Page] = []
    notes: list[str] = []
    room = MAX_TEXT_CHARS
    read = 0
    try:
        for key in keys[:MAX_MESSAGES]:
            if room <= 0:
                break
            read += 1
            try:
                message = _parse(box.get_bytes(key))
                page, _ = _message_page(message, len(pages) + 1, read)
            except ExtractionError:
                continue
            found = [page, *_attachment_pages(message, page.label or "message", attachments,
                                              len(pages) + 2)]
            if any(p.text.strip() for p in found):
                pages.extend(found)
                room -= sum(len(p.text) for p in found)
    finally:
        box.close()
    if read < len(keys):
        notes.append(f"only the first {read:,} of {len(keys):,} messages were read (a mailbox "
                     f"is read up to {MAX_MESSAGES:,} messages or 16 MB of text)")
    if not pages:
        raise ExtractionError("empty mailbox (no message with text)")
    return Extracted(kind="mbox", pages=pages, warnings=notes, title=None)


def _parse(data: bytes) -> EmailMessage:
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
    except Exception as err:
        noted(err, "mail")
        raise ExtractionError("corrupt mail message: it cannot be read") from err
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header the modern parser cannot decode
        return ""
    return clean_line(str(value or "")).replace("\n", " ")


def _subject(message: EmailMessage) -> str | None:
    return _header(message, "Subject") or None


def _message_page(message: EmailMessage, number: int | None,
                  index: int | None) -> tuple[Page, bool]:
    """The message as text (its headers first) and its label ('message `index`: subject
    from sender, date'); True when the body was cut."""
    subject = _subject(message) or "(no subject)"
    sender = _header(message, "From")
    date = _header(message, "Date")
    head = [f"Subject: {subject}"]
    head += [f"From: {sender}"] if sender else []
    head += [f"To: {to}"] if (to := _header(message, "To")) else []
    head += [f"Date: {date}"] if date else []
    body = _body(message)
    cut = len(body) > MAX_BODY_CHARS
    attachments = _attachment_names(message)
    text = "\n".join(head) + "\n\n" + body[:MAX_BODY_CHARS]
    if attachments:
        text += "\n\nAttachments: " + ", ".join(attachments)
    who = f" from {sender}" if sender else ""
    when = f", {date}" if date else ""
    prefix = f"message {index}" if index is not None else "message"
    return Page(number, MANY_NEWLINES.sub("\n\n", text).strip(),
                f"{prefix}: {subject}{who}{when}"), cut


def _body(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        return ""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or ""
    try:
        text = payload.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        text = decode_text(payload)
    if part.get_content_subtype() == "html":
        try:
            return extract_html(text.encode("utf-8")).pages[0].text
        except ExtractionError:
            return ""
    return clean_line(text)


def _attachment_names(message: EmailMessage) -> list[str]:
    names: list[str] = []
    try:
        for part in message.iter_attachments():
            name = part.get_filename()
            if name:
                names.append(clean_line(str(name)))
    except Exception:
        return names
    return names[:50]


def _attachment_pages(message: EmailMessage, label: str, reader: Reader | None,
                      first: int) -> list[Page]:
    """Attached documents of a supported type, read by `reader` (the app's extract, which
    refuses mail inside mail, so this never recurses), numbered from `first`."""
    if reader is None:
        return []
    pages: list[Page] = []
    try:
        parts = list(message.iter_attachments())
    except Exception:
        return []
    for part in parts[:MAX_ATTACHMENTS]:
        try:
            name = clean_line(str(part.get_filename() or "")).replace("\n", " ")
            payload = part.get_payload(decode=True)
        except Exception:
            continue
        suffix = Path(name).suffix.lower()
        if not name or not suffix or not isinstance(payload, bytes) or \
                not payload or len(payload) > MAX_ATTACHMENT_BYTES:
            continue
        with tempfile.TemporaryDirectory(prefix="assistant-mail-") as tmp:
            copy = Path(tmp) / f"attachment{suffix}"
            copy.write_bytes(payload)
            try:
                got = reader(copy)
            except ExtractionError:
                continue  # unsupported or unreadable: it stays named in the message
        for sub in got.pages:
            if sub.text.strip():
                where = f", page {sub.number}" if sub.number is not None else ""
                pages.append(Page(first + len(pages), sub.text,
                                  f"{label}, attachment {name}{where}"))
    return pages
