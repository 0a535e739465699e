"""The simulated client population behind the demo's ``/metrics``.

No sockets: a few hundred clients are plain records updated by ``step(dt)``. Each client
sits on one of three server instances and reaches the service either over WebSocket or
by long-polling. Which one it wants follows the ``websocket_enabled`` flag and its
``rollout`` percentage the way real flag systems bucket users: every client has a fixed
cohort in [0, 100) and is on WebSocket when ``cohort < rollout``. Clients move to the
path they want gradually (on their next reconnect or refresh), not all at once.

While the fault is active, WebSocket handshakes fail, WebSocket clients get dropped,
WebSocket messages slow down by 300-800 ms, errors climb and the send queues grow; when
it clears the queues drain over a few seconds. Everything is drawn from one seeded
``random.Random``, so a run with the same seed and the same steps gives the same numbers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

INSTANCES: tuple[str, ...] = ("demo-1", "demo-2", "demo-3")
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBSOCKET = "websocket"
LONGPOLL = "longpoll"

#: Share of clients that cannot use WebSocket at all (old proxies, old browsers).
LEGACY_SHARE = 0.03
#: Share of WebSocket handshakes (real and simulated) that fail while the fault is active.
FAULT_HANDSHAKE_FAILURE = 0.4
FAULT_EXTRA_LATENCY = (0.3, 0.8)
QUEUE_CAP = 5000.0


@dataclass(slots=True)
class _Client:
    instance: int
    cohort: float
    legacy: bool
    transport: str | None
    """websocket | longpoll | None while disconnected."""
    reconnect_at: float = 0.0


class Population:
    """Simulated clients, and the counters and gauges they produce.

    ``migrate_rate`` is the chance per second that a client on the wrong path moves;
    ``message_rate`` is messages per second per connected client.
    """

    def __init__(self, clients: int = 200, seed: int = 1, *, migrate_rate: float = 0.4,
                 message_rate: float = 0.5) -> None:
        if clients < 0:
            raise ValueError("clients must be zero or more")
        self._rng = random.Random(seed)
        self.migrate_rate = migrate_rate
        self.message_rate = message_rate
        self.time = 0.0
        self._clients = [
            _Client(instance=i % len(INSTANCES), cohort=self._rng.uniform(0.0, 100.0),
                    legacy=self._rng.random() < LEGACY_SHARE, transport=None,
                    reconnect_at=self._rng.uniform(0.0, 1.0))
            for i in range(clients)
        ]
        n = len(INSTANCES)
        self.messages_total = [0] * n
        self.errors_total = [0] * n
        self.queue_depth = [0.0] * n
        self.real_connections = [0] * n
        """Open real WebSocket connections (from /ws) per instance, added to the gauge."""
        self.bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        """Non-cumulative counts per bucket; the last one is above the largest bound."""
        self.latency_sum = 0.0
        self.latency_count = 0
        # Clients start on the path the initial flags give them (a deployment already running).
        for client in self._clients:
            client.transport = LONGPOLL if client.legacy else WEBSOCKET

    # -- reading ---------------------------------------------------------------

    def connections(self) -> dict[str, int]:
        """Open WebSocket connections per instance (simulated plus real)."""
        counts = list(self.real_connections)
        for client in self._clients:
            if client.transport == WEBSOCKET:
                counts[client.instance] += 1
        return dict(zip(INSTANCES, counts, strict=True))

    def transports(self) -> dict[str, int]:
        """Connected clients by transport (real /ws connections count as WebSocket)."""
        counts = {WEBSOCKET: sum(self.real_connections), LONGPOLL: 0}
        for client in self._clients:
            if client.transport is not None:
                counts[client.transport] += 1
        return counts

    def adoption(self) -> float | None:
        t = self.transports()
        total = t[WEBSOCKET] + t[LONGPOLL]
        return t[WEBSOCKET] / total if total else None

    # -- recording (also used for the real /ws connections) ---------------------

    def observe_latency(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.bucket_counts[i] += 1
                break
        else:
            self.bucket_counts[-1] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def count_message(self, instance: int, latency: float | None = None, *, error: bool = False) -> None:
        self.messages_total[instance] += 1
        if error:
            self.errors_total[instance] += 1
        if latency is not None:
            self.observe_latency(latency)

    def count_error(self, instance: int) -> None:
        self.errors_total[instance] += 1

    # -- simulation ----------------------------------------------------------------

    def step(self, dt: float, *, websocket_enabled: bool, rollout: float, fault: bool) -> None:
        """Advance the simulation by ``dt`` seconds."""
        if dt <= 0:
            return
        dt = min(dt, 5.0)  # a stalled loop must not produce a burst of years of traffic
        self.time += dt
        rng = self._rng
        load = 1.0 + 0.25 * math.sin(2 * math.pi * self.time / 90.0)
        for client in self._clients:
            wants = (WEBSOCKET if websocket_enabled and not client.legacy and client.cohort < rollout
                     else LONGPOLL)
            if client.transport is None:
                if self.time >= client.reconnect_at:
                    self._reconnect(client, wants, fault)
                continue
            on_ws = client.transport == WEBSOCKET
            drop = (0.08 if fault and on_ws else 0.004) * dt
            if rng.random() < drop:
                if fault and on_ws:
                    self.errors_total[client.instance] += 1  # abnormal close (1011/1006)
                client.transport = None
                client.reconnect_at = self.time + rng.uniform(0.5, 3.0)
                continue
            if client.transport != wants and rng.random() < self.migrate_rate * dt:
                client.transport = wants
                on_ws = wants == WEBSOCKET
            for _ in range(_poisson(rng, self.message_rate * load * dt)):
                latency = rng.lognormvariate(math.log(0.018), 0.5)
                if not on_ws:
                    latency += 0.04  # a long-poll round trip costs a new request
                if fault and on_ws:
                    latency += rng.uniform(*FAULT_EXTRA_LATENCY)
                error = rng.random() < (0.05 if fault and on_ws else 0.001)
                self.count_message(client.instance, latency, error=error)
        self._queues(dt, load, fault)

    def _reconnect(self, client: _Client, wants: str, fault: bool) -> None:
        rng = self._rng
        client.instance = rng.randrange(len(INSTANCES))  # the load balancer picks again
        if wants == WEBSOCKET and fault and rng.random() < FAULT_HANDSHAKE_FAILURE:
            self.errors_total[client.instance] += 1
            client.reconnect_at = self.time + rng.uniform(1.0, 4.0)
            return
        client.transport = wants

    def _queues(self, dt: float, load: float, fault: bool) -> None:
        per_instance = [0] * len(INSTANCES)
        for client in self._clients:
            if client.transport == WEBSOCKET:
                per_instance[client.instance] += 1
        for i, conns in enumerate(per_instance):
            if fault and conns:
                self.queue_depth[i] = min(QUEUE_CAP, self.queue_depth[i] + conns * 0.8 * load * dt)
            else:
                target = conns * 0.05 * load
                self.queue_depth[i] = target + (self.queue_depth[i] - target) * math.exp(-dt / 1.5)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the small means used here."""
    if lam <= 0:
        return 0
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit and k < 1000:
        k += 1
        p *= rng.random()
    return k


