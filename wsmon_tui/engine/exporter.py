"""wsmon's own view as Prometheus text (``monitor --metrics-port P``).

Teams that outgrow one machine run several wsmon instances and let a Prometheus
server scrape them all. The page carries probe latency histograms, success and
error counters and the health scores. It is served by a tiny asyncio HTTP server
bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import defaultdict

from wsmon_tui.model import ProbeResult, Snapshot

#: Histogram buckets for handshake and round-trip seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break


class ProbeMetrics:
    """Counters and histograms fed by every probe; rendered on demand."""

    def __init__(self) -> None:
        self.handshake: dict[str, _Histogram] = defaultdict(_Histogram)
        self.rtt: dict[str, _Histogram] = defaultdict(_Histogram)
        self.results: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.snapshot: Snapshot | None = None

    def observe(self, result: ProbeResult) -> None:
        self.results[(result.target, "success" if result.ok else "failure")] += 1
        if not result.ok and result.error_class:
            self.errors[(result.target, result.error_class)] += 1
        if result.handshake_ms is not None:
            self.handshake[result.target].observe(result.handshake_ms / 1000.0)
        if result.rtt_ms is not None:
            self.rtt[result.target].observe(result.rtt_ms / 1000.0)

    def render(self) -> str:
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
                    out.append(f'{name}_bucket{{target="{t}",le="{bound}"}} {cumulative}')
                out.append(f'{name}_bucket{{target="{t}",le="+Inf"}} {h.total}')
                out.append(f'{name}_sum{{target="{t}"}} {_num(h.sum)}')
                out.append(f'{name}_count{{target="{t}"}} {h.total}')
        out.append("# HELP wsmon_probes_total Probes by result.")
        out.append("# TYPE wsmon_probes_total counter")
        for (target, result), n in sorted(self.results.items()):
            out.append(f'wsmon_probes_total{{target="{_label(target)}",result="{result}"}} {n}')
        out.append("# HELP wsmon_probe_errors_total Failed probes by error class.")
        out.append("# TYPE wsmon_probe_errors_total counter")
        for (target, cls), n in sorted(self.errors.items()):
            out.append(f'wsmon_probe_errors_total{{target="{_label(target)}",class="{cls}"}} {n}')
        snap = self.snapshot
        out.append("# HELP wsmon_health_score Health score 0-100 (overall when target is empty).")
        out.append("# TYPE wsmon_health_score gauge")
        if snap is not None:
            if snap.health_score is not None:
                out.append(f'wsmon_health_score{{target=""}} {_num(snap.health_score)}')
            for tv in snap.targets:
                if tv.health_score is not None:
                    out.append(f'wsmon_health_score{{target="{_label(tv.name)}"}} {_num(tv.health_score)}')
            out.append("# HELP wsmon_status Overall status (1 for the current one).")
            out.append("# TYPE wsmon_status gauge")
            for status in ("healthy", "degraded", "critical", "unknown"):
                out.append(f'wsmon_status{{status="{status}"}} {1 if snap.status == status else 0}')
            out.append("# HELP wsmon_alerts_firing Alerts firing now.")
            out.append("# TYPE wsmon_alerts_firing gauge")
            firing = sum(1 for a in snap.alerts if a.state == "firing")
            out.append(f"wsmon_alerts_firing {firing}")
        return "\n".join(out) + "\n"


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
