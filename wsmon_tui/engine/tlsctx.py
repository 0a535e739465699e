"""SSL contexts for wss:// probes and held connections.

Building an ``SSLContext`` loads the CA store, which costs milliseconds of CPU; a
monitor probing every few seconds must not pay that per probe. Contexts are cached
per ``(verify_tls, ca_file)`` for the life of the process.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from wsmon_tui.config import TargetConfig


@lru_cache(maxsize=32)
def tls_context(verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context: system CAs (or ``ca_file``), hostname checks unless ``verify`` is false."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ssl_context_for(target: TargetConfig) -> ssl.SSLContext | None:
    """The cached context for a wss:// target; None for ws://."""
    if not target.url.lower().startswith("wss://"):
        return None
    return tls_context(bool(target.verify_tls), target.ca_file or None)


def clear_cache() -> None:
    """Forget cached contexts (e.g. after a config reload replaced a CA file)."""
    tls_context.cache_clear()
