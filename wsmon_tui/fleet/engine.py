"""``FleetEngine``: the seam (``seam.EngineLink``) over every site at once, read from the
Prometheus that scrapes the sites' monitors and the Alertmanager they page.

Each refresh it asks Prometheus the queries of ``promql`` (concurrently) and Alertmanager
for its alerts and silences, and publishes one ``Snapshot``: a target row per (target, site),
named ``target@site`` (``deployment/target@site`` when several deployments are scraped), worst
first. Commands act on Alertmanager: a silence is an Alertmanager silence, an acknowledgement a
short silence (``[fleet] ack_duration``) with ``ACK:`` before the comment. What the fleet
cannot answer is said: rolling back refuses (a rollback belongs to the site's monitor), the
report and deliveries are the sites', and the figures nobody exports are listed in
``Snapshot.not_recorded``.

``[fleet] recording_rules`` picks where the windowed figures come from: the recorded series of
``examples/prometheus/wsmon-fleet-rules.yml`` ("recorded") or the raw ``rate``/``increase``
over the buckets ("raw"). With ``"auto"`` one cheap query at the start, and again every
``RULES_RECHECK`` seconds (or at once when the recorded series stop answering), says whether
Prometheus holds them for the window; the header and the notes name the mode in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from wsmon_tui.errors import ReadOnlyError, WsmonError
from wsmon_tui.fleet import alertmanager as am
from wsmon_tui.fleet.promql import (
    RULES_FILE,
    Key,
    Row,
    duration,
    queries,
    recorded_names,
    recorded_probe,
    rows,
)
from wsmon_tui.model import AlertView, DeploymentView, Percentiles, Snapshot, Status, TargetView
from wsmon_tui.seam import Points, RangeRequest, RuleInfo

if TYPE_CHECKING:
    from wsmon_tui.config import Config

NOT_EXPORTED = ("performance_score", "instances", "hold", "scrape_errors", "baseline", "pending_alerts")
"""What a monitor does not export to Prometheus: the views say so instead of showing zeros."""
STATUS_RANK = {Status.CRITICAL: 0, Status.DEGRADED: 1, Status.UNKNOWN: 2, Status.HEALTHY: 3}
FLEET_NOTE = "fleet: performance, instances, held connections, scrape errors, baselines: not exported"
ROLLBACK_REFUSED = "the fleet view cannot roll back; roll back at the site's monitor"
RULES_RECHECK = 300.0
"""Seconds between two looks for the recorded series (``[fleet] recording_rules = "auto"``)."""

RANGE_QUERIES = {
    **{f"{k}_p{q}": f"1000 * histogram_quantile(0.{q}, sum by (le) (rate(wsmon_probe_{k}_seconds_bucket"
                    "{{{sel}}}[{step}])))" for k in ("handshake", "rtt") for q in ("50", "95", "99")},
    "probe_success_rate": 'sum(increase(wsmon_probes_total{{{sel},result="success"}}[{step}])) / '
                          "sum(increase(wsmon_probes_total{{{sel}}}[{step}]))",
    "error_rate": 'sum(increase(wsmon_probes_total{{{sel},result="failure"}}[{step}])) / '
                  "sum(increase(wsmon_probes_total{{{sel}}}[{step}]))",
    "health_score": "max(wsmon_health_score{{{sel}}})",
}
"""Canonical metric → range query of one row (``sel``: its label matchers)."""


class FleetUnsupported(WsmonError):
    """Something only a site's own monitor can do (exit 1)."""

    exit_code = 1


def row_status(row: Row) -> str:
    """A row's state from what is exported: no probe in the window is unknown, none succeeding is
    critical; else the monitor's health score (below 50 critical, below 80 degraded)."""
    if row.success + row.failure <= 0:
        return Status.UNKNOWN
    if row.success <= 0:
        return Status.CRITICAL
    if row.health is None:
        return Status.HEALTHY if row.failure == 0 else Status.DEGRADED
    return Status.CRITICAL if row.health < 50 else Status.DEGRADED if row.health < 80 else Status.HEALTHY


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _pct(values: dict[str, float | None]) -> Percentiles:
    return Percentiles(values.get("p50"), values.get("p95"), values.get("p99"))


