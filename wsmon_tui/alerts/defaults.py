"""Each level's default rules, built from its LevelProfile thresholds.

The names are a promise (``rollback.on`` and ``throttle.on`` name them; the config loader
accepts them through ``config.DEFAULT_RULE_NAMES``). A configured rule with the same name
replaces the default; ``[alerts] default_rules = false`` drops them all.

Overlap is deliberate but quiet: when a target is down, TargetDown (critical) is the one
alert people are told about; HighErrorRate and LowSuccessRate on that target are still
evaluated and shown, but inhibited (not notified). When this machine looks offline
(``MonitorOffline``, on the fleet figure ``offline_hosts``), it is the one alert: every
per-target alert is held, "inhibited by MonitorOffline", while it is pending or firing
(``alerts/notify_pass.py``), and pages again as soon as it resolves.

Rate and success rules need evidence before they judge: at least ``levels.min_probes`` probes
in their window (a third of those expected, never fewer than three), then their ``for``.
TargetDown judges the latest probes instead (``consecutive_failures``): it is pending from the
first failed probe, at the start of a session or in the middle of one (a backend dying behind a
proxy), so it holds the rate rules back before their ``for`` can pass, and fires when the
probes go on failing for its ``for`` (half the level's); one success ends the streak.
"""

from __future__ import annotations

from wsmon_tui.alerts.rules import CompiledRule, make_rule
from wsmon_tui.levels import LEVELS, LevelProfile

#: Abnormal closes (in the evaluation window) above which AbnormalCloses fires, per level.
ABNORMAL_CLOSES = {"basic": 5.0, "standard": 3.0, "comprehensive": 1.0, "debug": 0.0}
#: Probes failing in a row that make TargetDown pending: the first failure, so it holds the rate
#: rules back from the tick they could start judging; its ``for`` keeps a blip from paging.
DOWN_AFTER = 1.0
#: Consecutive failed scrapes before ScrapeFailing fires.
SCRAPE_FAILURES = 3.0
#: The alert about the monitor itself: its own network looks gone (``engine/offline.py``).
MONITOR_OFFLINE = "MonitorOffline"
#: Distinct hosts all failing at the network level before MonitorOffline fires.
OFFLINE_HOSTS = 2.0
#: Least time between notifications of one default alert, per level.
COOLDOWN = {"basic": 900.0, "standard": 300.0, "comprehensive": 300.0, "debug": 60.0}


