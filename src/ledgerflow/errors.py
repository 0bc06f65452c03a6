"""The one exception hierarchy of Ledgerflow.

Every failure a user can cause or meet is a :class:`LedgerflowError` carrying an MLflow
error code. The code decides, in this module only, the HTTP status the server answers with
and the exit code the CLI ends with::

    LedgerflowError                      (error_code, message)
     ├── InvalidParameter                INVALID_PARAMETER_VALUE   400  exit 2
     ├── BadRequest                      BAD_REQUEST               400  exit 2
     ├── ResourceAlreadyExists           RESOURCE_ALREADY_EXISTS   400  exit 3
     ├── ResourceDoesNotExist            RESOURCE_DOES_NOT_EXIST   404  exit 4
     ├── EndpointNotFound                ENDPOINT_NOT_FOUND        404  exit 4
     ├── PermissionDenied                PERMISSION_DENIED         403  exit 5
     ├── Unauthenticated                 UNAUTHENTICATED           401  exit 5
     ├── ResourceConflict                RESOURCE_CONFLICT         409  exit 3
     ├── MissingExtra                    (config) pip hint         -    exit 6
     ├── StoreSchemaOutOfDate            INVALID_STATE             500  exit 7
     ├── ServiceUnavailable              TEMPORARILY_UNAVAILABLE   503  exit 1
     ├── RequestTooLarge                 REQUEST_LIMIT_EXCEEDED    413  exit 1
     └── InternalError                   INTERNAL_ERROR            500  exit 1

A client-side :class:`RestError` is raised when a server answers with an error body; it
keeps the server's code so callers can branch on it exactly as MLflow's client does.
"""

from __future__ import annotations

import re
from typing import Any

_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]*@")

# MLflow's table from error code to HTTP status (mlflow/exceptions.py), extended with ours.
HTTP_STATUS_BY_CODE: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 500,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "CUSTOMER_UNAUTHORIZED": 401,
    "RESOURCE_CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL_ERROR": 500,
    "DATA_LOSS": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "METHOD_NOT_ALLOWED": 405,
}

EXIT_CODE_BY_CODE: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 2,
    "BAD_REQUEST": 2,
    "RESOURCE_ALREADY_EXISTS": 3,
    "RESOURCE_CONFLICT": 3,
    "RESOURCE_DOES_NOT_EXIST": 4,
    "ENDPOINT_NOT_FOUND": 4,
    "NOT_FOUND": 4,
    "PERMISSION_DENIED": 5,
    "UNAUTHENTICATED": 5,
    "MISSING_EXTRA": 6,
    "INVALID_STATE": 7,
}


def http_status_for(error_code: str) -> int:
    return HTTP_STATUS_BY_CODE.get(error_code, 500)


def exit_code_for(error_code: str) -> int:
    return EXIT_CODE_BY_CODE.get(error_code, 1)


class LedgerflowError(Exception):
    """Base of every error Ledgerflow raises on purpose."""

    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code

    @property
    def http_status(self) -> int:
        return http_status_for(self.error_code)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.error_code)

    def to_json(self) -> dict[str, Any]:
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameter(LedgerflowError):
    error_code = "INVALID_PARAMETER_VALUE"


class BadRequest(LedgerflowError):
    error_code = "BAD_REQUEST"


class ResourceAlreadyExists(LedgerflowError):
    error_code = "RESOURCE_ALREADY_EXISTS"


class ResourceDoesNotExist(LedgerflowError):
    error_code = "RESOURCE_DOES_NOT_EXIST"


class EndpointNotFound(LedgerflowError):
    error_code = "ENDPOINT_NOT_FOUND"


class PermissionDenied(LedgerflowError):
    error_code = "PERMISSION_DENIED"


class Unauthenticated(LedgerflowError):
    error_code = "UNAUTHENTICATED"


class ResourceConflict(LedgerflowError):
    error_code = "RESOURCE_CONFLICT"


class InternalError(LedgerflowError):
    error_code = "INTERNAL_ERROR"


class StoreSchemaOutOfDate(LedgerflowError):
    error_code = "INVALID_STATE"


class ServiceUnavailable(LedgerflowError):
    """A store this process depends on (database, object store) cannot be reached right now."""

    error_code = "TEMPORARILY_UNAVAILABLE"


class RequestTooLarge(LedgerflowError):
    """A request body is over the server's limit.

    MLflow's code for exceeded limits is REQUEST_LIMIT_EXCEEDED, which its table maps to 429;
    the status here is 413 instead, because retrying the same body can never succeed and
    clients retry every 429.
    """

    error_code = "REQUEST_LIMIT_EXCEEDED"

    @property
    def http_status(self) -> int:
        return 413


class MissingExtra(LedgerflowError):
    """A feature needs an optional dependency group that is not installed."""

    error_code = "MISSING_EXTRA"

    def __init__(self, extra: str, feature: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the '{extra}' extra. Install it with: pip install 'ledgerflow[{extra}]'"
        )


class RestError(LedgerflowError):
    """A server answered a client call with an error; the server's code is kept."""

    def __init__(self, error_code: str, message: str, http_status: int) -> None:
        super().__init__(message, error_code=error_code)
        self.status = http_status

    @property
    def http_status(self) -> int:
        return self.status


def require_extra(module: str, extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` when *module* cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(extra, feature)


def redact_uri(text: str) -> str:
    """*text* with the password of every ``scheme://user:password@`` replaced by ``***``."""
    return _USERINFO_PASSWORD.sub(r"\1***@", text)
