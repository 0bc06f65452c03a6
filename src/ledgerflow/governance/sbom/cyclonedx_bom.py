"""Building the CycloneDX 1.6 document of a model version, deterministically.

Components, from what the registry and the run recorded:

* a ``machine-learning-model`` component for the version: its hash is the manifest digest
  (the OMS subject digest), properties carry the run id, the per-file digests and the
  signing key id, and its ``modelCard`` holds the task, the datasets and the run's metrics;
* a ``data`` component per dataset logged as a run input (name, digest, source, context);
* a ``library`` component with a ``pkg:pypi`` purl per line of the model's requirements.txt,
  each a dependency of the model.

cyclonedx-python-lib has no model-card object, so the library's JSON is parsed and the
``modelCard`` inserted into the model component; the strict 1.6 schema validator
(:class:`SchemaCheck`) checks the whole document, modelCard included, on the explicit generate
path and in the tests (not at registration, see :func:`render`). Everything that would vary between two generations
(serial number, timestamp, bom-refs, order) is derived from the version, so generating twice
gives the same bytes.
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from ledgerflow.errors import InternalError
from ledgerflow.governance.sbom.requirements import Requirement

SPEC_VERSION = "1.6"
_NAMESPACE = uuid.UUID("6f1d8a52-2f7b-4f51-9a53-3c0f7c2b1e11")
_CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss")
_REGRESSION_METRICS = ("rmse", "mae", "mse", "r2")


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str
    source_type: str | None = None
    source: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class ModelFacts:
    """Everything an SBOM says about a version, gathered by the SBOM service."""

    name: str
    version: int
    run_id: str | None
    creation_time: int
    manifest_digest: str
    files: tuple[tuple[str, str], ...]  # (path, sha256) in manifest order
    requirements: tuple[Requirement, ...] = ()
    datasets: tuple[DatasetInput, ...] = ()
    metrics: tuple[tuple[str, float], ...] = ()
    task: str | None = None
    description: str | None = None
    signature_key_id: str | None = None
    tool_version: str = "0"
    flavors: tuple[str, ...] = field(default_factory=tuple)


def infer_task(facts: ModelFacts) -> str:
    """The task named by a tag; otherwise guessed from the metric names logged."""
    if facts.task:
        return facts.task
    keys = {
        name.removeprefix("training_").removeprefix("val_").removeprefix("test_") for name, _ in facts.metrics
    }
    if keys & set(_CLASSIFICATION_METRICS):
        return "classification"
    if keys & set(_REGRESSION_METRICS):
        return "regression"
    return "unknown"


def _model_ref(facts: ModelFacts) -> str:
    return f"model:{facts.name}@{facts.version}"


def _bom(facts: ModelFacts) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import Tool
    from packageurl import PackageURL

    properties = [Property(name="ledgerflow:manifest_digest", value=facts.manifest_digest)]
    if facts.run_id:
        properties.append(Property(name="ledgerflow:run_id", value=facts.run_id))
    if facts.signature_key_id:
        properties.append(Property(name="ledgerflow:signature_key_id", value=facts.signature_key_id))
    properties += [Property(name=f"ledgerflow:file:{path}", value=digest) for path, digest in facts.files]
    properties += [Property(name="ledgerflow:flavor", value=flavor) for flavor in facts.flavors]
    model = Component(
        name=facts.name,
        version=str(facts.version),
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=_model_ref(facts),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=facts.manifest_digest)],
        description=facts.description or None,
        properties=properties,
    )
    libraries = []
    for requirement in facts.requirements:
        purl = PackageURL(type="pypi", name=requirement.name, version=requirement.version)
        extra = (
            []
            if requirement.version or not requirement.specifier
            else [Property(name="ledgerflow:requirement", value=requirement.specifier)]
        )
        libraries.append(
            Component(
                name=requirement.name,
                version=requirement.version,
                type=ComponentType.LIBRARY,
                purl=purl,
                bom_ref=str(purl),
                properties=extra,
            )
        )
    datasets = []
    for dataset in facts.datasets:
        props = [Property(name="ledgerflow:dataset_digest", value=dataset.digest)]
        for key, value in (
            ("source_type", dataset.source_type),
            ("source", dataset.source),
            ("context", dataset.context),
        ):
            if value:
                props.append(Property(name=f"ledgerflow:dataset_{key}", value=value))
        datasets.append(
            Component(
                name=dataset.name,
                version=dataset.digest,
                type=ComponentType.DATA,
                bom_ref=_dataset_ref(dataset),
                properties=props,
            )
        )
    created = datetime.datetime.fromtimestamp(facts.creation_time / 1000, tz=datetime.UTC)
    tool = Tool(vendor="Ledgerflow", name="ledgerflow", version=facts.tool_version)
    bom = Bom(
        serial_number=uuid.uuid5(_NAMESPACE, f"{facts.name}/{facts.version}/{facts.manifest_digest}"),
        metadata=BomMetaData(component=model, timestamp=created, tools=[tool]),
        components=[*libraries, *datasets],
    )
    bom.register_dependency(model, [*libraries, *datasets])
    return bom


def _dataset_ref(dataset: DatasetInput) -> str:
    return f"data:{dataset.name}@{dataset.digest}"


def model_card(facts: ModelFacts) -> dict[str, Any]:
    task = infer_task(facts)
    parameters: dict[str, Any] = {"task": task}
    if task in ("classification", "regression"):
        parameters["approach"] = {"type": "supervised"}
    if facts.datasets:
        parameters["datasets"] = [{"ref": _dataset_ref(d)} for d in facts.datasets]
    card: dict[str, Any] = {"modelParameters": parameters}
    if facts.metrics:
        card["quantitativeAnalysis"] = {
            "performanceMetrics": [
                {"type": name, "value": repr(float(value))} for name, value in facts.metrics
            ]
        }
    return card


def render(facts: ModelFacts) -> str:
    """The CycloneDX 1.6 JSON text (sorted keys, so byte-stable), not validated: registration
    renders one per version and must not pay for the schema validator (its first load takes
    seconds); :class:`SchemaCheck` validates where a caller asks for it, and the tests check
    every shape this function produces against the strict schema."""
    from cyclonedx.output.json import JsonV1Dot6

    document = json.loads(JsonV1Dot6(_bom(facts)).output_as_string())
    document["metadata"]["component"]["modelCard"] = model_card(facts)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SchemaCheck:
    """The strict CycloneDX 1.6 validator, loaded on first use and then kept (per instance)."""

    def __init__(self) -> None:
        self._validator: Any = None

    def check(self, text: str) -> str:
        """``text`` if it validates; InternalError otherwise."""
        if self._validator is None:
            from cyclonedx.schema import SchemaVersion
            from cyclonedx.validation.json import JsonStrictValidator

            self._validator = JsonStrictValidator(SchemaVersion.V1_6)
        error = self._validator.validate_str(text)
        if error is not None:
            raise InternalError(f"The generated SBOM does not validate against CycloneDX 1.6: {error}")
        return text
