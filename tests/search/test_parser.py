"""The filter and order_by grammar, through the search package's public parse functions."""

from __future__ import annotations

import pytest

from ledgerflow.errors import InvalidParameter
from ledgerflow.tracking.search import (
    EXPERIMENTS,
    LOGGED_MODELS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
    Comparison,
    OrderKey,
    parse_field_name,
    parse_filter,
    parse_order_by,
)


def rejects(text: str, grammar: object = RUNS) -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse_filter(text, grammar)  # type: ignore[arg-type]
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    return caught.value.message


def rejects_order(clause: str, grammar: object = RUNS) -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse_order_by([clause], grammar)  # type: ignore[arg-type]
    return caught.value.message


def test_empty_filter_is_no_condition() -> None:
    assert parse_filter("", RUNS) == ()
    assert parse_filter("   ", RUNS) == ()
    assert parse_filter(None, RUNS) == ()


def test_and_joined_clauses_in_any_case() -> None:
    parsed = parse_filter("metrics.acc > 0.5 and params.model = 'rf' AND tags.t LIKE '%x%'", RUNS)
    assert parsed == (
        Comparison("metric", "acc", ">", 0.5),
        Comparison("param", "model", "=", "rf"),
        Comparison("tag", "t", "LIKE", "%x%"),
    )


@pytest.mark.parametrize(
    ("prefix", "entity"),
    [
        ("metric", "metric"),
        ("metrics", "metric"),
        ("param", "param"),
        ("params", "param"),
        ("parameter", "param"),
        ("parameters", "param"),
        ("tag", "tag"),
        ("tags", "tag"),
    ],
)
def test_entity_spellings(prefix: str, entity: str) -> None:
    value = "1" if entity == "metric" else "'1'"
    assert parse_filter(f"{prefix}.k = {value}", RUNS)[0].entity == entity


@pytest.mark.parametrize("prefix", ["attribute", "attributes", "attr", "run"])
def test_attribute_spellings(prefix: str) -> None:
    assert parse_filter(f"{prefix}.status = 'FINISHED'", RUNS) == (
        Comparison("attribute", "status", "=", "FINISHED"),
    )


def test_unknown_entity_is_rejected() -> None:
    assert "Invalid entity type 'foo'" in rejects("foo.x = '1'")


def test_quoted_keys_with_hyphens_dots_spaces_and_symbols() -> None:
    # BC-03 (a)-(c) and MLflow's own examples.
    assert parse_filter("params.\"cat-dog\" = '2'", RUNS)[0].key == "cat-dog"
    assert parse_filter("params.`cat.dog` = '1'", RUNS)[0].key == "cat.dog"
    assert parse_filter('metrics."cat-dog.metric" = 3', RUNS)[0] == Comparison(
        "metric", "cat-dog.metric", "=", 3.0
    )
    assert parse_filter("metrics.`Mean Square Error` < 1", RUNS)[0].key == "Mean Square Error"
    assert parse_filter('metrics."X//Y#$$@&Z" = 3', RUNS)[0].key == "X//Y#$$@&Z"
    assert parse_filter('params."p.a.r.a.m" != "a"', RUNS)[0] == Comparison("param", "p.a.r.a.m", "!=", "a")


def test_unquoted_dotted_key_splits_on_the_first_dot() -> None:
    # BC-03 (e), BC-27: tags.mlflow.parentRunId works unquoted, as in MLflow's docs.
    assert parse_filter("params.cat.dog = '1'", RUNS)[0].key == "cat.dog"
    assert parse_filter("tags.mlflow.parentRunId = 'abc'", RUNS)[0] == Comparison(
        "tag", "mlflow.parentRunId", "=", "abc"
    )
    assert parse_filter("metrics.accuracy.2.0 > 5", RUNS)[0].key == "accuracy.2.0"


@pytest.mark.parametrize("text", ["params.cat-dog = '2'", "params.cat dog = '2'", "tags.`a`.b = 'x'"])
def test_unquoted_keys_with_hyphen_or_space_are_rejected(text: str) -> None:
    # BC-03 (d), (f)
    assert "quote" in rejects(text)


def test_quoted_key_must_touch_the_dot() -> None:
    assert "must follow the dot" in rejects("tags. `x` = 'y'")