class FleetEngine:
    """``FleetEngine(config, refresh=1.0)``: implements ``seam.EngineLink`` over ``[fleet]``."""

    def __init__(self, config: Config, *, refresh: float | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.state_dir: Path | None = None
        fleet = config.fleet
        if not fleet.prometheus:
            raise WsmonError("[fleet] prometheus is not set: the fleet view reads every site from it")
        self.prometheus = fleet.prometheus.rstrip("/")
        self.alertmanager = (fleet.alertmanager or "").rstrip("/")
        self.refresh = refresh if refresh is not None else config.ui.refresh
        self._transport = transport
        self._read_only = False
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._stop_reason: str | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._names: dict[str, Key] = {}
        self._tick = 0
        self._window = duration(fleet.window)
        self._missing: tuple[str, ...] | None = None
        """Recorded series Prometheus did not hold at the last look (None: not looked yet)."""
        self._look_at = 0.0
        self.mode: str | None = None
        """ "recorded" or "raw": where the last refresh's windowed figures came from."""
        self.latest: Snapshot | None = None
        self.bytes_read = 0
        """Response bytes read from both sources since the start (what the benchmark reports)."""

    # -- identity ---------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return "fleet"

    @property
    def attached_to(self) -> str:
        """The header's "attached to FLEET · prom host:port · am host:port"."""
        parts = ["FLEET", f"prom {urlsplit(self.prometheus).netloc}"]
        if self.alertmanager:
            parts.append(f"am {urlsplit(self.alertmanager).netloc}")
        if self.mode:
            parts.append(self.mode)
        return " · ".join(parts)

    @property
    def acting(self) -> bool:
        """The fleet view probes, pages and rolls back nothing: the sites' monitors do."""
        return False

    @property
    def read_only(self) -> bool:
        return self._read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self._read_only = bool(value)

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(callback)
        if self.latest is not None:
            callback(self.latest)

    # -- polling ----------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            fleet = self.config.fleet
            self._client = httpx.AsyncClient(timeout=fleet.timeout, transport=self._transport,
                                             headers=dict(fleet.headers))
        return self._client

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._http().get(url, params=params)
        self.bytes_read += len(response.content)
        response.raise_for_status()
        return response.json()

    async def _query(self, query: str, at: float) -> list[dict[str, Any]]:
        answer = await self._get(self.prometheus + "/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        if answer.get("status") != "success":
            raise WsmonError(f"prometheus: {answer.get('error', 'query failed')}")
        result = answer["data"]["result"]
        return list(result) if isinstance(result, list) else []

    async def _recorded(self, at: float, notes: list[str]) -> bool:
        """Whether this refresh reads the recorded series, with a note saying which mode and why."""
        setting = self.config.fleet.recording_rules
        window = self._window
        if setting is False:
            notes.append(f"fleet: raw queries over {window} ([fleet] recording_rules = false)")
            return False
        now = time.monotonic()
        if self._missing is None or now >= self._look_at:
            with contextlib.suppress(httpx.HTTPError, WsmonError, ValueError, KeyError, TypeError):
                found = await self._query(recorded_probe(window), at)
                self._missing = () if found else (recorded_names(window)["probes"],)
                self._look_at = now + RULES_RECHECK
        missing = self._missing
        if setting is True:
            if missing:
                notes.append(f"fleet: [fleet] recording_rules = true but Prometheus holds no "
                             f"{', '.join(missing)}: load {RULES_FILE} (its window is {window}'s)")
            else:
                notes.append(f"fleet: recorded series ({window}) from {RULES_FILE}")
            return True
        if missing is None or missing:
            notes.append(f"fleet: raw queries over {window} (no recorded series for {window}: "
                         f"{RULES_FILE} makes them)")
            return False
        notes.append(f"fleet: recorded series ({window}) from {RULES_FILE}")
        return True

    async def poll(self) -> Snapshot:
        """Ask both sources once and publish the Snapshot they make."""
        notes: list[str] = []
        at = time.time()  # every query evaluated at this one instant: a row's figures agree
        recorded = await self._recorded(at, notes)
        wanted = queries(self._window, recorded=recorded)
        answers: dict[str, list[dict[str, Any]]] = {}
        results = await asyncio.gather(*(self._query(q, at) for q in wanted.values()), return_exceptions=True)
        for name, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                notes.append(f"prometheus {self.prometheus}: {_reason(result)}")
                break
            answers[name] = result
        if recorded and len(answers) == len(wanted) and not answers["probes"]:
            self._look_at = 0.0  # the rules went away (or never ran): look again next refresh
        self.mode = "recorded" if recorded else "raw"
        alerts: list[AlertView] = []
        if self.alertmanager:
            try:
                got = await asyncio.gather(
                    self._get(self.alertmanager + "/api/v2/alerts",
                              {"active": "true", "silenced": "true", "inhibited": "true"}),
                    self._get(self.alertmanager + "/api/v2/silences"))
                live = [s for s in got[1] if (s.get("status") or {}).get("state") == "active"]
                alerts = am.group_alerts(got[0], live)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                notes.append(f"alertmanager {self.alertmanager}: {_reason(exc)}")
        else:
            notes.append("no [fleet] alertmanager: alerts are not shown")
        notes.append(FLEET_NOTE)
        snap = self._snapshot(rows(answers) if len(answers) == len(wanted) else {}, alerts, notes, at)
        self.latest = snap
        for callback in list(self._subscribers):
            callback(snap)
        return snap

    def _snapshot(self, found: dict[Key, Row], alerts: list[AlertView], notes: list[str],
                  at: float) -> Snapshot:
        deployments = {k[0] for k in found}
        names: dict[str, Key] = {}
        views: list[TargetView] = []
        for key, row in found.items():
            dep, target, site = key
            name = (f"{dep}/" if len(deployments) > 1 else "") + target + (f"@{site}" if site else "")
            names[name] = key
            probes = row.success + row.failure
            success = row.success / probes if probes > 0 else None
            views.append(TargetView(
                name=name, url="", status=row_status(row), health_score=row.health, probes=round(probes),
                success_rate=success, error_rate=None if success is None else 1.0 - success,
                handshake_ms=_pct(row.handshake_ms), rtt_ms=_pct(row.rtt_ms), errors=dict(row.errors),
                close_codes=dict(row.close_codes), http_statuses=dict(row.http_statuses)))
        views.sort(key=lambda v: (STATUS_RANK.get(Status(v.status), 2),
                                  v.health_score if v.health_score is not None else 101.0,
                                  v.success_rate if v.success_rate is not None else 2.0, v.name))
        self._names = names
        self._tick += 1
        scores = [v.health_score for v in views if v.health_score is not None]
        status = Status(views[0].status) if views else Status.UNKNOWN
        cfg = self.config
        return Snapshot(taken_at=at, tick=self._tick, session_id=self.session_id,
                        deployment=DeploymentView(name=", ".join(sorted(deployments)) or cfg.deployment.name),
                        level=cfg.monitor.level, interval=self.refresh, status=status,
                        health_score=min(scores) if scores else None, targets=tuple(views),
                        alerts=tuple(alerts), notes=tuple(notes),
                        overall={"health_score": min(scores) if scores else None}, not_recorded=NOT_EXPORTED)

    async def run(self, duration: float | None = None) -> str:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        ends_at = None if duration is None else time.monotonic() + duration
        try:
            while self._stop_reason is None:
                started = time.monotonic()
                await self.poll()
                took = time.monotonic() - started
                # a refresh slower than the interval is not sent back to back: Prometheus is
                # left idle by this view at least as long as it was kept busy
                wait = max(self.refresh - took, took)
                if ends_at is not None:
                    left = ends_at - time.monotonic()
                    if left <= 0:
                        self._stop_reason = "duration"
                        break
                    wait = min(wait, left)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            await self.close()
        return self._stop_reason or "user"

    def request_stop(self, reason: str = "user") -> None:
        self._stop_reason = self._stop_reason or reason
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- commands: on Alertmanager ----------------------------------------------------------------

    def _need_am(self, what: str) -> str:
        if self._read_only:
            raise ReadOnlyError(f"read-only: {what} is not possible")
        if not self.alertmanager:
            raise FleetUnsupported(f"{what} needs [fleet] alertmanager")
        return self.alertmanager

    async def _post_silence(self, body: dict[str, Any]) -> str:
        url = self._need_am("silencing") + "/api/v2/silences"
        try:
            response = await self._http().post(url, json=body)
        except httpx.HTTPError as exc:
            raise FleetUnsupported(f"alertmanager {self.alertmanager}: {_reason(exc)}") from None
        if response.status_code >= 400:
            raise FleetUnsupported(f"alertmanager refused the silence: HTTP {response.status_code} "
                                   f"{response.text[:200]!r}")
        return str(response.json().get("silenceID", ""))

    async def refresh_now(self) -> Snapshot:
        return await self.poll()

    def _alert(self, alert_id: str) -> AlertView | None:
        snap = self.latest
        return next((a for a in snap.alerts if a.id == alert_id), None) if snap is not None else None

    async def acknowledge(self, alert_id: str, user: str, comment: str = "") -> AlertView:
        """A silence of ``ack_duration`` on (alertname, target), every site, by ``user``."""
        name, target = am.split_group(alert_id)
        now = time.time()
        self._need_am("acknowledging")
        await self._post_silence(am.silence_body(
            alertname=name, target=target, site=None, starts=now, ends=now + self.config.fleet.ack_duration,
            user=user, comment=am.ACK_PREFIX + (comment or "acknowledged")))
        snap = await self.poll()
        found = next((a for a in snap.alerts if a.id == alert_id), None)
        if found is None:
            raise FleetUnsupported(f"no alert {alert_id!r} in Alertmanager (acknowledged anyway)")
        return found

    async def unacknowledge(self, alert_id: str, user: str) -> AlertView:
        """Expire the acknowledgement silences of this alert."""
        name, target = am.split_group(alert_id)
        base = self._need_am("taking back an acknowledgement")
        silences = await self._get(base + "/api/v2/silences")
        want = {("alertname", name), ("target", target)}
        for s in silences:
            got = {(m.get("name"), m.get("value")) for m in s.get("matchers", [])}
            if (s.get("status") or {}).get("state") == "active" and got == want \
                    and str(s.get("comment", "")).startswith(am.ACK_PREFIX.strip()):
                await self._http().delete(f"{base}/api/v2/silence/{s['id']}")
        snap = await self.poll()
        found = next((a for a in snap.alerts if a.id == alert_id), None)
        if found is None:
            raise FleetUnsupported(f"no alert {alert_id!r} in Alertmanager")
        return found

    async def silence(self, *, rule: str, target: str | None, duration: float, comment: str,
                      user: str) -> Any:
        """An Alertmanager silence of ``rule`` (on ``target``; a row's or an alert's
        ``target@site`` silences that site only, ``target@site1,site2`` every site); returns the
        silence id."""
        site: str | None = None
        if target and target in self._names:
            _dep, target, site = self._names[target]
        elif target and "@" in target:
            target, _, sites = target.rpartition("@")
            site = sites if "," not in sites else None
        now = time.time()
        return await self._post_silence(am.silence_body(alertname=rule, target=target, site=site or None,
                                                        starts=now, ends=now + duration, user=user,
                                                        comment=comment))

    async def rollback(self, *, reason: str, user: str, dry_run: bool = False) -> Any:
        raise FleetUnsupported(ROLLBACK_REFUSED)

    # -- history: what Prometheus holds ------------------------------------------------------------

    async def metric_ranges(self, wanted: Sequence[RangeRequest], since: float,
                            until: float) -> dict[RangeRequest, Points]:
        """Each row's percentiles, success and error rates and health score over the range, from
        ``query_range``; other metrics are not exported, so their series are empty."""
        step = max(15.0, (until - since) / 240)
        out: dict[RangeRequest, Points] = {}
        for w in wanted:
            template = RANGE_QUERIES.get(w.metric)
            key = self._names.get(w.target)
            if template is None or (w.target and key is None):
                out[w] = []
                continue
            labels = zip(("deployment", "target", "site"), key or ("", "", ""), strict=True)
            sel = ",".join(f'{k}="{_escape(v)}"' for k, v in labels if v) or 'deployment!=""'
            query = template.format(sel=sel, step=f"{max(int(step), 1) * 4}s")
            try:
                answer = await self._get(self.prometheus + "/api/v1/query_range",
                                         {"query": query, "start": since, "end": until, "step": step})
                series = answer["data"]["result"]
                values = series[0]["values"] if series else []
                out[w] = [(float(t), float(v)) for t, v in values if v not in ("NaN", "+Inf", "-Inf")]
            except (httpx.HTTPError, ValueError, KeyError, IndexError):
                out[w] = []
        return out

    async def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """Alertmanager does not say what it delivered: nothing to list (each site's monitor does)."""
        return []

    async def rule_info(self, name: str) -> RuleInfo | None:
        return None

    async def rules(self) -> list[RuleInfo]:
        """The sites' rules live in their monitors: no threshold lines in the fleet view."""
        return []

    async def report(self, fmt: str = "md", since: float | None = None) -> str:
        raise FleetUnsupported("the fleet view writes no report; each site's monitor writes its own")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return str(exc) or type(exc).__name__
