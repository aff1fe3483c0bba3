#!/usr/bin/env bash
# promtool on the shipped rules (syntax and unit tests) and scrape config,
# and the dashboard is valid JSON.
set -euo pipefail
cd monitoring 2>/dev/null || cd "$(dirname "$0")"
promtool check rules alerts.yml
promtool test rules alerts_test.yml
# Every rule has a test that expects it to fire.
for rule in $(sed -n 's/^ *- alert: *//p' alerts.yml); do
  grep -q "alertname: $rule\$" alerts_test.yml || { echo "alerts_test.yml never tests $rule" >&2; exit 1; }
done
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
