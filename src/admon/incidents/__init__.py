"""Incidents: consecutive or overlapping anomalous windows of one entity and group, merged.

:func:`merge_window` is pure: given the entity's open incidents and one window's results,
it returns the incident changes; the runner applies them in the run's one commit
(:mod:`admon.registry.incidents`) and queues the state changes as ``anomaly_incident``
documents (:func:`incident_document`). Incidents of several groups of one entity that broke in the
same windows are linked as one cross-group incident (:func:`cross_group_links`).
"""

from admon.incidents.links import CrossGroupIncident, cross_group_links
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
    merge_late_window,
    merge_window,
    window_results,
)

__all__ = [
    "CrossGroupIncident", "cross_group_links", "DEFAULT_QUIET_WINDOWS", "INCIDENT_DOCUMENT_TYPE", "OPEN", "RESOLVED", "UPDATED", "Incident",
    "IncidentChange", "WindowResult", "group_id", "incident_document", "incident_id", "incident_state_id", "merge_late_window", "merge_window",
    "window_results",
]
