"""What a Lambda cold start imports: cattrs only once a payload or an error needs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cattrs


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_workflow_of_plain_values_runs_without_importing_cattrs():
    out = _fresh(
        """
        import sys
        import boto3
        from orchestra import Map, Step
        from orchestra.runtime.handler import lambda_handler
        import orchestra.service.lambda_api
        from orchestra.testing import LocalRunner

        def inc(x: int) -> int:
            return x + 1

        def item(x: int, _: int) -> int:
            return x * 2

        def workflow(n):
            a = yield Step(inc, n)
            b = yield Map([1, 2, 3], item)
            return a + sum(b.values())

        run = LocalRunner(workflow).run(1)
        assert run.status == "SUCCEEDED" and run.result == 14, run.error
        print("cattrs" in sys.modules)
        """
    )
    assert out == "False"


def test_the_converters_are_built_on_first_use_and_are_cattrs_converters():
    from orchestra import serde
    from orchestra.wire import converter as wire

    assert isinstance(serde.payload_converter, cattrs.Converter)
    assert serde.payload_converter is serde.payload_converter  # one, remembered
    assert isinstance(wire.converter, cattrs.Converter)
    assert wire.converter is wire.converter
    from orchestra.serde import payload_converter  # a from-import reaches it too

    assert payload_converter is serde.payload_converter


def test_a_structured_payload_still_goes_through_cattrs():
    import datetime

    from orchestra.serde import JsonSerde

    when = datetime.date(2026, 12, 2)
    codec = JsonSerde(datetime.date)
    assert codec.serialize(when) == '"2026-12-02"'
    assert codec.deserialize('"2026-12-02"') == when
    assert JsonSerde(float).deserialize("1") == 1.0
    assert type(JsonSerde(float).deserialize("1")) is float  # converted, not taken as it is


def test_each_handler_group_is_keyed_by_the_module_that_defines_its_descriptors():
    from orchestra.interpreter import machine

    for module, handlers in machine._GROUPS.items():
        for op_type in handlers():
            assert op_type.__module__ == module, op_type


def test_a_map_loads_the_map_handlers_only():
    out = _fresh(
        """
        import sys
        from orchestra import Map
        from orchestra.testing import LocalRunner

        def item(x: int, _: int) -> int:
            return x

        def workflow():
            result = yield Map([1, 2], item)
            return result.values()

        assert LocalRunner(workflow).run().result == [1, 2]
        loaded = [m for m in ("callback", "condition", "invoke", "markers", "fanout")
                  if f"orchestra.interpreter.{m}" in sys.modules]
        print(",".join(loaded))
        """
    )
    assert out == "fanout"
