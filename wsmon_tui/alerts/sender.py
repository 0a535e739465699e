"""Sending one message to one channel, and what a failure means.

``Sender`` performs the I/O for the payloads of ``alerts/channels.py``: httpx for webhook,
Slack, Alertmanager and PagerDuty; smtplib in a thread for email; an append for file.
A failure raises ``DeliveryError`` with an ``outcome`` the outbox acts on:

* ``retry``: it did not arrive and may next time: connection refused, a timeout before
  the request was sent, HTTP 408, 429 or 5xx, SMTP 4xx. Retried with backoff, at least
  the receiver's ``Retry-After``.
* ``permanent``: the receiver refused it and will again: any other HTTP status (a 4xx
  other than 408/429, a redirect), SMTP 5xx, a file channel path that is a symlink or not
  a regular file. Recorded ``failed_permanent`` with the reason; never retried
  (Alertmanager retries 5xx only, too).
* ``maybe_sent``: the request went out and no answer came in time (HTTP read or write
  timeout, an SMTP timeout or disconnect after the message was handed over). The receiver
  may have it. How often that may repeat depends on whether the receiver deduplicates:
  ``MAYBE_SENT_LIMIT`` (see README, "Channels").
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import smtplib
import ssl
import stat
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from wsmon_tui.alerts.channels import (
    PAGERDUTY_URL,
    alertmanager_body,
    channel_secrets,
    clean,
    email_message,
    file_record,
    one_line,
    pagerduty_event,
    pagerduty_summary_event,
    slack_payload,
    webhook_payload,
)
from wsmon_tui.alerts.notification import Notification
from wsmon_tui.config import ChannelConfig
from wsmon_tui.redact import redact_text, redact_url

Outcome = Literal["retry", "permanent", "maybe_sent"]

MAYBE_SENT_LIMIT: dict[str, int] = {"slack": 2, "email": 2}
"""Attempts of one delivery that may have reached the receiver (a timeout after sending)
before the outbox stops and records it ``uncertain``. Slack and email do not deduplicate:
one retry, after ``UNCERTAIN_DELAY``. Other channels carry a key the receiver dedups on
(webhook ``Idempotency-Key``, PagerDuty ``dedup_key``, Alertmanager's label set), so a
repeat is harmless: ``DEFAULT_MAYBE_SENT_LIMIT``, with the usual backoff."""
DEFAULT_MAYBE_SENT_LIMIT = 4
UNCERTAIN_DELAY = 60.0
"""Seconds before the one retry of a non-deduplicating channel after a timeout after sending."""


def maybe_sent_limit(channel_type: str) -> int:
    return MAYBE_SENT_LIMIT.get(channel_type, DEFAULT_MAYBE_SENT_LIMIT)


def deduplicates(channel_type: str) -> bool:
    """Whether the receiver of this channel type deduplicates a repeated message."""
    return channel_type not in MAYBE_SENT_LIMIT


class DeliveryError(Exception):
    """A send failed; ``str()`` is safe to store once redacted. ``retry_after`` from the receiver;
    ``outcome``: retry, permanent or maybe_sent (see the module doc)."""

    def __init__(self, message: str, retry_after: float | None = None, *, outcome: Outcome = "retry") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.outcome: Outcome = outcome


def retryable_status(code: int) -> bool:
    """HTTP statuses worth another try: 408, 429 and 5xx. Anything else is final."""
    return code in (408, 429) or 500 <= code <= 599


def _retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    base = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - base)


class Sender:
    """Sends one message (one notification, or a summary of several) to one channel."""

    def __init__(self, client: httpx.AsyncClient | None = None, *, secrets: Iterable[str] = (),
                 am_ttl: float = 180.0) -> None:
        self._client = client
        self._own: list[httpx.AsyncClient] = []
        self._insecure: httpx.AsyncClient | None = None
        self.secrets = set(secrets)
        self.am_ttl = am_ttl

    def _http(self, ch: ChannelConfig) -> httpx.AsyncClient:
        if not ch.verify_tls:
            if self._insecure is None:
                self._insecure = httpx.AsyncClient(verify=False)
                self._own.append(self._insecure)
            return self._insecure
        if self._client is None:
            self._client = httpx.AsyncClient()
            self._own.append(self._client)
        return self._client

    async def aclose(self) -> None:
        for client in self._own:
            await client.aclose()
        self._own.clear()
        self._insecure = None

    def safe(self, ch: ChannelConfig, text: str) -> str:
        """``text`` with every secret of the config and of ``ch`` masked."""
        return redact_text(clean(text), self.secrets | channel_secrets(ch))

    async def post(self, ch: ChannelConfig, url: str, body: Any, *, key: str | None = None) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "wsmon-tui"}
        if key:
            headers["Idempotency-Key"] = key
        headers.update(ch.headers)
        data = json.dumps(body, ensure_ascii=False).encode()
        try:
            response = await self._http(ch).post(url, content=data, headers=headers, timeout=ch.timeout)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise DeliveryError(f"timed out after {ch.timeout:g}s connecting to {redact_url(url)}") from None
        except httpx.TimeoutException:  # read or write: the request (or part of it) went out
            raise DeliveryError(f"timed out after {ch.timeout:g}s waiting for {redact_url(url)} after "
                                "sending (it may have arrived)", outcome="maybe_sent") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise DeliveryError(f"{type(exc).__name__}: {reason} ({redact_url(url)})") from None
        code = response.status_code
        if not 200 <= code < 300:
            snippet = one_line(response.text, 200)
            if retryable_status(code):
                raise DeliveryError(f"HTTP {code} from {redact_url(url)}: {snippet}", _retry_after(response))
            raise DeliveryError(f"HTTP {code} from {redact_url(url)}: {snippet} (not retried: the receiver"
                                " refuses it)", outcome="permanent")

    async def send(self, ch: ChannelConfig, notifications: Sequence[Notification], *, deployment: str,
                   key: str, now: float, summary: bool = False) -> None:
        """Deliver; raises ``DeliveryError`` (message not yet redacted) when it did not arrive."""
        if ch.type == "webhook":
            await self.post(ch, ch.url or "", webhook_payload(ch, notifications, deployment, summary=summary),
                            key=key)
        elif ch.type == "slack":
            await self.post(ch, ch.url or "", slack_payload(notifications, summary=summary))
        elif ch.type == "alertmanager":
            await self.post_alertmanager(ch, alertmanager_body(notifications, deployment, now, self.am_ttl))
        elif ch.type == "pagerduty":
            body = (pagerduty_summary_event(ch, notifications, deployment) if summary
                    else pagerduty_event(ch, notifications[0], deployment))
            await self.post(ch, ch.url or PAGERDUTY_URL, body, key=key)
        elif ch.type == "email":
            await self._email(ch, email_message(ch, notifications, deployment, key, summary=summary))
        elif ch.type == "file":
            append_record(Path(ch.path or "").expanduser(),
                          file_record(ch, notifications, deployment, key, now, summary=summary))
        else:
            raise DeliveryError(f"unknown channel type {ch.type!r}", outcome="permanent")

    async def post_alertmanager(self, ch: ChannelConfig, alerts: list[dict[str, Any]]) -> None:
        base = (ch.url or "").rstrip("/")
        url = base if base.endswith("/api/v2/alerts") else base + "/api/v2/alerts"
        await self.post(ch, url, alerts)

    async def _email(self, ch: ChannelConfig, msg: EmailMessage) -> None:
        host, _, port = (ch.smtp_server or "").rpartition(":")
        where = f"SMTP {host}:{port}"
        handed_over = False  # set just before the message goes out: a failure after it may have arrived

        def send() -> None:
            nonlocal handed_over
            with smtplib.SMTP(host, int(port), timeout=ch.timeout) as smtp:
                smtp.ehlo()
                if ch.starttls:
                    context = ssl.create_default_context()
                    if not ch.verify_tls:
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if ch.username:
                    smtp.login(ch.username, ch.password or "")
                handed_over = True
                smtp.send_message(msg, from_addr=ch.sender, to_addrs=list(ch.recipients))

        try:
            await asyncio.wait_for(asyncio.to_thread(send), ch.timeout + 1)
        except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
            if handed_over:
                raise DeliveryError(f"{where}: {type(exc).__name__}: {exc or 'timed out'} after sending the"
                                    " message (it may have arrived)", outcome="maybe_sent") from None
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc or 'timed out'}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            outcome: Outcome = "permanent" if codes and min(codes) >= 500 else "retry"
            raise DeliveryError(f"{where}: every recipient refused ({', '.join(map(str, codes))})",
                                outcome=outcome) from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            detail = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            final = exc.smtp_code >= 500
            raise DeliveryError(f"{where}: {exc.smtp_code} {one_line(str(detail), 200)}"
                                + (" (not retried: the server refuses it)" if final else ""),
                                outcome="permanent" if final else "retry") from None
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to ``path``: created 0600, never through a symlink, only to a regular file."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DeliveryError(f"refusing to append to {path}: it is a symlink (the file channel never "
                                "follows links)", outcome="permanent") from None
        raise DeliveryError(f"cannot append to {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DeliveryError(f"refusing to append to {path}: not a regular file", outcome="permanent")
        os.write(fd, line)
    except OSError as exc:
        raise DeliveryError(f"cannot append to {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