def test_string_values_take_either_quote_and_escapes() -> None:
    assert parse_filter('tags.t = "it\'s"', RUNS)[0].value == "it's"
    assert parse_filter("tags.t = 'it''s'", RUNS)[0].value == "it's"
    assert parse_filter("tags.t = 'it\\'s'", RUNS)[0].value == "it's"
    assert parse_filter("tags.t = ''", RUNS)[0].value == ""


def test_unterminated_quote_is_rejected() -> None:
    assert "never closed" in rejects("tags.t = 'abc")


@pytest.mark.parametrize("text", ["tags.t = LR", "params.lr = 0.01", "attributes.status = FINISHED"])
def test_unquoted_string_values_are_rejected(text: str) -> None:
    # BC-11 (c), (f)
    assert "not quoted" in rejects(text)


@pytest.mark.parametrize("text", ["metrics.acc = '5'", "metrics.acc > acc", "attributes.start_time > '5'"])
def test_numeric_fields_need_numbers(text: str) -> None:
    # BC-11 (e)
    assert "Expected numeric value" in rejects(text)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_metric_comparators(op: str) -> None:
    assert parse_filter(f"metrics.m {op} -1.5e3", RUNS) == (Comparison("metric", "m", op, -1500.0),)


@pytest.mark.parametrize("op", ["LIKE", "ILIKE", "IN", "IS NULL"])
def test_metrics_reject_string_comparators(op: str) -> None:
    rejects(f"metrics.m {op} '1'" if op != "IS NULL" else "metrics.m IS NULL")


@pytest.mark.parametrize("entity", ["params", "tags"])
def test_param_and_tag_comparators(entity: str) -> None:
    for op in ("=", "!=", "LIKE", "ILIKE", "like", "ilike"):
        assert parse_filter(f"{entity}.k {op} 'v'", RUNS)[0].op == op.upper()
    assert parse_filter(f"{entity}.k IS NULL", RUNS)[0].op == "IS NULL"
    assert parse_filter(f"{entity}.k is not null", RUNS)[0] == Comparison(
        entity[:-1], "k", "IS NOT NULL", None
    )
    for op in ("<", ">", "<=", ">="):
        # BC-11 (d): params are strings, never compared as numbers.
        assert "Invalid comparator" in rejects(f"{entity}.k {op} '0.01'")
    assert "Invalid comparator 'IN'" in rejects(f"{entity}.y IN ('a')")


def test_or_and_parentheses_are_rejected() -> None:
    # BC-11 (a), (b)
    assert "Invalid clause(s) in filter string" in rejects("metrics.A > 0.1 OR params.B = 'LR'")
    assert "'OR'" in rejects("metrics.A > 0.1 OR params.B = 'LR'")
    assert "Invalid clause(s) in filter string" in rejects("metrics.A > 0.1 AND (params.B = 'LR')")
    assert "Invalid clause(s) in filter string" in rejects("(metrics.A > 0.1)")
    assert "Invalid clause(s)" in rejects("metrics.A > 0.1 AND")
    assert "Invalid clause(s)" in rejects("metrics.A > 0.1 params.B = 'LR'")


def test_malformed_comparisons_are_rejected() -> None:
    rejects("metrics.A")
    rejects("metrics.A >")
    rejects("metrics.A == 1")
    rejects("params.a NOT LIKE 'x'")
    rejects("params.a IS 'x'")
    rejects("tags.`` = 'x'")


def test_string_attributes_and_aliases() -> None:
    for key in ("run_id", "run_name", "status", "user_id", "artifact_uri"):
        for op in ("=", "!=", "LIKE", "ILIKE"):
            assert parse_filter(f"attributes.{key} {op} 'x'", RUNS)[0] == Comparison(
                "attribute", key, op, "x"
            )
    for alias in ("`run name`", "`Run name`", "`Run Name`", '"Run Name"'):
        assert parse_filter(f"attributes.{alias} = 'a'", RUNS)[0].key == "run_name"
        assert parse_filter(f"{alias} = 'a'", RUNS)[0].key == "run_name"


def test_unprefixed_keys_are_attributes() -> None:
    assert parse_filter("run_name = 'x'", RUNS) == (Comparison("attribute", "run_name", "=", "x"),)
    assert parse_filter("created > 5", RUNS) == (Comparison("attribute", "start_time", ">", 5.0),)


