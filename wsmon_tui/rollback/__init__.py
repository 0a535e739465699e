"""Rollback, throttling, feature flags and rollout tracking (engine layer, no UI imports).

flags: providers (file, http); steps: http/command/flag steps; controller: policy,
verification (on controller_state, execution, throttle, rollout); audit: the rollback_
tables and the report queries.
"""
