"""Offline checks of a conformance requirement against an execution's outcome.

The official conformance runner validates three things after running a
requirement: the execution history (``ExpectedExecutionHistory``), the final
status and result (``ExpectedResult``) and, for a few requirements, the log
records (``ExpectedLogs``). This module re-implements those checks as pure
functions so that our own runs can be held to the same rules without AWS
(see ``shared/spec/conformance-suite.md`` §1.2-§1.4 and §1.7).

All checks share one :class:`Bindings`, exactly as the runner shares one
placeholder context across Input, history, result and logs::

    bindings = Bindings.from_variables(req.get("Variables"), random.Random(0))
    errors = match_history(req["ExpectedExecutionHistory"], events, bindings)
    errors += match_result(req["ExpectedResult"], status, result_json, bindings)

Every check returns a list of human-readable mismatches; empty means a match.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, final

import yaml

__all__ = [
    "Bindings",
    "MatchError",
    "load_requirement",
    "match_history",
    "match_logs",
    "match_result",
]

_PLACEHOLDER: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Greedy on purpose, like the official matcher: "${A}-${B}" is one name.
_WHOLE_PLACEHOLDER: Final = re.compile(r"\$\{(.+)\}")
_GEN_STR: Final = re.compile(r"\$\{GEN_STR:(\d+)\}")
_GEN_STR_ALPHABET: Final = string.ascii_lowercase + string.digits
_LOG_ENTRY_KEYS: Final = frozenset({"match", "count", "min_count", "max_count", "before", "after"})


class MatchError(ValueError):
    """A requirement cannot be applied as written (e.g. a placeholder re-bound)."""


@final
class Bindings:
    """The flat placeholder bindings (``NAME`` -> value) of one requirement run.

    Example:
        >>> bindings = Bindings({"INPUT_1": "abc"})
        >>> bindings.substitute({"greeting": "Hello, ${INPUT_1}!", "n": [1]})
        {'greeting': 'Hello, abc!', 'n': [1]}
        >>> bindings.bind("ID1", "op-1")
        >>> bindings.as_dict()
        {'INPUT_1': 'abc', 'ID1': 'op-1'}
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        """Start with a copy of ``values`` (no bindings when omitted)."""
        self._values: dict[str, Any] = dict(values or {})

    @classmethod
    def from_variables(cls, variables: Mapping[str, Any] | None, rng: random.Random) -> Bindings:
        """Bind a requirement's ``Variables`` section.

        ``${GEN_STR:N}`` becomes ``N`` random characters from ``[a-z0-9]``
        drawn from ``rng``; other strings are bound as they are and other
        values through ``str()``.

        Args:
            variables: The ``Variables`` mapping, or ``None`` when absent.
            rng: The source of randomness, seeded for reproducible runs.

        Returns:
            New bindings holding one string per variable.

        Example:
            >>> b = Bindings.from_variables(
            ...     {"A": "${GEN_STR:4}", "B": "x", "C": 3}, random.Random(1)
            ... )
            >>> len(b["A"]), b["B"], b["C"]
            (4, 'x', '3')
        """
        bindings = cls()
        for name, value in (variables or {}).items():
            generated = _GEN_STR.fullmatch(value) if isinstance(value, str) else None
            if generated is not None:
                length = int(generated.group(1))
                bindings.bind(name, "".join(rng.choices(_GEN_STR_ALPHABET, k=length)))
            elif isinstance(value, str):
                bindings.bind(name, value)
            else:
                bindings.bind(name, str(value))
        return bindings

    def __contains__(self, name: object) -> bool:
        """Tell whether ``name`` is bound."""
        return name in self._values

    def __getitem__(self, name: str) -> Any:
        """Return the value bound to ``name``; ``KeyError`` when unbound."""
        return self._values[name]

    def as_dict(self) -> dict[str, Any]:
        """Return a copy of all bindings, in the order they were made."""
        return dict(self._values)

    def bind(self, name: str, value: Any) -> None:
        """Bind ``name`` to ``value``; binding the same value again is a no-op.

        Raises:
            MatchError: ``name`` is already bound to a different value.

        Example:
            >>> b = Bindings({"ID1": "op-1"})
            >>> try:
            ...     b.bind("ID1", "op-2")
            ... except MatchError as error:
            ...     print(error)
            placeholder ${ID1} is bound to 'op-1'; cannot re-bind it to 'op-2'
        """
        if name in self._values and self._values[name] != value:
            raise MatchError(
                f"placeholder ${{{name}}} is bound to {self._values[name]!r}; "
                f"cannot re-bind it to {value!r}"
            )
        self._values[name] = value

    def substitute(self, data: Any) -> Any:
        """Replace every bound ``${NAME}`` in the strings of ``data``.

        Dicts (values only) and lists are walked recursively; placeholders
        embedded in longer strings are replaced too, with ``str(value)``.
        Unbound placeholders and non-string leaves are left as they are.

        Example:
            >>> Bindings({"X": 7}).substitute(['"${X}"', "${Y}", 7])
            ['"7"', '${Y}', 7]
        """
        if isinstance(data, str):
            return _PLACEHOLDER.sub(self._replacement, data)
        if isinstance(data, dict):
            return {key: self.substitute(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self.substitute(item) for item in data]
        return data

    def _replacement(self, found: re.Match[str]) -> str:
        name = found.group(1)
        return str(self._values[name]) if name in self._values else found.group(0)


def match_history(
    expected_events: list[dict[str, Any]],
    actual_events: list[dict[str, Any]],
    bindings: Bindings,
) -> list[str]:
    """Match ``ExpectedExecutionHistory`` against the actual history events.

    Each expected event is paired with the actual event of the same
    ``EventId``; only the keys the expectation lists are checked, recursively:
    ``{}`` accepts anything, ``"*"`` accepts anything, ``"${/re/}"`` must
    ``re.search`` ``str(actual)``, a whole ``"${NAME}"`` must equal the bound
    value or else binds it, dicts match key by key (the key must exist in the
    actual dict; extra actual keys are ignored), lists match element by
    element, and anything else is compared with ``==`` after substituting
    bound placeholders into expected strings. Unlike the official runner, all
    events are checked instead of stopping at the first failing one.

    Args:
        expected_events: The requirement's ``ExpectedExecutionHistory``.
        actual_events: The execution's history events.
        bindings: Placeholder bindings; new bindings are recorded here.

    Returns:
        One message per mismatch; empty when the history matches.

    Example:
        >>> b = Bindings()
        >>> expected = [{"EventId": 2, "Id": "${ID1}", "StepStartedDetails": {}}]
        >>> actual = [{"EventId": 2, "Id": "op-1", "StepStartedDetails": None}]
        >>> match_history(expected, actual, b), b["ID1"]
        ([], 'op-1')
        >>> match_history([{"EventId": 3}], actual, b)
        ['No actual event found for EventId=3']
    """
    actual_by_id = {event.get("EventId"): event for event in actual_events}
    errors: list[str] = []
    for expected in expected_events:
        event_id = expected.get("EventId")
        actual = actual_by_id.get(event_id)
        if actual is None:
            errors.append(f"No actual event found for EventId={event_id}")
            continue
        errors.extend(
            f"EventId={event_id} {problem}"
            for problem in _match_value(expected, actual, "", bindings)
        )
    return errors


def _match_value(expected: Any, actual: Any, path: str, bindings: Bindings) -> list[str]:
    """Apply the §1.4 rules in order; return ``"<path>: <problem>"`` messages."""
    if isinstance(expected, dict) and not expected:
        return []
    if expected == "*":
        return []
    if isinstance(expected, str):
        whole = _WHOLE_PLACEHOLDER.fullmatch(expected)
        if whole is not None:
            return _match_placeholder(whole.group(1), actual, path, bindings)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, found {actual!r}"]
        errors: list[str] = []
        for key, value in expected.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in actual:
                errors.append(f"{child}: key missing in actual event")
            else:
                errors.extend(_match_value(value, actual[key], child, bindings))
        return errors
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected a list of {len(expected)}, found {actual!r}"]
        return [
            error
            for index, (item, found) in enumerate(zip(expected, actual, strict=True))
            for error in _match_value(item, found, f"{path}[{index}]", bindings)
        ]
    if isinstance(expected, str):
        expected = bindings.substitute(expected)
    if expected == actual:
        return []
    return [f"{path}: expected {expected!r}, found {actual!r}"]


def _match_placeholder(name: str, actual: Any, path: str, bindings: Bindings) -> list[str]:
    """Match a whole-string ``${...}``: a ``/regex/`` or a named placeholder."""
    if len(name) >= 2 and name.startswith("/") and name.endswith("/"):
        pattern = name[1:-1]
        if re.search(pattern, str(actual)) is not None:
            return []
        return [f"{path}: {actual!r} does not match /{pattern}/"]
    if name not in bindings:
        bindings.bind(name, actual)
        return []
    if bindings[name] == actual:
        return []
    return [f"{path}: expected {bindings[name]!r} (${{{name}}}), found {actual!r}"]


def match_result(
    expected_result: Mapping[str, Any],
    status: str,
    result_json: str | None,
    bindings: Bindings,
) -> list[str]:
    """Check ``ExpectedResult`` against the execution's status and result.

    The status is compared first. Only a SUCCEEDED execution has its result
    checked, and only when ``Result`` is a key of the expectation: the result
    is JSON-decoded once (kept as the raw string if it is not JSON) and
    compared with ``==`` against the expectation after substitution.

    Args:
        expected_result: The requirement's ``ExpectedResult``.
        status: The execution status, e.g. ``"SUCCEEDED"`` or ``"FAILED"``.
        result_json: The execution's serialized result, or ``None``.
        bindings: Placeholder bindings substituted into the expected result.

    Returns:
        One message per mismatch; empty when the result matches.

    Example:
        >>> expected = {"ExecutionStatus": "SUCCEEDED", "Result": "Hi, ${N}!"}
        >>> match_result(expected, "SUCCEEDED", '"Hi, Bo!"', Bindings({"N": "Bo"}))
        []
        >>> match_result(expected, "FAILED", None, Bindings())
        ["ExecutionStatus: expected 'SUCCEEDED', found 'FAILED'"]
    """
    errors: list[str] = []
    expected_status = expected_result.get("ExecutionStatus")
    if expected_status is not None and expected_status != status:
        errors.append(f"ExecutionStatus: expected {expected_status!r}, found {status!r}")
    if status != "SUCCEEDED" or "Result" not in expected_result:
        return errors
    actual = _decode_result(result_json)
    expected = bindings.substitute(expected_result["Result"])
    if expected != actual:
        errors.append(f"Result: expected {expected!r}, found {actual!r}")
    return errors


def _decode_result(result_json: str | None) -> Any:
    if result_json is None:
        return None
    try:
        return json.loads(result_json)
    except json.JSONDecodeError:
        return result_json


def match_logs(
    expected_logs: list[dict[str, Any]],
    records: list[dict[str, Any]],
    bindings: Bindings,
) -> list[str]:
    """Check ``ExpectedLogs`` against already captured log records.

    Each entry's ``match`` is an AND over top-level record fields: a string
    ``"/re/"`` must ``re.search`` ``str(field)``, another string must equal
    the (string) field after stripping both, a boolean must be the identical
    boolean, a number must equal the field as a float. Bound placeholders are
    substituted into the whole entry first. Cardinality is ``count`` (exact)
    or ``min_count``/``max_count``; with none of them, at least one record
    must match.

    ``after``/``before`` take one matcher or a list of them (anchors). The
    order is the order of ``records``, which the caller sorts by timestamp;
    ties between records are not modelled. Every anchor must match some
    record; every record counted by ``match`` must come after the first
    record an ``after`` anchor matches and before the last record a
    ``before`` anchor matches.

    Args:
        expected_logs: The requirement's ``ExpectedLogs``.
        records: Log records as dicts of top-level fields (``message``...).
        bindings: Placeholder bindings substituted into the entries.

    Returns:
        One message per violated entry constraint; empty when all hold.

    Raises:
        MatchError: An entry has no ``match`` mapping or an unknown key.

    Example:
        >>> records = [{"message": "start abc"}, {"message": "done abc"}]
        >>> entry = {"match": {"message": "/${IN}/"}, "count": 2}
        >>> match_logs([entry], records, Bindings({"IN": "abc"}))
        []
        >>> match_logs([{"match": {"message": "done abc"}, "after": [
        ...     {"message": "/start/"}]}], records, Bindings())
        []
    """
    errors: list[str] = []
    for index, raw_entry in enumerate(expected_logs):
        label = f"ExpectedLogs[{index}]"
        entry = bindings.substitute(raw_entry)
        if not isinstance(entry, dict):
            raise MatchError(f"{label}: an entry must be a mapping, found {entry!r}")
        unknown = sorted(set(entry) - _LOG_ENTRY_KEYS)
        if unknown:
            raise MatchError(f"{label}: unsupported key(s) {unknown}")
        matcher = _log_matcher(entry.get("match"), label)
        label = f"{label} {matcher!r}"
        matched = [i for i, record in enumerate(records) if _record_matches(matcher, record)]
        errors.extend(_check_cardinality(entry, len(matched), label))
        errors.extend(_check_anchors(entry, matched, records, label))
    return errors


def _log_matcher(value: Any, label: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise MatchError(f"{label}: 'match' must be a non-empty mapping, found {value!r}")
    return value


def _record_matches(matcher: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    return all(
        field in record and _field_matches(expected, record[field])
        for field, expected in matcher.items()
    )


def _field_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float | str):
            return False
        try:
            return float(actual) == float(expected)
        except ValueError:
            return False
    if isinstance(expected, str):
        if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
            return re.search(expected[1:-1], str(actual)) is not None
        return isinstance(actual, str) and actual.strip() == expected.strip()
    return bool(expected == actual)


def _check_cardinality(entry: Mapping[str, Any], found: int, label: str) -> list[str]:
    count = entry.get("count")
    if count is not None:
        if found == count:
            return []
        return [f"{label}: expected exactly {count} matching record(s), found {found}"]
    min_count = entry.get("min_count")
    max_count = entry.get("max_count")
    if min_count is None and max_count is None:
        min_count = 1
    errors: list[str] = []
    if min_count is not None and found < min_count:
        errors.append(f"{label}: expected at least {min_count} matching record(s), found {found}")
    if max_count is not None and found > max_count:
        errors.append(f"{label}: expected at most {max_count} matching record(s), found {found}")
    return errors


def _check_anchors(
    entry: Mapping[str, Any],
    matched: list[int],
    records: list[dict[str, Any]],
    label: str,
) -> list[str]:
    errors: list[str] = []
    for direction in ("after", "before"):
        anchors = entry.get(direction) or []
        for anchor in anchors if isinstance(anchors, list) else [anchors]:
            matcher = _log_matcher(anchor, f"{label} {direction}")
            positions = [i for i, record in enumerate(records) if _record_matches(matcher, record)]
            if not positions:
                errors.append(f"{label}: {direction} anchor {matcher!r} matches no log record")
                continue
            if direction == "after":
                misplaced = [i for i in matched if i <= positions[0]]
            else:
                misplaced = [i for i in matched if i >= positions[-1]]
            if misplaced:
                errors.append(
                    f"{label}: record(s) at position(s) {misplaced} are not "
                    f"{direction} anchor {matcher!r}"
                )
    return errors


def load_requirement(path: Path) -> dict[str, Any]:
    """Load one requirement YAML file.

    Args:
        path: The ``.yaml`` file, e.g. ``shared/conformance/step/1-1.yaml``.

    Returns:
        The requirement as a mapping of its top-level keys.

    Raises:
        MatchError: The file does not hold a YAML mapping.
    """
    with path.open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    if not isinstance(data, dict):
        raise MatchError(
            f"{path}: a requirement must be a YAML mapping, found {type(data).__name__}"
        )
    return data