def test_numeric_attributes() -> None:
    for spelling, key in (
        ("start_time", "start_time"),
        ("end_time", "end_time"),
        ("created", "start_time"),
        ("Created", "start_time"),
    ):
        assert parse_filter(f"attributes.{spelling} >= 1700000000000", RUNS)[0] == Comparison(
            "attribute", key, ">=", 1.7e12
        )
    assert "Invalid comparator" in rejects("attributes.start_time LIKE '1%'")


def test_only_run_id_takes_a_list() -> None:
    # BC-07
    assert parse_filter("attributes.run_id IN ('a', 'b')", RUNS)[0] == Comparison(
        "attribute", "run_id", "IN", ("a", "b")
    )
    assert parse_filter("attributes.run_id not in ('a')", RUNS)[0].op == "NOT IN"
    for text in ("attributes.run_name IN ('alpha','beta')", "attributes.status IN ('FINISHED')"):
        assert "Only ['run_id'] attributes support comparison with a list" in rejects(text)


@pytest.mark.parametrize(
    "text",
    [
        "attributes.run_id IN 'a'",
        "attributes.run_id IN ()",
        "attributes.run_id IN ('a',)",
        "attributes.run_id IN (1)",
    ],
)
def test_malformed_lists_are_rejected(text: str) -> None:
    assert "list of quoted string values" in rejects(text)


def test_unknown_attributes_and_lifecycle_stage_are_rejected() -> None:
    assert "Invalid attribute key 'lifecycle_stage'" in rejects("attributes.lifecycle_stage = 'active'")
    rejects("attributes.nope = 'x'")
    rejects("nope = 'x'")


def test_attribute_keys_are_case_sensitive_but_tag_keys_pass_through() -> None:
    rejects("attributes.STATUS = 'x'")
    assert parse_filter("tags.T2 = 'xyz'", RUNS)[0].key == "T2"


def test_dataset_filters() -> None:
    # BC-10
    for key in ("name", "digest", "context"):
        for op in ("=", "!=", "LIKE", "ILIKE"):
            assert parse_filter(f"datasets.{key} {op} 'x'", RUNS)[0] == Comparison("dataset", key, op, "x")
        assert parse_filter(f"dataset.{key} IN ('a','b')", RUNS)[0].value == ("a", "b")
        assert parse_filter(f"datasets.{key} NOT IN ('a')", RUNS)[0].op == "NOT IN"
    assert "Invalid dataset key 'profile'" in rejects("datasets.profile = 'x'")
    assert "Invalid comparator '>'" in rejects("datasets.name > 'x'")
    assert "not quoted" in rejects("datasets.digest = 5")


def test_order_by_directions_and_default() -> None:
    # BC-01: a backticked key with spaces, each direction spelling.
    assert parse_order_by(["metrics.`Mean Square Error` DESC"], RUNS) == [
        OrderKey("metric", "Mean Square Error", ascending=False)
    ]
    assert parse_order_by(["metrics.`Mean Square Error` ASC"], RUNS)[0].ascending
    assert parse_order_by(["metrics.`Mean Square Error`"], RUNS)[0].ascending
    assert parse_order_by(["params.p desc", "tags.t", "start_time DESC"], RUNS) == [
        OrderKey("param", "p", False),
        OrderKey("tag", "t", True),
        OrderKey("attribute", "start_time", False),
    ]
    assert parse_order_by([], RUNS) == []
    assert parse_order_by(None, RUNS) == []


def test_orderable_run_attributes() -> None:
    for key in ("artifact_uri", "end_time", "run_id", "run_name", "start_time", "status", "user_id"):
        assert parse_order_by([f"attributes.{key} DESC"], RUNS)[0] == OrderKey("attribute", key, False)
    assert parse_order_by(["created"], RUNS)[0].key == "start_time"


@pytest.mark.parametrize("clause", ["metrics.accuracy DECS", "attribute.run_id ACS", "attribute.run_id decs"])
def test_invalid_direction_is_rejected(clause: str) -> None:
    # BC-04: never read as a metric named 'accuracy DECS'.
    assert "Invalid ordering key" in rejects_order(clause)


