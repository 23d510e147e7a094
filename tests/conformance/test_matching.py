"""Tests for the offline conformance checks in ``matching.py``."""

from __future__ import annotations

import doctest
import random
import re
from pathlib import Path
from typing import Any

import matching
import pytest
from locate import require_conformance_dir
from matching import (
    Bindings,
    MatchError,
    load_requirement,
    match_history,
    match_logs,
    match_result,
)


def _event(event_id: int, **fields: Any) -> dict[str, Any]:
    return {"EventId": event_id, **fields}


# --- Bindings -----------------------------------------------------------------


def test_gen_str_variable_is_eight_chars_of_a_z_0_9_and_reproducible() -> None:
    variables = {"INPUT_1": "${GEN_STR:8}"}

    first = Bindings.from_variables(variables, random.Random(42))["INPUT_1"]
    again = Bindings.from_variables(variables, random.Random(42))["INPUT_1"]
    other = Bindings.from_variables(variables, random.Random(43))["INPUT_1"]

    assert re.fullmatch(r"[a-z0-9]{8}", first)
    assert first == again
    assert first != other


def test_other_variables_are_bound_literally_or_through_str() -> None:
    bindings = Bindings.from_variables({"NAME": "step-1", "N": 3, "FLAG": True}, random.Random(0))

    assert bindings.as_dict() == {"NAME": "step-1", "N": "3", "FLAG": "True"}


def test_missing_variables_bind_nothing() -> None:
    assert Bindings.from_variables(None, random.Random(0)).as_dict() == {}


def test_substitute_walks_dicts_and_lists_and_replaces_embedded_placeholders() -> None:
    bindings = Bindings({"INPUT_1": "abc", "N": 5})

    result = bindings.substitute(
        {"a": '"${INPUT_1}"', "b": ["Hello, ${INPUT_1}!", "${N}", 5], "c": None}
    )

    assert result == {"a": '"abc"', "b": ["Hello, abc!", "5", 5], "c": None}


def test_substitute_leaves_unbound_placeholders_untouched() -> None:
    assert Bindings({"A": "x"}).substitute("${A}-${B}-${GEN_STR:8}") == ("x-${B}-${GEN_STR:8}")


def test_rebinding_to_the_same_value_is_allowed() -> None:
    bindings = Bindings({"ID1": "op-1"})
    bindings.bind("ID1", "op-1")
    assert bindings["ID1"] == "op-1"


def test_rebinding_to_a_different_value_raises_a_value_error() -> None:
    bindings = Bindings({"ID1": "op-1"})
    with pytest.raises(ValueError, match=r"\$\{ID1\}"):
        bindings.bind("ID1", "op-2")
    assert issubclass(MatchError, ValueError)


# --- match_history --------------------------------------------------------------


def test_wildcard_accepts_any_value() -> None:
    expected = [_event(2, EventTimestamp="*")]

    for value in ("2024-01-01", 17, None, {"x": 1}):
        actual = [_event(2, EventTimestamp=value)]
        assert match_history(expected, actual, Bindings()) == []


def test_wildcard_still_requires_the_key() -> None:
    errors = match_history([_event(2, Name="*")], [_event(2)], Bindings())

    assert errors == ["EventId=2 Name: key missing in actual event"]


def test_empty_dict_is_dont_care_for_any_value() -> None:
    expected = [_event(2, StepStartedDetails={})]

    for value in ({}, {"a": 1}, None, "text"):
        actual = [_event(2, StepStartedDetails=value)]
        assert match_history(expected, actual, Bindings()) == []


def test_empty_dict_requires_the_key_to_be_present() -> None:
    errors = match_history([_event(4, InvocationCompletedDetails={})], [_event(4)], Bindings())

    assert errors == ["EventId=4 InvocationCompletedDetails: key missing in actual event"]


def test_regex_matches_the_string_form_of_an_int() -> None:
    expected = [_event(3, RetryDetails={"NextAttemptDelaySeconds": "${/^[0-5]$/}"})]

    passing = [_event(3, RetryDetails={"NextAttemptDelaySeconds": 3})]
    failing = [_event(3, RetryDetails={"NextAttemptDelaySeconds": 7})]

    assert match_history(expected, passing, Bindings()) == []
    errors = match_history(expected, failing, Bindings())
    assert len(errors) == 1
    assert errors[0].startswith("EventId=3 RetryDetails.NextAttemptDelaySeconds: ")


