"""Drift monitoring: reference profiles, drift statistics and production windows."""
