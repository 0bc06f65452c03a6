"""Dataset descriptions for ``ledgerflow.log_input`` (``ledgerflow.data.from_pandas``)."""

from __future__ import annotations

from ledgerflow.client.datasets import Dataset, from_pandas

__all__ = ["Dataset", "from_pandas"]
