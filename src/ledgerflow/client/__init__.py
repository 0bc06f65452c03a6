"""The Python client: fluent API (``fluent``), low-level :class:`Client` (``client``), and the
transports that reach a server over HTTP or a local store in-process (``transport``)."""
