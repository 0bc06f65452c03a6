"""``ledgerflow sign``: sign a model directory in CI (OMS bundle, ECDSA P-256, offline).

The bundle binds the registry version it is for (``--name``, ``--version``, ``--run-id``);
``--upload`` sends it to the tracking server, which verifies it against its trust store and
the version's stored files.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("-m", "--model-dir", "model_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False), help="PEM private key."
)
@click.option("--name", required=True, help="Registered model name the signature is for.")
@click.option("--version", "model_version", required=True, help="Registered model version.")
@click.option("--run-id", default=None, help="The run the version was registered from.")
@click.option("-o", "--output", default=None, help="Bundle path (default: <model dir>.sig next to it).")
@click.option("--upload", is_flag=True, help="Send the bundle to the tracking server.")
@click.option("--tracking-uri", default=None)
def sign(
    model_dir: str,
    key_path: str,
    name: str,
    model_version: str,
    run_id: str | None,
    output: str | None,
    upload: bool,
    tracking_uri: str | None,
) -> None:
    """Write the OMS signature bundle of MODEL_DIR for NAME version VERSION."""
    from ledgerflow.errors import InvalidParameter
    from ledgerflow.governance.signing import dsse, oms
    from ledgerflow.governance.signing.keys import load_private_key
    from ledgerflow.governance.signing.manifest import LocalDirectory, hash_source

    directory = Path(model_dir).resolve()
    target = Path(output) if output else directory.parent / f"{directory.name}.sig"
    if directory in target.resolve().parents:
        raise InvalidParameter("Write the bundle outside the model directory: it would be an unsigned file.")
    key = load_private_key(key_path)
    manifest = hash_source(LocalDirectory(directory))
    bundle = oms.sign(manifest, key, name, oms.Binding(name, model_version, run_id))
    target.write_text(dsse.dumps(bundle), encoding="utf-8")
    click.echo(
        f"Signed {len(manifest.resources)} files (manifest {manifest.digest}) with key {key.key_id}", err=True
    )
    click.echo(str(target))
    if upload:
        from ledgerflow.client.client import Client
        from ledgerflow.client.fluent import _context

        client = Client(tracking_uri) if tracking_uri else _context().client()
        answer = client.transport.call(
            "POST",
            "/2.0/ledgerflow/model-versions/signature",
            {"name": name, "version": model_version, "bundle": json.loads(target.read_text())},
        )
        click.echo(f"Uploaded: signature {answer['signature']['status']}", err=True)
