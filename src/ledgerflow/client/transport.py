"""How the client reaches a tracking store: over HTTP, or in-process for a local store.

``make_transport(uri)`` picks one from the tracking URI:

* ``http://`` / ``https://`` → :class:`HttpTransport` (httpx, keep-alive, retries);
* a plain path, ``file:`` or ``sqlite:///`` URI (or a SQL database URI) →
  :class:`LocalTransport`, which runs the server's own services and endpoint table in this
  process, so a local store answers exactly what a server over the same database would.

Both speak one method, ``call(method, path, body)``, with ``path`` below the ``/api`` prefix
(``/2.0/mlflow/runs/create``) and MLflow's JSON shapes in and out. Failures surface as
:class:`~ledgerflow.errors.RestError` carrying the server's error code either way.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urlparse

from ledgerflow import __version__
from ledgerflow.client.store_uri import SUPPORTED_SCHEMES, check_http_uri, check_store_folder
from ledgerflow.errors import InvalidParameter, LedgerflowError, MissingExtra, RestError, redact_uri

if TYPE_CHECKING:
    import httpx

    from ledgerflow.server.endpoints import EndpointTable
    from ledgerflow.tracking.services import Services

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that say the server did not act on the request, so even a create may be re-sent.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})
# POSTs whose repetition would create a second object; everything else in the API converges.
_NON_IDEMPOTENT_POSTS = frozenset(
    {
        "/2.0/mlflow/experiments/create",
        "/2.0/mlflow/runs/create",
        "/2.0/mlflow/logged-models",
        "/2.0/mlflow/model-versions/create",
        "/2.0/mlflow/registered-models/create",
    }
)
# An idle pooled connection is dropped after this long, well before the server closes it
# (uvicorn's keep-alive default is 5 s). At equal timeouts a request sent on a connection the
# server is closing that very moment fails with a reset, and creates are not retried.
KEEPALIVE_EXPIRY_SECONDS = 2.0
DEFAULT_LOCAL_URI = "sqlite:///ledgerflow.db"
LOCAL_ARTIFACTS_DIR = "ledgerflow-artifacts"


class Transport(Protocol):
    uri: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def is_transient(error: BaseException) -> bool:
    """Whether trying the same call again later may succeed."""
    return isinstance(error, RestError) and error.http_status in TRANSIENT_STATUSES


def is_http_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def make_transport(uri: str) -> Transport:
    if is_http_uri(uri):
        check_http_uri(uri)
        return HttpTransport(uri)
    return LocalTransport(uri)


# --------------------------------------------------------------------------------------------
# HTTP


class HttpTransport:
    """MLflow's REST protocol over one pooled httpx client (keep-alive), with retries."""

    def __init__(
        self,
        uri: str,
        *,
        max_retries: int | None = None,
        backoff_factor: float | None = None,
        backoff_max: float = 30.0,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.uri = uri.rstrip("/")
        env_retries = _env("LEDGERFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        env_backoff = _env("LEDGERFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
        env_timeout = _env("LEDGERFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_TIMEOUT")
        self.max_retries = max_retries if max_retries is not None else int(env_retries or 5)
        self.backoff_factor = backoff_factor if backoff_factor is not None else float(env_backoff or 0.5)
        self.backoff_max = backoff_max
        self.timeout = timeout if timeout is not None else float(env_timeout or 120)
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        # httpx costs ~80 ms to import, so the light client pays for it on first use only.
        with self._lock:
            if self._client is None:
                import httpx

                headers = {"User-Agent": f"ledgerflow-python-client/{__version__}"}
                auth: httpx.Auth | tuple[str, str] | None = None
                token = _env("LEDGERFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN")
                user = _env("LEDGERFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_USERNAME")
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                elif user:
                    auth = (user, _env("LEDGERFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD") or "")
                self._client = httpx.Client(
                    base_url=self.uri,
                    headers=headers,
                    auth=auth,
                    timeout=self.timeout,
                    limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS),
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.backoff_max)
            except ValueError:
                pass
        base = self.backoff_factor * (2**attempt)
        return float(min(self.backoff_max, base * (0.5 + random.random())))

    def send(
        self,
        method: str,
        url_path: str,
        *,
        params: list[tuple[str, str | int | float | bool | None]] | None = None,
        json_body: dict[str, Any] | None = None,
        content: Callable[[], Iterable[bytes] | bytes] | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool = True,
        stream: bool = False,
        ok_statuses: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send one request (``url_path`` is the full path, e.g. ``/api/2.0/...``).

        Transient failures are retried with exponential backoff: every 408/429/5xx and every
        connection error for idempotent calls, and for the others only the answers that show
        the server never acted (429, 503, a refused connection). ``ok_statuses`` are error
        statuses the caller handles itself; any other error raises :class:`RestError`.
        """
        import httpx

        client = self._http()
        body = None if json_body is None else json.dumps(json_body, allow_nan=False).encode()
        request_headers = dict(headers or {})
        if body is not None:
            request_headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            request = client.build_request(
                method,
                url_path,
                params=params,
                content=body if content is None else content(),
                headers=request_headers,
            )
            try:
                response = client.send(request, stream=stream)
            except httpx.TransportError as error:
                never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt < self.max_retries and (idempotent or never_sent):
                    self._sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise RestError(
                    "TEMPORARILY_UNAVAILABLE",
                    f"Could not reach the tracking server at {self.uri}: {error or type(error).__name__}",
                    503,
                ) from None
            status = response.status_code
            if status < 400 or status in ok_statuses:
                return response
            retryable = idempotent or status in _NOT_PROCESSED_STATUSES
            if status in TRANSIENT_STATUSES and retryable and attempt < self.max_retries:
                retry_after = response.headers.get("retry-after")
                response.close()
                self._sleep(self._delay(attempt, retry_after))
                attempt += 1
                continue
            if stream:
                response.read()
            raise error_from_response(url_path, status, response.content)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body or {}
        idempotent = method != "POST" or path not in _NON_IDEMPOTENT_POSTS
        if method == "GET":
            response = self.send(method, "/api" + path, params=query_params(body), idempotent=True)
        else:
            response = self.send(method, "/api" + path, json_body=body, idempotent=idempotent)
        if not response.content.strip():
            return {}
        data = json.loads(response.content)
        if not isinstance(data, dict):
            raise RestError("INTERNAL_ERROR", f"Unexpected response from {path}: {data!r:.200}", 500)
        return data


def query_params(body: dict[str, Any]) -> list[tuple[str, str | int | float | bool | None]]:
    """A GET message as a query string: repeated fields repeat the key, booleans are true/false."""
    params: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in body.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            params.append((key, ("true" if item else "false") if isinstance(item, bool) else str(item)))
    return params


def error_from_response(path: str, status: int, content: bytes) -> RestError:
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict) and "error_code" in data:
        return RestError(str(data["error_code"]), str(data.get("message", "")), status)
    text = content.decode("utf-8", "replace").strip()
    code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "ENDPOINT_NOT_FOUND"}.get(
        status, "TEMPORARILY_UNAVAILABLE" if status in TRANSIENT_STATUSES else "INTERNAL_ERROR"
    )
    return RestError(code, f"API request to {path} failed with code {status}: {text[:300]}", status)


# --------------------------------------------------------------------------------------------
# In-process


def local_store_paths(uri: str) -> tuple[str, str]:
    """(backend store URI, artifacts folder) for a local tracking URI.

    A plain path or ``file:`` URI names a folder holding ``ledgerflow.db`` and ``artifacts/``.
    A ``sqlite:///`` file keeps its artifacts in ``ledgerflow-artifacts`` beside it, where a
    ``ledgerflow server`` started in that folder keeps them, so both see the same files.
    """
    artifacts_env = _env("LEDGERFLOW_ARTIFACTS_DESTINATION")
    if uri.startswith("sqlite:"):
        db_path = unquote(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else ""
        if not db_path or db_path == ":memory:":
            # Each connection of an in-memory database would see an empty store.
            raise InvalidParameter(f"Tracking URI '{uri}' must name an SQLite file (sqlite:///path/to.db).")
        folder = Path(db_path).resolve().parent
        check_store_folder(folder, uri)
        folder.mkdir(parents=True, exist_ok=True)
        return uri, artifacts_env or str(folder / LOCAL_ARTIFACTS_DIR)
    if "://" in uri and not uri.startswith("file:"):
        scheme = uri.split("://", 1)[0]
        if scheme.split("+")[0] in ("postgresql", "postgres", "mysql"):
            return uri, artifacts_env or os.path.abspath(LOCAL_ARTIFACTS_DIR)
        raise InvalidParameter(f"Unsupported tracking URI '{redact_uri(uri)}': use {SUPPORTED_SCHEMES}.")
    path = unquote(urlparse(uri).path) if uri.startswith("file:") else uri
    folder = Path(path).expanduser().resolve()
    check_store_folder(folder, uri)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'ledgerflow.db'}", artifacts_env or str(folder / "artifacts")


class LocalTransport:
    """Runs the tracking services in this process; needs the ``server`` extra."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.backend_store_uri, self.artifacts_destination = local_store_paths(uri)
        self._services: Services | None = None
        self._table: EndpointTable | None = None
        self._lock = threading.Lock()

    def _ready(self) -> tuple[Services, EndpointTable]:
        with self._lock:
            if self._services is None or self._table is None:
                try:
                    from ledgerflow.config import ServerConfig
                    from ledgerflow.server.app import api_table
                    from ledgerflow.tracking.services import build_services
                except ModuleNotFoundError:
                    raise MissingExtra("server", f"Logging to the local store '{self.uri}'") from None
                config = ServerConfig(
                    backend_store_uri=self.backend_store_uri,
                    artifacts_destination=self.artifacts_destination,
                )
                self._services = build_services(config)
                self._table = api_table()
            return self._services, self._table

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        from ledgerflow.security.audit import context as audit_context
        from ledgerflow.server.payload import Payload

        services, table = self._ready()
        try:
            endpoint, path_params = table.resolve(method, path)
            # A JSON round trip gives handlers exactly what they would get over HTTP.
            data = json.loads(json.dumps(body or {}, allow_nan=False))
            payload = Payload(data | path_params)
            # In-process calls are audited like REST calls, as the OS user from "local".
            context = audit_context.AuditContext(
                request_id=audit_context.new_request_id(),
                actor=audit_context.local_actor(),
                source_address=audit_context.LOCAL_SOURCE,
            )
            with audit_context.bind(context):
                audit_context.set_action(endpoint.action, payload.data)
                return endpoint.handler(services, payload)
        except RestError:
            raise
        except LedgerflowError as error:
            raise RestError(error.error_code, error.message, error.http_status) from None

    @property
    def services(self) -> Services:
        return self._ready()[0]

    def close(self) -> None:
        with self._lock:
            if self._services is not None:
                self._services.close()
                self._services = None


def artifact_url_path(relative: str) -> str:
    """URL path of a file behind the ``mlflow-artifacts`` proxy."""
    return "/api/2.0/mlflow-artifacts/artifacts/" + quote(relative.lstrip("/"), safe="/")
