"""Model signing, provenance and attestations (OMS format, ECDSA P-256, offline).

* ``manifest``: per-file SHA-256 manifest of a version's directory, canonical order.
* ``dsse`` / ``oms``: DSSE envelopes in Sigstore bundle v0.3 form; the OMS signature
  statement with Ledgerflow's binding of model name, version and run id.
* ``trust_store``: trusted public keys with validity windows, rotation and revocation.
* ``attestations``: the API other subsystems call to record signed statements.
* ``service``: signing at registration, signature upload, and verification at download,
  load, serving and promotion; the ``signature`` fact source.
"""
