'''The text ``wsmon-tui config init`` writes: a commented starting config.

It loads and checks in a clean environment (``config check`` gives only PASS and WARN):
everything that needs a secret is commented out and shows the ``${NAME}`` to use.
Durations are written like ``30s``, ``5m``, ``4h``, ``2d``; a bare number is seconds.
'''

TEMPLATE = """\
# wsmon-tui config. Check it with: wsmon-tui config check wsmon.toml
# Searched in this order: --config, $WSMON_CONFIG, ./wsmon.toml, $XDG_CONFIG_HOME/wsmon-tui/config.toml
#
# Durations: "30s", "5m", "4h", "2d" (a bare number is seconds).
# Secrets: write "${NAME}" and set NAME in the environment; "$${X}" is a literal "${X}".
# Also honoured from the environment: WEBSOCKET_MONITORING_LEVEL, WEBSOCKET_ALERT_WEBHOOK_URL,
# WEBSOCKET_ALERT_EMAIL_ENABLED + WEBSOCKET_ALERT_SMTP_SERVER + WEBSOCKET_ALERT_EMAIL_RECIPIENTS.

[monitor]
level = "standard"           # basic (60s, relaxed) | standard (30s) | comprehensive (10s) | debug (5s)
# interval = "30s"           # seconds between probes of a target; default from the level
max_concurrency = 100        # most probes in flight at once
retention_raw = "1d"         # how long raw samples are kept
retention = "7d"             # how long 1-minute rollups are kept
# state_dir = "/var/lib/wsmon-tui"   # history; default $XDG_STATE_HOME/wsmon-tui (--state-dir wins)
# site = "eu-west"          # where this monitor probes from: a site label on /metrics and alerts;
                             # monitors of one site send identical alerts (Alertmanager dedups them)

[deployment]
name = "chat-gateway"        # the deployment being watched
version = "2.4.0"            # the version rolling out
previous_version = "2.3.1"   # the version a rollback returns to
# connection_limit = 50000   # connections the fleet can hold; gives connection_utilisation

# One [[targets]] per endpoint to probe. name must be unique.
[[targets]]
name = "primary"
url = "wss://ws.example.com/socket"     # ws:// or wss://
send = '{"type": "ping", "id": "{nonce}"}'   # sent after the handshake; {nonce} is filled per probe
expect = "{nonce}"           # substring the reply must contain, or "re:<regex>"
ping = true                  # also measure a protocol ping/pong round trip
hold = false                 # keep one long-lived connection and count its drops
timeout = "10s"              # longest a probe may take
verify_tls = true            # verify the server certificate (wss)
# ca_file = "/etc/ssl/internal-ca.pem"
# origin = "https://app.example.com"
# subprotocols = ["chat.v2"]
# headers = { Authorization = "Bearer ${WS_PROBE_TOKEN}" }
# metrics_url = "https://ws.example.com/metrics"   # the server's own metrics (http:// or https://)
# metrics_format = "prometheus"                   # prometheus | json

# Selectors into the servers' metrics: name{label="v"} summed over matches, or "A / B".
# For metrics_format = "json" they are dotted paths into the document.
[metrics]
# connections = "websocket_connections_active"
# messages = "websocket_messages_total"           # counter; shown as messages_per_s
# errors = "websocket_errors_total"               # counter; server_error_rate = errors / messages
# queue_depth = "websocket_send_queue_depth"
# adoption = "clients_total{transport=\\"websocket\\"} / clients_total"
# latency_histogram = "websocket_message_duration_seconds"   # gives server_latency_ms (p95)
instance_label = "instance"  # label that names a server instance

# Fleet-wide figures from a Prometheus server (optional).
[prometheus]
# url = "https://prometheus.example.com"
# queries = { connections = "sum(websocket_connections_active)" }   # canonical metric = PromQL
# headers = { Authorization = "Bearer ${PROMETHEUS_TOKEN}" }
verify_tls = true
timeout = "10s"

[resources]
host = true                  # sample host CPU, memory and load
# process = "gateway"        # a process to watch, by name or pid
# port = 8443                # count TCP connections on this local port

[baseline]
window = "5m"                # the first part of a session that forms the baseline
ratio = 2.0                  # worse than baseline by this factor counts as degraded
source = "session"           # session | previous_version

[alerts]
default_rules = true         # the level's default rules (HighErrorRate, SlowHandshake, ...)
escalate_after = "15m"       # escalate an unacknowledged firing alert after this long
# ack_timeout = "1h"         # re-notify an acknowledged alert still firing after this long
send_resolved = true

# Your own rules. metric is a canonical name (probe_success_rate, error_rate, handshake_p95,
# rtt_p95, connections, queue_depth, server_error_rate, cpu_percent, health_score, ...).
[[alerts.rules]]
name = "HandshakeVerySlow"
metric = "handshake_p95"
op = ">"                     # > >= < <= == !=
threshold = 2500             # milliseconds for *_ms and *_p95; rates are 0-1; percents 0-100
for = "2m"                   # condition must hold this long before firing
keep_firing_for = "1m"       # stays firing this long after it clears
window = "5m"                # judge the metric over this window
aggregate = "p95"            # last | avg | min | max | p95
severity = "critical"        # info | warning | critical
cooldown = "5m"              # least time between notifications of one alert
summary = "{target}: handshake p95 {value} ms > {threshold} ms"
description = "Clients take too long to connect."
runbook = "https://runbooks.example.com/websocket/slow-handshake"
labels = { team = "realtime" }
# targets = ["primary"]      # only these targets (default all)
# channels = ["oncall"]      # only these channels, by name (default all)

# Where alerts go. Uncomment one or more; each needs its secret in the environment.
# [[alerts.channels]]
# type = "slack"             # webhook | slack | email | file | alertmanager | pagerduty
# name = "team-slack"        # used by rules' channels filter; default the type
# url = "${SLACK_WEBHOOK_URL}"
# min_severity = "warning"   # least severity sent
# rate_limit = "10/m"        # most notifications per period (N/s, N/m, N/h); the rest summarised
# timeout = "10s"
# max_age = "1h"             # give up on a notification this old
# escalation = false         # receives escalated alerts
# verify_tls = true
# headers = { "X-Source" = "wsmon-tui" }
#
# [[alerts.channels]]
# type = "pagerduty"
# name = "oncall"
# routing_key = "${PAGERDUTY_ROUTING_KEY}"
# min_severity = "critical"
# escalation = true
#
# [[alerts.channels]]
# type = "email"
# smtp_server = "smtp.example.com:587"   # host:port
# sender = "wsmon-tui@example.com"
# recipients = ["oncall@example.com"]
# starttls = true
# username = "wsmon"
# password = "${SMTP_PASSWORD}"
#
# [[alerts.channels]]
# type = "file"
# path = "alerts.jsonl"      # JSON lines, one per notification
#
# [[alerts.channels]]
# type = "alertmanager"
# url = "https://alertmanager.example.com"

# Quiet periods: alerts still show, nobody is notified.
# [[alerts.maintenance]]
# start = "02:00"            # ISO 8601 time, or "HH:MM" with every
# duration = "1h"
# every = "1d"
# timezone = "Europe/Berlin"
# comment = "nightly batch"

[rollback]
auto = false                 # true | false | "ask" (recommend, and roll back after confirmation)
on = ["HighErrorRate", "HandshakeVerySlow"]   # rule names whose firing triggers a rollback
# health_below = 40          # overall health score that triggers a rollback
for = "1m"                   # how long health must stay below health_below
max_auto = 1                 # automatic rollbacks per deployment version
cooldown = "10m"             # least time between rollbacks
verify_window = "5m"         # time allowed for health to recover
verify_successes = 3         # consecutive healthy evaluations that verify it
dry_run = false              # log the steps, run nothing

# Steps run in order. type = http | command | flag.
# [[rollback.steps]]
# type = "http"
# name = "deploy-api"
# method = "POST"
# url = "https://deploy.example.com/api/rollback"
# headers = { Authorization = "Bearer ${DEPLOY_TOKEN}" }
# json = { service = "chat-gateway", to = "2.3.1" }   # or body = "..."
# expect_status = [200, 202]  # default any 2xx
# verify_tls = true
# timeout = "30s"
# continue_on_error = false
#
# [[rollback.steps]]
# type = "command"           # never a shell: argv is a list
# argv = ["kubectl", "rollout", "undo", "deployment/chat-gateway"]
# env = { KUBECONFIG = "/etc/wsmon/kubeconfig" }
# cwd = "/srv/deploy"
# timeout = "2m"
#
# [[rollback.steps]]
# type = "flag"
# name = "websocket_transport"   # the flag's name
# enabled = false
# rollout = 0                    # percent 0-100

[throttle]
# on = ["QueueBackpressure"] # rule names that trigger throttling
cooldown = "5m"
# [[throttle.steps]]         # like [[rollback.steps]]
# type = "flag"
# name = "websocket_transport"
# rollout = 25

[flags]
# provider = "http"          # file | http
# path = "flags.json"        # file: JSON flag file
# url = "https://flags.example.com/api/flags"   # http: GET lists, PUT url/{name} sets
# headers = { Authorization = "Bearer ${FLAGS_TOKEN}" }
verify_tls = true
rollout_flag = "websocket_enabled"   # the flag whose rollout percent is tracked as the deployment's rollout

[ui]
theme = "wsmon-dark"
refresh = "1s"               # seconds between repaints
# keymap = { acknowledge = "a" }   # binding id = key

# The fleet view, `wsmon-tui --fleet`: every site at once (docs/fleet.md).
[fleet]
# prometheus = "http://prometheus.example.com:9090"     # scrapes every site's monitor --metrics-port
# alertmanager = "http://alertmanager.example.com:9093"  # the monitors' alertmanager channel
window = "5m"                # rates and percentiles are taken over this window
recording_rules = "auto"     # "auto" | true | false: examples/prometheus/wsmon-fleet-rules.yml's series
ack_duration = "15m"         # an acknowledgement is an Alertmanager silence this long
# headers = { Authorization = "Bearer ${FLEET_TOKEN}" }  # sent to both
timeout = "10s"
"""