def render_prometheus(pop: Population) -> str:
    """The population's metrics in the Prometheus text exposition format (0.0.4)."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("ws_connections", "gauge", "Open WebSocket connections per server instance.")
    for inst, value in pop.connections().items():
        lines.append(f'ws_connections{{instance="{inst}"}} {value}')
    family("ws_messages_total", "counter", "WebSocket and long-poll messages handled.")
    for inst, value in zip(INSTANCES, pop.messages_total, strict=True):
        lines.append(f'ws_messages_total{{instance="{inst}"}} {value}')
    family("ws_errors_total", "counter", "Failed handshakes, abnormal closes and failed messages.")
    for inst, value in zip(INSTANCES, pop.errors_total, strict=True):
        lines.append(f'ws_errors_total{{instance="{inst}"}} {value}')
    family("ws_send_queue_depth", "gauge", "Messages waiting in the per-instance send queue.")
    for inst, depth in zip(INSTANCES, pop.queue_depth, strict=True):
        lines.append(f'ws_send_queue_depth{{instance="{inst}"}} {round(depth)}')
    family("clients_by_transport", "gauge", "Connected clients by transport.")
    for transport, value in pop.transports().items():
        lines.append(f'clients_by_transport{{transport="{transport}"}} {value}')
    family("ws_message_latency_seconds", "histogram", "Time from receiving a message to its reply.")
    cumulative = 0
    for bound, count in zip(LATENCY_BUCKETS, pop.bucket_counts, strict=False):
        cumulative += count
        lines.append(f'ws_message_latency_seconds_bucket{{le="{bound}"}} {cumulative}')
    lines.append(f'ws_message_latency_seconds_bucket{{le="+Inf"}} {pop.latency_count}')
    lines.append(f"ws_message_latency_seconds_sum {pop.latency_sum:.6f}")
    lines.append(f"ws_message_latency_seconds_count {pop.latency_count}")
    return "\n".join(lines) + "\n"
