"""Issue 15, part 2: a normal result document carries no severity and names no features."""

from __future__ import annotations

from admon.sinks.documents import build_document


def _doc(is_anomaly: bool) -> dict:
    return build_document(entity_id=1, entity_title="e", project_id=1, model_id="m", run_id=1,
                          monit_producer="admon", monit_label={}, group_key={"host": "h1"},
                          window_start_ms=0, window_end_ms=3_600_000, anomaly_score=80.0 if is_anomaly else 40.0,
                          is_anomaly=is_anomaly, threshold=75.0, severity="warning",
                          top_features=["gled_value"], peak_timestamp_ms=0, rows=12)


def test_normal_result_documents_have_no_severity_nor_features():
    normal = _doc(False)
    assert normal["severity"] is None and normal["top_features"] == []
    anomalous = _doc(True)
    assert anomalous["severity"] == "warning" and anomalous["top_features"] == ["gled_value"]
