#!/usr/bin/env python3
"""Writes monitoring/grafana-dashboard.json (run it after changing panels).

Every query is limited to the clusters and instances picked at the top of
the dashboard ($cluster, $instance), and legends name the cluster: one
Prometheus may watch several clusters. Per-blade panels sum a blade's
workers (blade-workers), so each blade is one line whatever its workers."""
import json
import os


def m(name, extra=""):
    """A metric selector limited to the dashboard's cluster and instance choice."""
    return '%s{cluster=~"$cluster",instance=~"$instance"%s}' % (name, ("," + extra) if extra else "")


def ts(title, exprs, unit, x, y, w=12, h=8, kind="timeseries"):
    return {"type": kind, "title": title, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": l} for i, (e, l) in enumerate(exprs)]}


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name}, "definition": query, "refresh": 2, "multi": True,
            "includeAll": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "sort": 1}


lag = "sum by (cluster, chassis, slot, peer, le) (rate(%s[1m]))" % m("bladesync_sync_lag_seconds_bucket")
who = "{{cluster}} ch{{chassis}}"
panels = [
    ts("Sync lag p50 / p99 / p999 per mirror group", [
        ("histogram_quantile(0.5, %s)" % lag, "p50 %s slot{{slot}} <- {{peer}}" % who),
        ("histogram_quantile(0.99, %s)" % lag, "p99 %s slot{{slot}} <- {{peer}}" % who),
        ("histogram_quantile(0.999, %s)" % lag, "p999 %s slot{{slot}} <- {{peer}}" % who)], "s", 0, 0),
    dict(ts("Sync lag heatmap", [("sum by (le) (increase(%s[1m]))" % m("bladesync_sync_lag_seconds_bucket"), "{{le}}")],
            "s", 12, 0, kind="heatmap"), options={"calculate": False, "yAxis": {"unit": "s"}}),
    ts("Sessions per blade and role", [("sum by (cluster, chassis, slot, role) (%s)" % m("bladesync_sessions"),
                                        who + " slot{{slot}} {{role}}")], "short", 0, 8),
    ts("Sequence lag (sent, not acknowledged)", [("sum by (cluster, chassis, slot, peer) (%s)" % m("bladesync_sequence_lag_deltas"),
                                                  who + " slot{{slot}} -> {{peer}}")],
       "short", 12, 8),
    dict(ts("Links M1 / M2", [(m("bladesync_link_up"), who + " -> {{peer}} {{link}}")], "bool_on_off", 0, 16,
            kind="state-timeline")),
    dict(ts("HA role", [(m("bladesync_ha_role") + " == 1", who + " {{role}}")], "short", 12, 16, kind="state-timeline")),
    ts("Failovers and how long the last one took", [
        ("increase(%s[1h])" % m("bladesync_failovers_total"), "failovers %s (1h)" % who),
        (m("bladesync_last_failover_duration_seconds"), "last took (s) " + who)], "short", 0, 24),
    ts("Change log and bulk syncs", [("sum by (cluster, chassis, slot) (%s)" % m("bladesync_change_log_entries"),
                                       "change log %s slot{{slot}}" % who),
                                       ("sum by (cluster, chassis, slot) (increase(%s[5m]))" % m("bladesync_bulk_syncs_started_total"),
                                        "bulk syncs %s slot{{slot}}" % who)], "short", 12, 24),
    ts("Drops by reason", [("sum by (cluster, chassis, reason) (rate(%s[1m]))" % m("bladesync_dropped_total"),
                            who + " {{reason}}")], "ops", 0, 32),
    ts("Deltas sent by op and link", [("sum by (cluster, chassis, op, link) (rate(%s[1m]))" % m("bladesync_deltas_sent_total"),
                                       who + " {{op}} {{link}}")], "ops", 12, 32),
    ts("Health problems and config differences", [
        (m("bladesync_health_problems"), "problems " + who),
        (m("bladesync_peer_config_sections_differ"), "config sections differing %s vs {{peer}}" % who)], "short", 0, 40),
    ts("Scrape targets up", [('up{job="bladesync",instance=~"$instance"}', "{{instance}}")], "bool_on_off", 12, 40,
       kind="state-timeline"),
]
for i, p in enumerate(panels):
    p["id"] = i + 1
dash = {
    "title": "bladesync", "uid": "bladesync", "schemaVersion": 36, "version": 2, "refresh": "10s",
    "time": {"from": "now-30m", "to": "now"}, "tags": ["bladesync"],
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        variable("cluster", "Cluster", "label_values(bladesync_ha_role, cluster)"),
        variable("instance", "Instance", 'label_values(bladesync_ha_role{cluster=~"$cluster"}, instance)'),
    ]},
    "panels": panels,
}
import sys  # noqa: E402
if len(sys.argv) > 1:
    print(__doc__.strip() + "\nusage: make_dashboard.py (no arguments)")
    sys.exit(0 if sys.argv[1] in ("-h", "--help") else 2)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grafana-dashboard.json")
with open(out, "w") as f:
    json.dump(dash, f, indent=1)
    f.write("\n")
print("wrote", out)
