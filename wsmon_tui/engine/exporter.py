"""wsmon's own view as Prometheus text (``monitor --metrics-port P``).

Teams that outgrow one machine run several wsmon instances and let a Prometheus
server scrape them all. The page carries probe latency histograms, success and
error counters, the close codes and HTTP statuses of failed probes, the held
connections' drops by close code and the health scores (every name is in
docs/metrics.md, "wsmon's own /metrics"). It is served by a tiny asyncio HTTP server
bound to 127.0.0.1 unless told otherwise.

Every series carries ``deployment`` (``[deployment] name``) and, when ``[monitor] site`` is
set, ``site``: one Prometheus scraping the monitors of several sites can then compare what
each vantage point sees (``sum by (site)``) without relabelling in its scrape config.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from bisect import bisect_left
from collections import defaultdict

from wsmon_tui.model import ProbeResult, Snapshot, counts_close_code, counts_http_status

#: Histogram buckets for handshake and round-trip seconds: 1 ms to 10 s, finest from 10 ms
#: to 1 s where WebSocket handshakes and round trips live. ``histogram_quantile`` interpolates
#: within a bucket, so a bucket's width is the error it can make: with prometheus_client's
#: defaults (0.1 then 0.25) a true 102 ms read as p50 175 ms; here it stays under 125 ms.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
           1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    """Escape a label value per the exposition format (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Histogram:
    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.sum = 0.0
        self.total = 0

    def observe(self, seconds: float) -> None:
        self.sum += seconds
        self.total += 1
        i = bisect_left(BUCKETS, seconds)  # the first bound >= seconds (le: less or equal)
        if i < len(BUCKETS):
            self.counts[i] += 1


def constant_labels(deployment: str, site: str = "") -> str:
    """``deployment="…",site="…"`` (no ``site`` when unset), the labels every series starts with."""
    text = f'deployment="{_label(deployment)}"'
    return text + f',site="{_label(site)}"' if site else text


class ProbeMetrics:
    """Counters and histograms fed by every probe; rendered on demand."""

    def __init__(self, deployment: str = "", site: str = "") -> None:
        self.base = constant_labels(deployment, site)
        """The labels every series carries, rendered once."""
        self.handshake: dict[str, _Histogram] = defaultdict(_Histogram)
        self.rtt: dict[str, _Histogram] = defaultdict(_Histogram)
        self.results: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.close_codes: dict[tuple[str, str], int] = defaultdict(int)
        self.http_statuses: dict[tuple[str, str], int] = defaultdict(int)
        self.snapshot: Snapshot | None = None

    def observe(self, result: ProbeResult) -> None:
        if (result.target, "success") not in self.results:
            # both results from a target's first probe: a target that never succeeds has a
            # success series at 0, so a success rate (success / all) is 0 for it, not missing
            self.results[(result.target, "success")] = 0
            self.results[(result.target, "failure")] = 0
        self.results[(result.target, "success" if result.ok else "failure")] += 1
        if not result.ok and result.error_class:
            self.errors[(result.target, result.error_class)] += 1
        if counts_close_code(result.ok, result.close_code):  # the one rule, as on screen
            self.close_codes[(result.target, str(result.close_code))] += 1
        if counts_http_status(result.ok, result.http_status):
            self.http_statuses[(result.target, str(result.http_status))] += 1
        if result.handshake_ms is not None:
            self.handshake[result.target].observe(result.handshake_ms / 1000.0)
        if result.rtt_ms is not None:
            self.rtt[result.target].observe(result.rtt_ms / 1000.0)

    def render(self) -> str:
        base = self.base
        out: list[str] = []
        for name, hists, help_ in (
            ("wsmon_probe_handshake_seconds", self.handshake, "Probe handshake time (start to 101)."),
            ("wsmon_probe_rtt_seconds", self.rtt, "Probe message round trip."),
        ):
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} histogram")
            for target, h in sorted(hists.items()):
                t = _label(target)
                cumulative = 0
                for bound, count in zip(BUCKETS, h.counts, strict=True):
                    cumulative += count
                    out.append(f'{name}_bucket{{{base},target="{t}",le="{bound}"}} {cumulative}')
                out.append(f'{name}_bucket{{{base},target="{t}",le="+Inf"}} {h.total}')
                out.append(f'{name}_sum{{{base},target="{t}"}} {_num(h.sum)}')
                out.append(f'{name}_count{{{base},target="{t}"}} {h.total}')
        out.append("# HELP wsmon_probes_total Probes by result.")
        out.append("# TYPE wsmon_probes_total counter")
        for (target, result), n in sorted(self.results.items()):
            out.append(f'wsmon_probes_total{{{base},target="{_label(target)}",result="{result}"}} {n}')
        out.append("# HELP wsmon_probe_errors_total Failed probes by error class.")
        out.append("# TYPE wsmon_probe_errors_total counter")
        for (target, cls), n in sorted(self.errors.items()):
            out.append(f'wsmon_probe_errors_total{{{base},target="{_label(target)}",class="{cls}"}} {n}')
        _counter(out, base, "wsmon_probe_close_codes_total", "code", self.close_codes,
                 "Failed probes by close code (1001 and 1012 apart from 1006 and 1011).")
        _counter(out, base, "wsmon_probe_http_status_total", "status", self.http_statuses,
                 "Probes whose upgrade was answered with another HTTP status, by status.")
        snap = self.snapshot
        drops: dict[tuple[str, str], int] = {}
        for tv in snap.targets if snap is not None else ():
            if tv.hold is not None:
                drops.update({(tv.name, code): n for code, n in tv.hold.disconnects.items()})
        _counter(out, base, "wsmon_hold_drops_total", "code", drops,
                 "Drops of a hold = true target's held connection by close code (1006: no close frame).")
        out.append("# HELP wsmon_health_score Health score 0-100 (overall when target is empty).")
        out.append("# TYPE wsmon_health_score gauge")
        if snap is not None:
            if snap.health_score is not None:
                out.append(f'wsmon_health_score{{{base},target=""}} {_num(snap.health_score)}')
            for tv in snap.targets:
                if tv.health_score is not None:
                    out.append(f'wsmon_health_score{{{base},target="{_label(tv.name)}"}} '
                               f'{_num(tv.health_score)}')
            out.append("# HELP wsmon_status Overall status (1 for the current one).")
            out.append("# TYPE wsmon_status gauge")
            for status in ("healthy", "degraded", "critical", "unknown"):
                out.append(f'wsmon_status{{{base},status="{status}"}} {1 if snap.status == status else 0}')
            out.append("# HELP wsmon_alerts_firing Alerts firing now.")
            out.append("# TYPE wsmon_alerts_firing gauge")
            firing = sum(1 for a in snap.alerts if a.state == "firing")
            out.append(f"wsmon_alerts_firing{{{base}}} {firing}")
        return "\n".join(out) + "\n"


def _counter(out: list[str], base: str, name: str, label: str, counts: dict[tuple[str, str], int],
             help_: str) -> None:
    """A counter family by target and one more label (its HELP and TYPE even with no series yet)."""
    out.append(f"# HELP {name} {help_}")
    out.append(f"# TYPE {name} counter")
    for (target, value), n in sorted(counts.items()):
        out.append(f'{name}{{{base},target="{_label(target)}",{label}="{_label(value)}"}} {n}')


class MetricsServer:
    """Serves ``ProbeMetrics.render()`` at ``/metrics`` over plain HTTP/1.1."""

    def __init__(self, metrics: ProbeMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
            line = request.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1].split("?")[0] == "/metrics":
                body = self.metrics.render().encode()
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                writer.write(head.encode() + (body if parts[0] == "GET" else b""))
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
