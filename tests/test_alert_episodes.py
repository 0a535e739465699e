"""An alert's episodes as faces see them: each occurrence of one fingerprint told apart, and the
value it fired at kept beside the value it has now (real engine, real SQLite database)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.test_alert_engine import World, err_rule, make_config, new
from wsmon_tui.alerts.engine import AlertEngine


@pytest.fixture
def engines():
    made: list[AlertEngine] = []
    yield made
    for e in made:
        e.close()


def test_a_resolved_episode_and_the_next_one_are_two_episodes_of_one_fingerprint(clock, db_path, engines):
    eng = new(engines, make_config(err_rule()), db_path, clock)
    w = World(clock)
    views, _ = w.run(eng, error_rate=0.5)
    eng.acknowledge(views[0].id, "root", "rolled the canary back")
    clock.advance(10)
    w.run(eng, error_rate=0.0)  # resolved, with its ack
    clock.advance(10)
    views, _ = w.run(eng, error_rate=0.4)  # fires again: a new episode, not acknowledged
    assert len({v.id for v in views}) == 1 and len({v.episode for v in views}) == 2
    by_state = {v.state: v for v in views}
    assert by_state["resolved"].acknowledged_by == "root"
    assert by_state["resolved"].ack_comment == "rolled the canary back"
    assert by_state["firing"].acknowledged_by is None


def test_the_value_it_fired_at_is_kept_after_it_resolves_and_across_a_restart(clock, db_path):
    cfg = make_config(err_rule(keep_firing_for=0.0))
    eng = AlertEngine(cfg, db_path, clock=clock)
    w = World(clock)
    try:
        views, _ = w.run(eng, error_rate=0.3)
        assert views[0].fired_value == 0.3 and views[0].metric == "error_rate"
        clock.advance(10)
        views, _ = w.run(eng, error_rate=0.6)  # worse while firing: the value moves on
        assert (views[0].value, views[0].fired_value) == (0.6, 0.3)
        clock.advance(10)
        views, _ = w.run(eng, error_rate=0.0)
        assert views[0].state == "resolved"
        assert (views[0].value, views[0].fired_value, views[0].threshold) == (0.0, 0.3, 0.1)
    finally:
        eng.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT metric, fired_value, value FROM alert_alerts").fetchall() == [
            ("error_rate", 0.3, 0.0)]
    again = AlertEngine(cfg, db_path, clock=clock)
    try:
        (stored,) = again.alerts("resolved")
        assert (stored.metric, stored.fired_value, stored.value) == ("error_rate", 0.3, 0.0)
    finally:
        again.close()


def test_an_older_state_dir_gains_the_columns_and_its_rows_read_without_them(clock, db_path):
    """A table written before ``metric`` and ``fired_value`` existed: opened writable it gets
    them (empty for the old rows), and its alerts read as of unknown metric, fired value unknown."""
    eng = AlertEngine(make_config(err_rule()), db_path, clock=clock)
    w = World(clock)
    w.run(eng, error_rate=0.5)
    eng.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP INDEX alert_alerts_one_active")
        conn.execute("ALTER TABLE alert_alerts DROP COLUMN metric")
        conn.execute("ALTER TABLE alert_alerts DROP COLUMN fired_value")
    again = AlertEngine(make_config(err_rule()), db_path, clock=clock)
    try:
        (alert,) = again.alerts()
        assert (alert.state, alert.metric, alert.fired_value) == ("firing", "", None)
        clock.advance(10)
        views, _ = w.run(again, error_rate=0.5)
        assert (views[0].value, views[0].metric) == (0.5, "error_rate")  # judged again: its rule's metric
    finally:
        again.close()
