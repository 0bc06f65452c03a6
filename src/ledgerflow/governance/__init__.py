"""Governance and ML supply-chain security.

One evidence chain per model version, each link recorded by its own subsystem:

    scanning/    static pickle/model-file scanner, allow-list, restricted unpickler
    secrets/     credential detection on params, tags, descriptions and text artifacts
    signing/     OMS-format manifests and signatures, trust store, attestations, SBOM
    evaluation/  task metrics, fairness and robustness results logged onto a version
    policy/      policy documents, evaluation of rules, waivers, promotion gate
    approvals/   four-eyes promotion requests
    monitoring/  reference profiles, production batches, drift statistics
    observability/ (``ledgerflow.server.metrics``) Prometheus metrics and alerts

The subsystems meet in :mod:`ledgerflow.governance.facts`: each one publishes what it knows
about a model version as a named group of facts, and the policy engine judges those facts.
None of them imports another's internals.
"""
