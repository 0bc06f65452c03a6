"""Alerts delivered as registry webhooks: a run set to FAILED (``run.failed``) and metric
threshold rules (``metric.threshold``)."""
