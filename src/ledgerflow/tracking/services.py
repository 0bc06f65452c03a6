"""The service container a server (or an in-process client) runs on."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledgerflow.artifacts.locations import ArtifactLocations
from ledgerflow.artifacts.service import ArtifactService
from ledgerflow.config import ServerConfig
from ledgerflow.governance.alerts.subsystem import AlertsSubsystem, build_alerts
from ledgerflow.governance.approvals.requests import PromotionRequests
from ledgerflow.governance.facts import FactRegistry
from ledgerflow.governance.monitoring.subsystem import MonitoringSubsystem, build_monitoring
from ledgerflow.governance.policy.service import PolicyService
from ledgerflow.governance.scanning.service import ScanningService, build_scanning
from ledgerflow.governance.secrets import SecretGuard
from ledgerflow.governance.secrets.facts import SecretFacts
from ledgerflow.governance.signing.attestations import AttestationService
from ledgerflow.governance.signing.subsystem import SigningSubsystem, build_signing
from ledgerflow.registry.events import EventHook
from ledgerflow.registry.service import RegistryService, build_registry
from ledgerflow.registry.webhooks import WebhookService
from ledgerflow.security.audit.log import AuditLog, build_audit_log
from ledgerflow.security.auth.service import AuthService
from ledgerflow.security.authz.service import AuthzService
from ledgerflow.store.connection_errors import store_errors
from ledgerflow.store.database import Database
from ledgerflow.store.migrations import ensure_schema
from ledgerflow.tracking.experiments import ExperimentService
from ledgerflow.tracking.logged_models import LoggedModelService
from ledgerflow.tracking.runs import RunService


@dataclass
class Services:
    config: ServerConfig
    db: Database
    locations: ArtifactLocations
    artifacts: ArtifactService
    experiments: ExperimentService
    runs: RunService
    logged_models: LoggedModelService
    registry: RegistryService
    webhooks: WebhookService
    audit: AuditLog
    auth: AuthService
    authz: AuthzService
    # What the governance subsystems know about model versions, for the policy engine.
    facts: FactRegistry
    # Evaluations of model versions and drift monitoring (governance/evaluation, /monitoring).
    monitoring: MonitoringSubsystem
    # Model signatures, the trust store, SBOMs (governance/signing).
    signing: SigningSubsystem
    # Signed statements about model versions; see governance/signing/attestations.py.
    attestations: AttestationService
    # Model-file scan results on versions (governance/scanning); also the "scan" facts.
    scanning: ScanningService
    # Policy documents and evaluations, four-eyes promotion requests (governance/policy, approvals).
    policies: PolicyService = field(init=False)
    promotions: PromotionRequests = field(init=False)
    # Metric threshold rules and their background watcher (run.failed comes from runs).
    alerts: AlertsSubsystem = field(init=False)

    def close(self) -> None:
        self.scanning.stop()
        self.alerts.stop()
        self.webhooks.stop()
        # Before the engine goes: the audit log signs its unsigned tail on the way out.
        self.audit.close()
        self.db.dispose()


def build_services(config: ServerConfig) -> Services:
    # A store that cannot be opened (refused, unauthorised, not a database) is one clear line.
    with store_errors(config.backend_store_uri):
        db = Database(config.backend_store_uri)
        ensure_schema(db.engine, auto_create=config.auto_create_schema)
    audit = build_audit_log(db, config)
    locations = ArtifactLocations(config)
    artifacts = ArtifactService(config, db)
    # Credentials in params, tags, names, descriptions and text uploads (governance/secrets).
    secrets = SecretGuard(db, audit, config.secret_policy, max_file_bytes=config.secret_scan_max_file_bytes)
    artifacts.secrets = secrets
    events = EventHook()
    experiments = ExperimentService(db, locations, secrets)
    runs = RunService(db, experiments, secrets, events)
    logged_models = LoggedModelService(db, experiments)
    experiments.ensure_default()
    registry = build_registry(db, locations, artifacts, secrets, events)
    signing = build_signing(db, config, artifacts, audit, runs, registry)
    facts = FactRegistry()
    signing.install(facts)
    facts.register(SecretFacts(db))
    services = Services(
        config=config,
        db=db,
        locations=locations,
        artifacts=artifacts,
        experiments=experiments,
        runs=runs,
        logged_models=logged_models,
        registry=registry,
        webhooks=WebhookService(db, config, registry.events),
        audit=audit,
        auth=AuthService(db, config, audit),
        authz=AuthzService(db, config, audit),
        facts=facts,
        monitoring=build_monitoring(db, experiments, registry.events, facts),
        signing=signing,
        attestations=signing.attestations,
        scanning=build_scanning(db, config, artifacts, registry.events, facts, audit),
    )
    from ledgerflow.governance.approvals.install import install_promotion_governance

    services.policies, services.promotions = install_promotion_governance(services)
    services.alerts = build_alerts(db, config, audit, events)
    return services