def test_regex_searches_rather_than_fully_matching() -> None:
    expected = [_event(3, ErrorType="${/.*TransientError$/}", Payload="${/wrapped/}")]
    actual = [_event(3, ErrorType="app.TransientError", Payload="x wrapped:1")]

    assert match_history(expected, actual, Bindings()) == []
    wrong = [_event(3, ErrorType="TransientErrorX", Payload="x wrapped:1")]
    assert len(match_history(expected, wrong, Bindings())) == 1


def test_placeholder_binds_on_first_use_and_must_repeat_later() -> None:
    expected = [_event(2, Id="${ID1}"), _event(3, Id="${ID1}")]
    bindings = Bindings()

    same = [_event(2, Id="op-1"), _event(3, Id="op-1")]
    assert match_history(expected, same, bindings) == []
    assert bindings["ID1"] == "op-1"

    different = [_event(2, Id="op-1"), _event(3, Id="op-2")]
    errors = match_history(expected, different, Bindings())
    assert errors == ["EventId=3 Id: expected 'op-1' (${ID1}), found 'op-2'"]


def test_placeholder_binds_any_type() -> None:
    bindings = Bindings()

    assert match_history([_event(2, Attempt="${A}")], [_event(2, Attempt=2)], bindings) == []
    assert bindings["A"] == 2


def test_placeholder_bound_from_variables_compares_as_a_string() -> None:
    bindings = Bindings.from_variables({"N": 2}, random.Random(0))

    assert match_history([_event(2, V="${N}")], [_event(2, V="2")], bindings) == []
    assert len(match_history([_event(2, V="${N}")], [_event(2, V=2)], bindings)) == 1


def test_embedded_placeholder_is_substituted_before_literal_comparison() -> None:
    bindings = Bindings({"INPUT_1": "abc12345"})
    expected = [_event(3, StepSucceededDetails={"Result": {"Payload": '"${INPUT_1}"'}})]

    good = [_event(3, StepSucceededDetails={"Result": {"Payload": '"abc12345"'}})]
    bad = [_event(3, StepSucceededDetails={"Result": {"Payload": '"zzz"'}})]

    assert match_history(expected, good, bindings) == []
    assert match_history(expected, bad, bindings) == [
        "EventId=3 StepSucceededDetails.Result.Payload: expected '\"abc12345\"', found '\"zzz\"'"
    ]


def test_missing_event_id_is_reported() -> None:
    errors = match_history([_event(2), _event(5)], [_event(2)], Bindings())

    assert errors == ["No actual event found for EventId=5"]


def test_literal_comparison_requires_the_same_type() -> None:
    expected = [_event(3, RetryDetails={"CurrentAttempt": 2})]

    assert (
        match_history(expected, [_event(3, RetryDetails={"CurrentAttempt": 2})], Bindings()) == []
    )
    assert match_history(
        expected, [_event(3, RetryDetails={"CurrentAttempt": "2"})], Bindings()
    ) == ["EventId=3 RetryDetails.CurrentAttempt: expected 2, found '2'"]


def test_extra_actual_keys_and_unasserted_events_are_ignored() -> None:
    expected = [_event(3, EventType="StepSucceeded", StepSucceededDetails={"Result": {}})]
    actual = [
        _event(1, EventType="ExecutionStarted"),
        _event(
            3,
            EventType="StepSucceeded",
            Name="extra",
            StepSucceededDetails={"Result": {"Payload": "1"}, "RetryDetails": {}},
        ),
        _event(4, EventType="InvocationCompleted"),
    ]

    assert match_history(expected, actual, Bindings()) == []


def test_expected_object_against_a_non_object_fails() -> None:
    errors = match_history(
        [_event(3, Error={"Payload": {}})], [_event(3, Error="boom")], Bindings()
    )

    assert errors == ["EventId=3 Error: expected an object, found 'boom'"]


def test_lists_match_in_order_and_with_equal_length() -> None:
    expected = [_event(2, Items=["a", "${X}"])]

    assert match_history(expected, [_event(2, Items=["a", "b"])], Bindings()) == []
    assert match_history(expected, [_event(2, Items=["b", "a"])], Bindings()) == [
        "EventId=2 Items[0]: expected 'a', found 'b'"
    ]
    assert len(match_history(expected, [_event(2, Items=["a"])], Bindings())) == 1


