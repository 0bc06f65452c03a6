"""Ledgerflow: an MLflow-compatible ML lifecycle platform with security built in."""

from __future__ import annotations

__version__ = "0.1.0"
