#!/usr/bin/env bash
# promtool on the shipped rules (syntax and unit tests) and scrape config,
# and the dashboard is valid JSON.
set -euo pipefail
cd monitoring 2>/dev/null || cd "$(dirname "$0")"
promtool check rules alerts.yml
promtool test rules alerts_test.yml
promtool check config prometheus.yml
python3 -c 'import json,sys; d=json.load(open("grafana-dashboard.json")); assert len(d["panels"]) >= 8; print(len(d["panels"]), "panels")'
