"""Authentication: who is calling.

``identity`` (the :class:`Identity` a request carries), ``passwords`` (Argon2id),
``policy`` (password rules), ``tokens`` (API token format and hashing), ``store`` (SQL),
``lockout`` (failed-login counting), ``sessions`` + ``csrf`` (the web UI), ``service`` (the
:class:`AuthService` the server and CLI use), ``proxy`` (forwarded headers from trusted
proxies) and ``middleware`` (the ASGI choke point). Authorization (roles, grants) builds on
the identity this package provides.
"""
