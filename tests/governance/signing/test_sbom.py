"""CycloneDX 1.6 SBOM per version: content, strict validation, determinism, API and CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from ledgerflow.cli.main import cli
from ledgerflow.governance.sbom.requirements import parse

LF = "/api/2.0/ledgerflow"


def test_sbom_content_and_validation(register: Callable[..., Any]) -> None:
    reg = register()
    response = httpx.get(
        f"{reg.url}{LF}/model-versions/sbom", params={"name": reg.name, "version": reg.version}
    )
    assert response.status_code == 200, response.text
    bom = response.json()
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None

    model = bom["metadata"]["component"]
    manifest = reg.services.signing.files.manifest(_ref(reg))
    assert model["type"] == "machine-learning-model" and model["name"] == reg.name
    assert model["hashes"] == [{"alg": "SHA-256", "content": manifest.digest}]
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["ledgerflow:run_id"] == reg.run_id
    assert props["ledgerflow:file:model.pkl"] == manifest.by_name()["model.pkl"]

    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "classification"
    assert {"type": "accuracy", "value": "0.97"} in card["quantitativeAnalysis"]["performanceMetrics"]

    requirements = parse((reg.artifact_dir / "requirements.txt").read_text())
    libraries = {c["purl"] for c in bom["components"] if c["type"] == "library"}
    assert requirements and all(r.version for r in requirements)
    assert libraries == {f"pkg:pypi/{r.name}@{r.version}" for r in requirements}
    assert any(p.startswith("pkg:pypi/scikit-learn@") for p in libraries)

    [data] = [c for c in bom["components"] if c["type"] == "data"]
    run = reg.services.runs.get(reg.run_id)
    digest = run["inputs"]["dataset_inputs"][0]["dataset"]["digest"]
    assert data["name"] == "iris-train" and data["version"] == digest
    assert card["modelParameters"]["datasets"] == [{"ref": data["bom-ref"]}]
    depends = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert data["bom-ref"] in depends[model["bom-ref"]]

    facts = reg.services.facts.collect(reg.name, int(reg.version))["sbom"]
    assert facts["present"] is True and len(facts["digest"]) == 64


def test_two_generations_are_byte_identical(register: Callable[..., Any]) -> None:
    reg = register()
    sboms = reg.services.signing.sboms
    first, second = sboms.generate(reg.name, reg.version), sboms.generate(reg.name, reg.version)
    assert first == second
    stored = httpx.get(
        f"{reg.url}{LF}/model-versions/sbom", params={"name": reg.name, "version": reg.version}
    )
    assert json.dumps(stored.json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False) == first


def test_cli_writes_the_sbom(register: Callable[..., Any], tmp_path: Path) -> None:
    reg = register()
    out = tmp_path / "bom.json"
    result = CliRunner().invoke(
        cli, ["models", "sbom", "-n", reg.name, "-v", reg.version, "-o", str(out), "--tracking-uri", reg.url]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metadata"]["component"]["name"] == reg.name
    bad = httpx.get(
        f"{reg.url}{LF}/model-versions/sbom",
        params={"name": reg.name, "version": reg.version, "format": "spdx"},
    )
    assert bad.status_code == 400
    missing = httpx.get(f"{reg.url}{LF}/model-versions/sbom", params={"name": reg.name, "version": "99"})
    assert missing.status_code == 404


def test_requirement_parsing() -> None:
    text = "# comment\nscikit-learn==1.9.1\nNumPy>=2 ; python_version>'3'\n-r other.txt\npandas[performance]===3.1.1\n\n"
    parsed = parse(text)
    assert [(r.name, r.version, r.specifier) for r in parsed] == [
        ("numpy", None, ">=2"),
        ("pandas", "3.1.1", "===3.1.1"),
        ("scikit-learn", "1.9.1", "==1.9.1"),
    ]


def _ref(reg: Any) -> Any:
    from ledgerflow.governance.signing.records import find_version

    with reg.services.db.read() as conn:
        return find_version(conn, reg.name, reg.version)
