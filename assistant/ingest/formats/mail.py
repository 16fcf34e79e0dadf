"""Saved mail: single messages (.eml) and mailboxes (.mbox), each message a citable place.

Read with the standard library's `email` (modern policy: decoded headers, charsets honoured)
and `mailbox`, which walks an mbox message by message without loading it whole. A message
is cited by its subject, sender and date; its plain-text body is preferred, its HTML body
read as visible text otherwise, and attachments are named.
"""

from __future__ import annotations

import mailbox
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


def extract_eml(data: bytes) -> Extracted:
    message = _parse(data)
    page, cut = _message_page(message, None)
    if not page.text.strip():
        raise ExtractionError("empty message (no text)")
    notes = ["the message is very long: only its beginning was read"] if cut else []
    return Extracted(kind="eml", pages=[page], warnings=notes, title=_subject(message))


def extract_mbox(path: Path) -> Extracted:
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
                page, _ = _message_page(message, len(pages) + 1)
            except ExtractionError:
                continue
            if page.text.strip():
                pages.append(page)
                room -= len(page.text)
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


def _message_page(message: EmailMessage, number: int | None) -> tuple[Page, bool]:
    """The message as text (its headers first) and its label; True when the body was cut."""
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
    prefix = f"message {number}" if number is not None else "message"
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