def test_a_real_requirement_matches_a_conforming_history() -> None:
    path = require_conformance_dir() / "step" / "1-11.yaml"
    assert path.exists(), f"{path} is missing"
    requirement = load_requirement(path)
    details: dict[str, Any] = {"Id": "op-1", "SubType": "Step", "EventTimestamp": "t"}
    history = [
        _event(1, EventType="ExecutionStarted"),
        _event(2, EventType="StepStarted", StepStartedDetails={}, **details),
        _event(
            3,
            EventType="StepFailed",
            StepFailedDetails={
                "Error": {"Payload": {"ErrorType": "Exception"}},
                "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
            },
            **details,
        ),
        _event(
            4, EventType="InvocationCompleted", EventTimestamp="t", InvocationCompletedDetails={}
        ),
        _event(5, EventType="StepStarted", StepStartedDetails={}, **details),
        _event(
            6,
            EventType="StepSucceeded",
            StepSucceededDetails={
                "Result": {"Payload": '"ok"'},
                "RetryDetails": {"CurrentAttempt": 2},
            },
            **details,
        ),
        _event(
            7, EventType="InvocationCompleted", EventTimestamp="t", InvocationCompletedDetails={}
        ),
    ]
    bindings = Bindings.from_variables(requirement.get("Variables"), random.Random(0))

    assert match_history(requirement["ExpectedExecutionHistory"], history, bindings) == []
    assert bindings["ID1"] == "op-1"
    history[5]["Id"] = "op-2"
    assert match_history(requirement["ExpectedExecutionHistory"], history, bindings) == [
        "EventId=6 Id: expected 'op-1' (${ID1}), found 'op-2'"
    ]


# --- match_result ---------------------------------------------------------------


def test_result_is_json_decoded_once_and_compared_after_substitution() -> None:
    expected = {"ExecutionStatus": "SUCCEEDED", "Result": "Hello, ${INPUT_1}!"}
    bindings = Bindings({"INPUT_1": "abc"})

    assert match_result(expected, "SUCCEEDED", '"Hello, abc!"', bindings) == []
    assert match_result(expected, "SUCCEEDED", '"Hello, xyz!"', bindings) == [
        "Result: expected 'Hello, abc!', found 'Hello, xyz!'"
    ]


def test_result_json_structures_compare_by_value() -> None:
    expected = {"ExecutionStatus": "SUCCEEDED", "Result": ["r0", "r1", 2]}

    assert match_result(expected, "SUCCEEDED", '["r0", "r1", 2]', Bindings()) == []
    assert len(match_result(expected, "SUCCEEDED", '["r0", "r1", "2"]', Bindings())) == 1


def test_non_json_result_falls_back_to_the_raw_string() -> None:
    expected = {"ExecutionStatus": "SUCCEEDED", "Result": "HELLO CHILD"}

    assert match_result(expected, "SUCCEEDED", "HELLO CHILD", Bindings()) == []
    assert len(match_result(expected, "SUCCEEDED", "hello child", Bindings())) == 1


def test_quoted_expected_result_means_the_value_contains_quotes() -> None:
    expected = {"ExecutionStatus": "SUCCEEDED", "Result": '"HELLO"'}

    assert match_result(expected, "SUCCEEDED", '"\\"HELLO\\""', Bindings()) == []
    assert len(match_result(expected, "SUCCEEDED", '"HELLO"', Bindings())) == 1


def test_none_result_stays_none() -> None:
    assert (
        match_result(
            {"ExecutionStatus": "SUCCEEDED", "Result": None}, "SUCCEEDED", None, Bindings()
        )
        == []
    )
    assert (
        len(
            match_result(
                {"ExecutionStatus": "SUCCEEDED", "Result": "x"}, "SUCCEEDED", None, Bindings()
            )
        )
        == 1
    )


def test_status_mismatch_is_reported() -> None:
    assert match_result({"ExecutionStatus": "FAILED"}, "SUCCEEDED", '"x"', Bindings()) == [
        "ExecutionStatus: expected 'FAILED', found 'SUCCEEDED'"
    ]


def test_result_is_not_checked_unless_the_execution_succeeded() -> None:
    expected = {"ExecutionStatus": "FAILED", "Result": "never compared"}

    assert match_result(expected, "FAILED", '"something else"', Bindings()) == []


def test_result_is_not_checked_when_the_expectation_has_no_result() -> None:
    assert match_result({"ExecutionStatus": "SUCCEEDED"}, "SUCCEEDED", '"any"', Bindings()) == []


# --- match_logs -----------------------------------------------------------------

RECORDS: list[dict[str, Any]] = [
    {"plugin": "P", "hook": "invocation-start", "first": True},
    {"message": "Greeting step running for: abc12345"},
    {"message": "  retry 1  ", "attempt": 1},
    {"message": "Greeting step running for: abc12345", "attempt": 2},
    {"plugin": "P", "hook": "invocation-end", "status": "SUCCEEDED"},
]


