"""The fleet face's engine: ``FleetEngine`` answers the seam (``seam.EngineLink``) from a
Prometheus that scrapes every site's monitor and from the Alertmanager they page."""

from wsmon_tui.fleet.engine import FleetEngine

__all__ = ["FleetEngine"]
