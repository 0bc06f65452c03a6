"""The grammars of every searchable resource, as MLflow 3.x accepts them.

Registered models and model versions are declared here already so the registry's store
only has to compile them; note that their compiler must let ``tags.k != 'v'`` match a
resource without the tag (MLflow's registry does, the run search does not).
"""

from __future__ import annotations

from ledgerflow.tracking.search.grammar import EntitySpec, FieldSpec, Grammar
from ledgerflow.tracking.search.nodes import EQ, IN, LIST_OPS, NE, NULL_OPS, NUMERIC_OPS, STRING_OPS

NOT_FILTERABLE: frozenset[str] = frozenset()


def _string(name: str, *, lists: bool = False) -> FieldSpec:
    return FieldSpec(name, "string", STRING_OPS | LIST_OPS if lists else STRING_OPS)


def _number(name: str) -> FieldSpec:
    return FieldSpec(name, "number", NUMERIC_OPS)


def _fields(*specs: tuple[tuple[str, ...], FieldSpec]) -> dict[str, FieldSpec]:
    return {spelling: spec for spellings, spec in specs for spelling in spellings}


METRIC_VALUE = _number("value")
STRING_VALUE = FieldSpec("value", "string", STRING_OPS | NULL_OPS)
PLAIN_STRING_VALUE = FieldSpec("value", "string", STRING_OPS)

_METRIC = ("metric", "metrics")
_PARAM = ("param", "params", "parameter", "parameters")
_TAG = ("tag", "tags")
_ATTRIBUTE = ("attribute", "attributes", "attr")

RUNS = Grammar(
    resource="runs",
    default_entity="attribute",
    entities=(
        EntitySpec("metric", _METRIC, any_key=METRIC_VALUE),
        EntitySpec("param", _PARAM, any_key=STRING_VALUE),
        EntitySpec("tag", _TAG, any_key=STRING_VALUE),
        EntitySpec(
            "attribute",
            (*_ATTRIBUTE, "run"),
            fields=_fields(
                (("run_id",), _string("run_id", lists=True)),
                (("run_name", "run name", "Run name", "Run Name"), _string("run_name")),
                (("status",), _string("status")),
                (("user_id",), _string("user_id")),
                (("artifact_uri",), _string("artifact_uri")),
                (("start_time", "created", "Created"), _number("start_time")),
                (("end_time",), _number("end_time")),
            ),
        ),
        EntitySpec(
            "dataset",
            ("dataset", "datasets"),
            fields=_fields(
                (("name",), _string("name", lists=True)),
                (("digest",), _string("digest", lists=True)),
                (("context",), _string("context", lists=True)),
            ),
            orderable=False,
        ),
    ),
)

EXPERIMENTS = Grammar(
    resource="experiments",
    default_entity="attribute",
    entities=(
        EntitySpec(
            "attribute",
            _ATTRIBUTE,
            fields=_fields(
                (("name",), _string("name")),
                (("experiment_id",), FieldSpec("experiment_id", "id", frozenset({EQ, NE}) | LIST_OPS)),
                (("creation_time",), _number("creation_time")),
                (("last_update_time",), _number("last_update_time")),
            ),
        ),
        EntitySpec("tag", _TAG, any_key=STRING_VALUE, orderable=False),
    ),
)

LOGGED_MODELS = Grammar(
    resource="logged models",
    default_entity="attribute",
    entities=(
        EntitySpec(
            "attribute",
            _ATTRIBUTE,
            fields=_fields(
                (("name",), _string("name")),
                (("model_id",), _string("model_id")),
                (("status",), _string("status")),
                (("source_run_id",), _string("source_run_id")),
                (("model_type",), _string("model_type")),
                (("creation_time", "creation_timestamp"), _number("creation_time")),
                (("last_updated_time", "last_updated_timestamp"), _number("last_updated_time")),
            ),
        ),
        EntitySpec("metric", _METRIC, any_key=METRIC_VALUE),
        EntitySpec("param", _PARAM, any_key=PLAIN_STRING_VALUE, orderable=False),
        EntitySpec("tag", _TAG, any_key=PLAIN_STRING_VALUE, orderable=False),
    ),
)

REGISTERED_MODELS = Grammar(
    resource="registered models",
    default_entity="attribute",
    entities=(
        EntitySpec(
            "attribute",
            _ATTRIBUTE,
            fields=_fields(
                (("name",), FieldSpec("name", "string", STRING_OPS | {IN})),
                (("creation_timestamp",), FieldSpec("creation_timestamp", "number", NOT_FILTERABLE)),
                (("last_updated_timestamp",), FieldSpec("last_updated_timestamp", "number", NOT_FILTERABLE)),
            ),
        ),
        EntitySpec("tag", _TAG, any_key=PLAIN_STRING_VALUE, orderable=False),
    ),
)

MODEL_VERSIONS = Grammar(
    resource="model versions",
    default_entity="attribute",
    entities=(
        EntitySpec(
            "attribute",
            _ATTRIBUTE,
            fields=_fields(
                (("name",), _string("name", lists=True)),
                (("run_id",), _string("run_id", lists=True)),
                (("source_path",), _string("source_path")),
                (("version_number",), _number("version_number")),
                (("creation_timestamp",), FieldSpec("creation_timestamp", "number", NOT_FILTERABLE)),
                (("last_updated_timestamp",), FieldSpec("last_updated_timestamp", "number", NOT_FILTERABLE)),
            ),
        ),
        EntitySpec("tag", _TAG, any_key=PLAIN_STRING_VALUE, orderable=False),
    ),
)
