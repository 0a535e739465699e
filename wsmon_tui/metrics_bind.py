"""``--metrics-port [HOST:]PORT``: where wsmon's own ``/metrics`` listens.

A bare port binds 127.0.0.1 (the page names deployments and targets: not for the network
unless asked). ``HOST:PORT`` binds elsewhere, e.g. ``0.0.0.0:9464`` for a Prometheus on
another machine; ``[::1]:9464`` for an IPv6 address.
"""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"


def parse_metrics_bind(value: str) -> tuple[str, int]:
    """``(host, port)`` from ``PORT`` or ``HOST:PORT``; ``ValueError`` saying what is wrong."""
    text = value.strip()
    host = DEFAULT_HOST
    port_text = text
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise ValueError("expected [IPv6]:PORT")
        host, port_text = text[1:end], text[end + 2:]
        _check_ip(host, v6=True)
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        if ":" in host:
            raise ValueError("an IPv6 address goes in brackets: [::1]:9464")
        if not host:
            raise ValueError("expected HOST:PORT with a host before the colon")
        if not _is_hostname(host):
            _check_ip(host, v6=False)
    if not port_text.isdigit():
        raise ValueError("expected PORT or HOST:PORT, the port a number 0-65535")
    port = int(port_text)
    if port > 65535:
        raise ValueError("the port must be 0-65535")
    return host, port


def _check_ip(host: str, *, v6: bool) -> None:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address") from None
    if v6 and addr.version != 6:
        raise ValueError(f"{host!r} in brackets must be an IPv6 address")


def _is_hostname(host: str) -> bool:
    """A DNS name such as ``localhost`` (letters present; an all-digit dotted host is an IP)."""
    labels = host.split(".")
    if not any(ch.isalpha() for ch in host):
        return False
    return all(label and len(label) <= 63 and label.replace("-", "").isalnum()
               and not label.startswith("-") and not label.endswith("-") for label in labels)


def metrics_url(host: str, port: int) -> str:
    """The address to tell the user (an unspecified bind is reached at the loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/metrics" if ":" in shown else f"http://{shown}:{port}/metrics"
