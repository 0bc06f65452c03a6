"""Operational and business metrics in Prometheus' format (``GET /metrics``)."""
