#!/usr/bin/env bash
# promtool on the shipped rules (syntax and unit tests) and scrape config,
# and the dashboard is valid JSON.
set -euo pipefail
cd monitoring 2>/dev/null || cd "$(dirname "$0")"
promtool check rules alerts.yml
promtool test rules alerts_test.yml
# Every rule has a test that expects it to fire: an alert_rule_test naming it
# whose exp_alerts lists an alert (a test expecting `exp_alerts: []` only
# shows that it stays quiet).
python3 - <<'PY'
import re, sys
rules = re.findall(r"^ *- alert: *(\S+)", open("alerts.yml").read(), re.M)
lines = [l.strip() for l in open("alerts_test.yml") if l.strip() and not l.strip().startswith("#")]
fires = set()
for i, l in enumerate(lines):
    m = re.fullmatch(r"alertname: *(\S+)", l)
    if m and i + 2 < len(lines) and lines[i + 1] == "exp_alerts:" and lines[i + 2].startswith("- exp_labels"):
        fires.add(m.group(1))
missing = [r for r in rules if r not in fires]
if missing:
    sys.exit("alerts_test.yml never expects these to fire: " + ", ".join(missing))
print(len(rules), "rules, each with a test that expects it to fire")
PY
promtool check config prometheus.yml
python3 -c 'import json,sys; d=json.load(open("grafana-dashboard.json")); assert len(d["panels"]) >= 8; print(len(d["panels"]), "panels")'
# The dashboard: a cluster and an instance variable, and every bladesync
# query limited by both.
python3 - <<'PY'
import json, re
d = json.load(open("grafana-dashboard.json"))
names = {v["name"] for v in d["templating"]["list"]}
assert {"cluster", "instance"} <= names, names
for p in d["panels"]:
    for t in p["targets"]:
        for sel in re.findall(r"bladesync_[a-z_]+(\{[^}]*\})?", t["expr"]):
            assert 'cluster=~"$cluster"' in sel and 'instance=~"$instance"' in sel, (p["title"], t["expr"])
print("dashboard: every query limited by $cluster and $instance")
PY
