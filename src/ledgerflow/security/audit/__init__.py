"""The audit trail: who changed what, when and from where, in a tamper-evident log.

``context`` carries the request's identity into the store; ``log`` appends hash-chained
records inside the same transaction as the change; ``signing`` holds the checkpoint key;
``verify`` and ``export`` read the chain back. Importing this package pulls in nothing heavy.
"""