def test_log_count_is_exact() -> None:
    entry = {"match": {"message": "/Greeting step running/"}, "count": 2}

    assert match_logs([entry], RECORDS, Bindings()) == []
    assert len(match_logs([{**entry, "count": 1}], RECORDS, Bindings())) == 1
    assert (
        match_logs([{"match": {"message": "/\\[ERROR\\]/"}, "count": 0}], RECORDS, Bindings()) == []
    )


def test_log_min_and_max_count() -> None:
    matcher = {"message": "/Greeting/"}

    assert match_logs([{"match": matcher, "min_count": 2}], RECORDS, Bindings()) == []
    assert len(match_logs([{"match": matcher, "min_count": 3}], RECORDS, Bindings())) == 1
    assert match_logs([{"match": matcher, "max_count": 2}], RECORDS, Bindings()) == []
    assert len(match_logs([{"match": matcher, "max_count": 1}], RECORDS, Bindings())) == 1


def test_log_default_cardinality_is_at_least_one() -> None:
    assert match_logs([{"match": {"hook": "invocation-end"}}], RECORDS, Bindings()) == []
    assert len(match_logs([{"match": {"hook": "attempt-end"}}], RECORDS, Bindings())) == 1


def test_log_regex_substitutes_placeholders() -> None:
    entry = {"match": {"message": "/${INPUT_1}/"}, "count": 2}

    assert match_logs([entry], RECORDS, Bindings({"INPUT_1": "abc12345"})) == []
    assert len(match_logs([entry], RECORDS, Bindings({"INPUT_1": "zzz"}))) == 1


def test_log_match_is_an_and_over_fields() -> None:
    entry = {"match": {"message": "/Greeting/", "attempt": 2}, "count": 1}

    assert match_logs([entry], RECORDS, Bindings()) == []


def test_log_plain_strings_compare_exactly_after_strip() -> None:
    assert match_logs([{"match": {"message": "retry 1"}, "count": 1}], RECORDS, Bindings()) == []
    assert match_logs([{"match": {"message": "retry"}, "count": 0}], RECORDS, Bindings()) == []


def test_log_booleans_compare_by_identity_and_numbers_as_floats() -> None:
    records: list[dict[str, Any]] = [{"first": 1, "n": 1.0}, {"first": True, "n": True}]

    assert match_logs([{"match": {"first": True}, "count": 1}], records, Bindings()) == []
    assert match_logs([{"match": {"n": 1}, "count": 1}], records, Bindings()) == []


def test_log_after_anchor_orders_by_record_position() -> None:
    end_after_greeting = {
        "match": {"hook": "invocation-end"},
        "count": 1,
        "after": [{"message": "/Greeting step running/"}],
    }
    start_after_greeting = {
        "match": {"hook": "invocation-start"},
        "after": [{"message": "/Greeting step running/"}],
    }

    assert match_logs([end_after_greeting], RECORDS, Bindings()) == []
    errors = match_logs([start_after_greeting], RECORDS, Bindings())
    assert len(errors) == 1
    assert "not after anchor" in errors[0]


def test_log_before_anchor_orders_by_record_position() -> None:
    start_before_end = {
        "match": {"hook": "invocation-start"},
        "before": [{"hook": "invocation-end"}],
    }
    end_before_start = {"match": {"hook": "invocation-end"}, "before": {"hook": "invocation-start"}}

    assert match_logs([start_before_end], RECORDS, Bindings()) == []
    assert len(match_logs([end_before_start], RECORDS, Bindings())) == 1


def test_log_anchor_that_matches_nothing_is_an_error() -> None:
    entry = {"match": {"hook": "invocation-end"}, "after": [{"hook": "never"}]}

    errors = match_logs([entry], RECORDS, Bindings())

    assert len(errors) == 1
    assert "matches no log record" in errors[0]


def test_log_entry_with_an_unknown_key_is_rejected() -> None:
    with pytest.raises(MatchError, match="unordered"):
        match_logs([{"match": {"message": "x"}, "unordered": True}], RECORDS, Bindings())
    with pytest.raises(MatchError, match="'match'"):
        match_logs([{"count": 1}], RECORDS, Bindings())


# --- load_requirement and docstrings -------------------------------------------


def test_every_shared_requirement_loads_and_has_expectations() -> None:
    conformance_dir = require_conformance_dir()
    paths = sorted(conformance_dir.glob("*/*.yaml"))

    assert paths, f"no requirement found under {conformance_dir}"
    for path in paths:
        requirement = load_requirement(path)
        assert "ExpectedExecutionHistory" in requirement or "ExpectedResult" in requirement, path


def test_load_requirement_rejects_a_non_mapping(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")

    with pytest.raises(MatchError, match="mapping"):
        load_requirement(path)


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(matching)

    assert tried > 0
    assert failures == 0
