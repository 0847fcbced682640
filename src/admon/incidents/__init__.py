"""Incidents: consecutive or overlapping anomalous windows of one entity and group, merged.

:func:`merge_window` is pure: given the entity's open incidents and one window's results,
it returns the incident changes; the runner applies them in the run's one commit
(:mod:`admon.registry.incidents`) and queues the state changes as ``anomaly_incident``
documents (:func:`incident_document`).
"""

from admon.incidents.merge import (
    DEFAULT_QUIET_WINDOWS,
    INCIDENT_DOCUMENT_TYPE,
    OPEN,
    RESOLVED,
    UPDATED,
    Incident,
    IncidentChange,
    WindowResult,
    group_id,
    incident_document,
    incident_id,
    incident_state_id,
    merge_window,
    window_results,
)

__all__ = [
    "DEFAULT_QUIET_WINDOWS", "INCIDENT_DOCUMENT_TYPE", "OPEN", "RESOLVED", "UPDATED", "Incident",
    "IncidentChange", "WindowResult", "group_id", "incident_document", "incident_id", "incident_state_id", "merge_window",
    "window_results",
]
