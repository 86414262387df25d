"""Building and sending one message over SMTP (the standard library's ``smtplib`` and ``email``)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from billow.config import Settings
from billow.mail.content import Content

#: ``(filename, bytes, mime type)``: what the ``mail.attachments`` hook functions append.
Attachment = tuple[str, bytes, str]


@dataclass(frozen=True)
class Envelope:
    to: list[str]
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: str | None = None
    sender_name: str | None = None


def smtp_enabled(settings: Settings) -> bool:
    """E-mails are sent only when ``BILLOW_SMTP_HOST`` is set."""
    return bool(settings.smtp_host)


def build_message(
    settings: Settings, envelope: Envelope, content: Content, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    """The message: plain text with an HTML alternative, then the attachments. Bcc stays off the headers."""
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = formataddr((envelope.sender_name or "", settings.smtp_from))
    message["To"] = ", ".join(envelope.to)
    if envelope.cc:
        message["Cc"] = ", ".join(envelope.cc)
    if envelope.reply_to:
        message["Reply-To"] = formataddr((envelope.sender_name or "", envelope.reply_to))
    domain = settings.smtp_from.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    for filename, data, mime_type in attachments:
        maintype, _, subtype = mime_type.partition("/")
        message.add_attachment(
            data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=filename
        )
    return message


def send(settings: Settings, message: EmailMessage, envelope: Envelope) -> None:
    """Send ``message`` to every recipient (to, cc and bcc); raises ``OSError``/``smtplib.SMTPException``."""
    host = settings.smtp_host
    if not host:
        raise RuntimeError("BILLOW_SMTP_HOST is not set")
    recipients = [*envelope.to, *envelope.cc, *envelope.bcc]
    client: smtplib.SMTP
    if settings.smtp_security == "ssl":
        client = smtplib.SMTP_SSL(
            host, settings.smtp_port, timeout=settings.smtp_timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, settings.smtp_port, timeout=settings.smtp_timeout)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
        client.send_message(message, from_addr=settings.smtp_from, to_addrs=recipients)
