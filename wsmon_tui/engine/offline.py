"""Does this machine look offline? One fleet figure, ``offline_hosts``, from the tick's views.

When the monitor's own network goes (the VPN dropped, the Wi-Fi is gone), every target
fails at once with a network-level error, and one page per target would say N times what
one sentence says: this machine cannot reach anything. ``offline_hosts`` is the number of
distinct hosts of the probed targets when

* at least ``MIN_TARGETS`` targets had probes in the evaluation window, and
* every probe of every one of them failed with a network-level error class (``refused``,
  ``dns``, ``timeout``), and none of their last probes got a TCP connection;

and 0 otherwise (None when no target was probed). The default rule ``MonitorOffline``
(``alerts/defaults.py``) fires on ``offline_hosts >= 2``: three targets on one host failing
together is that host being down, and pages per target as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from wsmon_tui.model import ErrorClass, TargetView

MIN_TARGETS = 3
"""Fewer probed targets say nothing about this machine's own network."""
NETWORK_CLASSES: tuple[str, ...] = (ErrorClass.REFUSED, ErrorClass.DNS, ErrorClass.TIMEOUT)
"""Failures before any byte of TLS or HTTP: the connection was never made."""


def network_failing(view: TargetView) -> bool:
    """Every probe of the window failed at the network level, and the last never connected."""
    if not view.probes:
        return False
    failed = sum(view.values.get(cls) or 0.0 for cls in NETWORK_CLASSES)
    last = view.last_probe
    return failed >= view.probes and (last is None or last.connect_ms is None)


def offline_hosts(views: Iterable[TargetView]) -> float | None:
    """The ``offline_hosts`` figure of one tick (see the module docstring)."""
    probed = [v for v in views if v.probes]
    if not probed:
        return None
    if len(probed) < MIN_TARGETS or not all(network_failing(v) for v in probed):
        return 0.0
    return float(len({(urlsplit(v.url).hostname or v.url).lower() for v in probed}))