@pytest.mark.parametrize("clause", ["", "   ", "metrics.a DESC extra", "'metrics.a'", "metrics.a ,"])
def test_unparsable_order_by_is_rejected(clause: str) -> None:
    assert "Invalid order_by clause" in rejects_order(clause) or "Invalid ordering key" in rejects_order(
        clause
    )


def test_order_by_bad_entity_and_unorderable_keys() -> None:
    assert "Invalid entity type 'foo'" in rejects_order("foo.bar")
    assert "Invalid order_by key" in rejects_order("datasets.name")
    assert "Invalid attribute key" in rejects_order("attributes.lifecycle_stage")


def test_non_string_order_by_is_rejected() -> None:
    with pytest.raises(InvalidParameter):
        parse_order_by([5], RUNS)  # type: ignore[list-item]


def test_experiment_grammar() -> None:
    assert parse_filter("name LIKE 'exp%' and tags.team = 'a'", EXPERIMENTS) == (
        Comparison("attribute", "name", "LIKE", "exp%"),
        Comparison("tag", "team", "=", "a"),
    )
    assert parse_filter("attribute.experiment_id IN ('1', '2')", EXPERIMENTS)[0].value == ("1", "2")
    assert parse_filter("experiment_id = 3", EXPERIMENTS)[0].value == "3"
    assert parse_filter("creation_time > 5 and last_update_time <= 6", EXPERIMENTS)[1].op == "<="
    assert parse_filter("tags.t IS NULL", EXPERIMENTS)[0].op == "IS NULL"
    assert "Only ['experiment_id'] attributes" in rejects("name IN ('a')", EXPERIMENTS)
    rejects("metrics.a > 1", EXPERIMENTS)
    rejects("run_name = 'x'", EXPERIMENTS)
    assert parse_order_by(["name", "experiment_id DESC", "last_update_time"], EXPERIMENTS)[1] == OrderKey(
        "attribute", "experiment_id", False
    )
    assert "Invalid order_by key" in rejects_order("tags.t", EXPERIMENTS)


def test_logged_model_grammar() -> None:
    parsed = parse_filter(
        "name = 'm' and metrics.acc >= 0.9 and params.lr = '0.1' and tags.t ILIKE 'x' and creation_timestamp > 1",
        LOGGED_MODELS,
    )
    assert [c.entity for c in parsed] == ["attribute", "metric", "param", "tag", "attribute"]
    assert parsed[-1].key == "creation_time"
    assert parse_filter("last_updated_timestamp < 5", LOGGED_MODELS)[0].key == "last_updated_time"
    for key in ("model_id", "status", "source_run_id", "model_type"):
        assert parse_filter(f"attributes.{key} != 'x'", LOGGED_MODELS)[0].key == key
    rejects("params.lr IS NULL", LOGGED_MODELS)
    rejects("datasets.name = 'x'", LOGGED_MODELS)
    assert parse_field_name("metrics.acc", LOGGED_MODELS, ascending=False) == OrderKey("metric", "acc", False)
    assert parse_field_name("creation_timestamp", LOGGED_MODELS).key == "creation_time"
    with pytest.raises(InvalidParameter):
        parse_field_name("metrics.acc DESC", LOGGED_MODELS)
    with pytest.raises(InvalidParameter):
        parse_field_name("params.lr", LOGGED_MODELS)


def test_registry_grammars_are_ready_for_use() -> None:
    assert parse_filter("name IN ('a', 'b') and tags.`k` = 'v'", REGISTERED_MODELS)[0].op == "IN"
    assert parse_order_by(["creation_timestamp DESC", "name"], REGISTERED_MODELS)[0].ascending is False
    assert "order_by only" in rejects("creation_timestamp > 1", REGISTERED_MODELS)
    rejects("tags.k IS NULL", REGISTERED_MODELS)
    assert parse_filter(
        "run_id IN ('a') and version_number > 2 and source_path LIKE 's3://%'", MODEL_VERSIONS
    )[1] == (Comparison("attribute", "version_number", ">", 2.0))
    assert "Only ['name', 'run_id'] attributes" in rejects("source_path IN ('x')", MODEL_VERSIONS)


def test_huge_filter_is_rejected_quickly() -> None:
    assert "longer than" in rejects("tags.t = '" + "x" * 200_000 + "'")
