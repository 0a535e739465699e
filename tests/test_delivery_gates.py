"""The progressive-delivery examples (examples/argo-analysistemplate.yaml,
examples/flagger-metrictemplate.yaml) against a real Prometheus scraping two real monitors of
one deployment at two sites: eu-west reaches a server whose handshake takes 120 ms, us-east
finds it refusing connections. Their queries, taken from the YAML with the templates' own
placeholders filled, must judge each site: success rate 1 at eu-west and 0 at us-east, the
handshake p95 in the bucket of the true one; Argo's success conditions and Flagger's worst
site follow from them."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_binary
from tests.hostile import refused_url, slow_handshake_server
from tests.prom_server import free_port, running_prometheus
from tests.test_exporter import bucket_of
from tests.yaml_subset import load_all
from wsmon_tui.config import Config, DeploymentConfig, MonitorConfig, TargetConfig
from wsmon_tui.engine.monitor import Monitor

pytestmark = pytest.mark.prometheus

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEPLOYMENT = "chat-gateway"
WINDOW = "30s"
HANDSHAKE_DELAY = 0.12
"""Seconds the good server waits before its 101: the true handshake is a little over 120 ms,
well inside the (0.1, 0.15] bucket."""


def argo_metrics() -> dict[str, dict[str, Any]]:
    [doc] = load_all((EXAMPLES / "argo-analysistemplate.yaml").read_text(encoding="utf-8"))
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "AnalysisTemplate"
    args = {a["name"]: a.get("value") for a in doc["spec"]["args"]}
    assert args["deployment"] is None and args["window"] == "5m"  # the rollout must say which
    return {m["name"]: m for m in doc["spec"]["metrics"]}


def flagger_queries() -> dict[str, str]:
    docs = load_all((EXAMPLES / "flagger-metrictemplate.yaml").read_text(encoding="utf-8"))
    assert {(d["apiVersion"], d["kind"]) for d in docs} == {("flagger.app/v1beta1", "MetricTemplate")}
    assert all(d["spec"]["provider"]["type"] == "prometheus" for d in docs)
    return {d["metadata"]["name"]: d["spec"]["query"] for d in docs}


def fill(query: str, values: dict[str, str]) -> str:
    """``{{args.x}}`` (Argo) and ``{{ x }}`` (Flagger) filled; every placeholder must be known."""
    def one(match: re.Match[str]) -> str:
        return values[match.group(1)]

    filled = re.sub(r"\{\{\s*([\w.-]+)\s*\}\}", one, query)
    assert "{{" not in filled and "}}" not in filled, filled
    return filled


def gate(condition: str, result: list[float]) -> bool:
    """An Argo successCondition of the form the example uses, evaluated as Argo would."""
    match = re.fullmatch(r"len\(result\) > 0 && all\(result, # (>=|<=) ([0-9.]+)\)", condition)
    assert match is not None, f"the example's condition changed form: {condition!r}"
    op, bound = match.group(1), float(match.group(2))
    return len(result) > 0 and all(v >= bound if op == ">=" else v <= bound for v in result)


def site_config(site: str, url: str) -> Config:
    return Config(monitor=MonitorConfig(level="debug", interval=0.5, site=site),
                  deployment=DeploymentConfig(name=DEPLOYMENT),
                  targets=[TargetConfig(name="chat", url=url, timeout=1.0)])


def by_site(answer: dict[str, Any]) -> dict[str, float]:
    return {r["metric"].get("site", ""): float(r["value"][1]) for r in answer["data"]["result"]}


async def test_the_examples_judge_each_site_on_a_real_prometheus(tmp_path: Path) -> None:
    require_binary("prometheus")
    promtool = require_binary("promtool")
    argo = argo_metrics()
    queries = {f"argo:{name}": fill(m["provider"]["prometheus"]["query"],
                                    {"args.deployment": DEPLOYMENT, "args.window": WINDOW})
               for name, m in argo.items()}
    queries |= {f"flagger:{name}": fill(q, {"target": DEPLOYMENT, "interval": WINDOW})
                for name, q in flagger_queries().items()}
    assert set(queries) == {"argo:websocket-success-rate", "argo:websocket-handshake-p95",
                            "flagger:wsmon-websocket-success-rate", "flagger:wsmon-websocket-handshake-p95"}

    # promtool parses every filled query (as recording rules: the form it checks PromQL in)
    rules = tmp_path / "gates.rules.yml"
    rules.write_text("groups:\n  - name: gates\n    rules:\n" + "".join(
        f"      - record: gate_{i}\n        expr: {json_string(q)}\n"
        for i, q in enumerate(queries.values())))
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, timeout=30,
                             check=False)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()

    ports = {"eu-west": free_port(), "us-east": free_port()}
    answers: dict[str, dict[str, float]] = {}
    scraped = [f"127.0.0.1:{p}" for p in ports.values()]
    with running_prometheus(tmp_path / "prom", extra_targets=scraped) as prom:
        async with slow_handshake_server(HANDSHAKE_DELAY) as good, refused_url() as bad:
            monitors = {"eu-west": Monitor(site_config("eu-west", good), None, metrics_port=ports["eu-west"]),
                        "us-east": Monitor(site_config("us-east", bad), None, metrics_port=ports["us-east"])}
            # they run until Prometheus answers every query for the sites it should (bounded)
            tasks = [asyncio.ensure_future(m.run(90.0)) for m in monitors.values()]
            wanted = {"argo:websocket-success-rate": {"eu-west", "us-east"},
                      "argo:websocket-handshake-p95": {"eu-west"},
                      "flagger:wsmon-websocket-success-rate": {""},
                      "flagger:wsmon-websocket-handshake-p95": {""}}
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and any(
                            set(answers.get(k, {})) != v for k, v in wanted.items()):
                        await asyncio.sleep(0.5)
                        for name, q in queries.items():
                            r = (await client.get(prom.url + "/api/v1/query", params={"query": q})).json()
                            assert r["status"] == "success", r
                            answers[name] = by_site(r)
            finally:
                for m in monitors.values():
                    m.request_stop("test done")
                await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert {k: set(v) for k, v in answers.items()} == wanted, answers
    [chat] = monitors["eu-west"].build_snapshot().targets
    true_p95 = chat.handshake_ms.p95
    # a loaded machine adds to the handshake: the check is that Prometheus agrees, not the figure
    assert true_p95 is not None and HANDSHAKE_DELAY * 1000 <= true_p95 < 500, true_p95
    low, high = bucket_of(true_p95 / 1000)

    success = answers["argo:websocket-success-rate"]
    assert success["eu-west"] >= 0.99 and success["us-east"] == 0.0, success
    p95 = answers["argo:websocket-handshake-p95"]["eu-west"]
    assert low <= p95 <= high, (p95, true_p95)
    # Argo: the success gate fails on us-east alone; the handshake gate passes
    assert not gate(argo["websocket-success-rate"]["successCondition"], list(success.values()))
    assert gate(argo["websocket-success-rate"]["successCondition"], [success["eu-west"]])
    assert gate(argo["websocket-handshake-p95"]["successCondition"], [p95])
    # Flagger: one number, the worst site's
    assert answers["flagger:wsmon-websocket-success-rate"][""] == 0.0
    assert low <= answers["flagger:wsmon-websocket-handshake-p95"][""] <= high


def json_string(text: str) -> str:
    """A query as one YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(" ".join(text.split()))