def default_rules(level: str | LevelProfile) -> list[CompiledRule]:
    p = LEVELS[level] if isinstance(level, str) else level
    f = p.alert_for
    common = {"cooldown": COOLDOWN.get(p.name, 300.0), "default": True}
    pct = ".1%"
    return [
        make_rule("TargetDown", "consecutive_failures", ">=", [(DOWN_AFTER, "critical")],
                  for_=f / 2, keep_firing_for=f / 2, require_probes=True,
                  summary="{target}: every probe is failing (the last {value:.0f} in a row)",
                  description="The latest probes of {target} all failed; none has succeeded since.",
                  **common),
        make_rule(MONITOR_OFFLINE, "offline_hosts", ">=", [(OFFLINE_HOSTS, "critical")],
                  for_=f / 2, keep_firing_for=0.0,
                  summary="this machine looks offline: every target, on {value:.0f} hosts, "
                          "fails at the network level",
                  description="Every probed target (at least three) failed every probe in the window "
                              "with a network-level error (refused, dns, timeout) and none connected: "
                              "the monitor's own network (VPN, Wi-Fi) is the likely cause, or every "
                              "target is down at once. Per-target alerts are held while this fires.",
                  **common),
        make_rule("HighErrorRate", "error_rate", ">",
                  [(p.error_rate[0], "warning"), (p.error_rate[1], "critical")],
                  for_=f, keep_firing_for=f, inhibited_by=("TargetDown",),
                  summary=f"{{target}}: probe error rate {{value:{pct}}} over {{probes}} probes in "
                          f"{{span}} s, above {{threshold:{pct}}}",
                  **common),
        make_rule("LowSuccessRate", "probe_success_rate", "<", [(1.0 - p.error_rate[0], "warning")],
                  window=4 * p.window, aggregate="avg", for_=f, keep_firing_for=f,
                  inhibited_by=("TargetDown", "HighErrorRate"),
                  summary=f"{{target}}: probe success {{value:{pct}}} over {{probes}} probes in {{span}} s, "
                          f"below {{threshold:{pct}}}",
                  description="A slow burn: the success rate has stayed low over a long window.",
                  **common),
        make_rule("SlowHandshake", "handshake_p95", ">",
                  [(p.handshake_p95_ms[0], "warning"), (p.handshake_p95_ms[1], "critical")],
                  for_=f, keep_firing_for=f,
                  summary="{target}: handshake p95 {value:.0f} ms above {threshold:.0f} ms", **common),
        make_rule("SlowRoundTrip", "rtt_p95", ">",
                  [(p.rtt_p95_ms[0], "warning"), (p.rtt_p95_ms[1], "critical")],
                  for_=f, keep_firing_for=f,
                  summary="{target}: round-trip p95 {value:.0f} ms above {threshold:.0f} ms", **common),
        make_rule("AbnormalCloses", "abnormal_closes", ">", [(ABNORMAL_CLOSES.get(p.name, 3.0), "warning")],
                  for_=f, keep_firing_for=f,
                  summary="{target}: {value:.0f} abnormal closes in the window, probes and held "
                          "connection (more than {threshold:.0f})",
                  **common),
        make_rule("QueueBackpressure", "queue_depth", ">",
                  [(p.queue_depth[0], "warning"), (p.queue_depth[1], "critical")],
                  for_=f, keep_firing_for=f,
                  summary="{target}: send queue depth {value:.0f} above {threshold:.0f} (backpressure)",
                  **common),
        make_rule("ConnectionUtilisation", "connection_utilisation", ">",
                  [(p.connection_utilisation[0], "warning"), (p.connection_utilisation[1], "critical")],
                  for_=f, keep_firing_for=f,
                  summary=f"{{target}}: {{value:{pct}}} of the connection limit in use "
                          f"(above {{threshold:{pct}}})", **common),
        make_rule("InstanceImbalance", "imbalance", ">", [(p.imbalance, "warning")],
                  for_=f, keep_firing_for=f,
                  summary="{target}: busiest instance holds {value:.2f}x the mean connections "
                          "(above {threshold:.2f}x)", **common),
        make_rule("AdoptionDrop", "adoption", "<", [(p.adoption_drop, "warning")],
                  relative_baseline=p.window, for_=f, keep_firing_for=f,
                  summary=f"{{target}}: WebSocket adoption at {{value:{pct}}} of its baseline "
                          f"(below {{threshold:{pct}}})", **common),
        make_rule("ScrapeFailing", "scrape_errors", ">=", [(SCRAPE_FAILURES, "warning")],
                  keep_firing_for=0.0,
                  summary="{target}: {value:.0f} metrics scrapes in a row failed", **common),
        make_rule("HostCPU", "cpu_percent", ">",
                  [(p.cpu_percent[0], "warning"), (p.cpu_percent[1], "critical")],
                  for_=f, keep_firing_for=f,
                  summary="host CPU {value:.0f}% above {threshold:.0f}%", **common),
        make_rule("HostMemory", "memory_percent", ">",
                  [(p.memory_percent[0], "warning"), (p.memory_percent[1], "critical")],
                  for_=f, keep_firing_for=f,
                  summary="host memory {value:.0f}% above {threshold:.0f}%", **common),
        make_rule("BaselineDegradation", "baseline_degradation", ">=", [(1.0, "warning")],
                  for_=f, keep_firing_for=f,
                  summary="{target}: worse than its baseline (handshake p95 or error rate)", **common),
    ]


def default_rule_names() -> frozenset[str]:
    return frozenset(r.name for r in default_rules("standard"))
