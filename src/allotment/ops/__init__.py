"""Operations endpoints: /metrics (Prometheus text format) and /healthz (JSON).

- metrics.py and middleware.py: request counts and latency, labelled by URL pattern.
- collectors.py: import, quarantine and agent-loop gauges, read from the database per scrape.
- access.py: who may read /metrics (loopback, the metrics token, site administrators).
- health.py: the /healthz checks (database, migrations, agent).
"""
