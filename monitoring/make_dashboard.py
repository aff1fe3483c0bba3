#!/usr/bin/env python3
"""Writes monitoring/grafana-dashboard.json (run it after changing panels)."""
import json
import os

def ts(title, exprs, unit, x, y, w=12, h=8, kind="timeseries"):
    return {"type": kind, "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": l} for i, (e, l) in enumerate(exprs)]}

lag = "sum by (chassis, slot, peer, le) (rate(bladesync_sync_lag_seconds_bucket[1m]))"
panels = [
    ts("Sync lag p50 / p99 / p999 per mirror group", [
        ("histogram_quantile(0.5, %s)" % lag, "p50 ch{{chassis}} slot{{slot}} <- {{peer}}"),
        ("histogram_quantile(0.99, %s)" % lag, "p99 ch{{chassis}} slot{{slot}} <- {{peer}}"),
        ("histogram_quantile(0.999, %s)" % lag, "p999 ch{{chassis}} slot{{slot}} <- {{peer}}")], "s", 0, 0),
    dict(ts("Sync lag heatmap", [("sum by (le) (increase(bladesync_sync_lag_seconds_bucket[1m]))", "{{le}}")], "s", 12, 0,
            kind="heatmap"), options={"calculate": False, "yAxis": {"unit": "s"}}),
    ts("Sessions per blade and role", [("sum by (chassis, slot, role) (bladesync_sessions)",
                                        "ch{{chassis}} slot{{slot}} {{role}}")], "short", 0, 8),
    ts("Sequence lag (sent, not acknowledged)", [("bladesync_sequence_lag_deltas", "ch{{chassis}} slot{{slot}} -> {{peer}}")],
       "short", 12, 8),
    dict(ts("Links M1 / M2", [("bladesync_link_up", "ch{{chassis}} -> {{peer}} {{link}}")], "bool_on_off", 0, 16,
            kind="state-timeline")),
    dict(ts("HA role", [("bladesync_ha_role == 1", "ch{{chassis}} {{role}}")], "short", 12, 16, kind="state-timeline")),
    ts("Failovers and last failover time", [("increase(bladesync_failovers_total[1h])", "failovers ch{{chassis}} (1h)"),
                                            ("bladesync_last_failover_seconds", "last failover s ch{{chassis}}")],
       "short", 0, 24),
    ts("Resend queue and bulk syncs", [("bladesync_resend_queue_entries", "queue ch{{chassis}} slot{{slot}}"),
                                       ("increase(bladesync_bulk_syncs_started_total[5m])", "bulk syncs ch{{chassis}} slot{{slot}}")],
       "short", 12, 24),
    ts("Drops by reason", [("sum by (chassis, reason) (rate(bladesync_dropped_total[1m]))", "ch{{chassis}} {{reason}}")],
       "ops", 0, 32),
    ts("Deltas sent by op and link", [("sum by (chassis, op, link) (rate(bladesync_deltas_sent_total[1m]))",
                                       "ch{{chassis}} {{op}} {{link}}")], "ops", 12, 32),
]
for i, p in enumerate(panels):
    p["id"] = i + 1
dash = {
    "title": "bladesync", "uid": "bladesync", "schemaVersion": 36, "version": 1, "refresh": "10s",
    "time": {"from": "now-30m", "to": "now"}, "tags": ["bladesync"],
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
    "panels": panels,
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grafana-dashboard.json")
with open(out, "w") as f:
    json.dump(dash, f, indent=1)
    f.write("\n")
print("wrote", out)
