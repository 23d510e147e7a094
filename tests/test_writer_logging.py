"""What the writer logs: each call at DEBUG, failures at ERROR with the traceback, no secrets."""

from __future__ import annotations

import json
import logging

from orchestra.service.api import ServiceError
from orchestra.wire.converter import to_wire
from orchestra.wire.models import CheckpointResponse
from tests.test_writer import WAIT, Collector, ScriptedService, update

SECRET_PAYLOAD = "card-4111-1111-1111-1111"
NEXT_TOKEN = "c2VjcmV0LXRva2Vu"


def all_text(caplog) -> str:
    return "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])


def test_each_call_is_logged_at_debug_with_counts_bytes_and_request_id(caplog):
    caplog.set_level(logging.DEBUG, logger="orchestra.checkpoint")
    service = ScriptedService(
        [CheckpointResponse(checkpoint_token=NEXT_TOKEN, request_id="req-42")]
    )
    got = Collector()
    writer = got.writer(service, async_bound=60)
    writer.submit(update(1, SECRET_PAYLOAD), ack=1)
    writer.submit(update(2, SECRET_PAYLOAD), ack=2)
    writer.flush()
    got.next()
    assert writer.close(WAIT)
    calls = [
        r
        for r in caplog.records
        if r.name == "orchestra.checkpoint" and "CheckpointDurableExecution" in r.getMessage()
    ]
    assert len(calls) == 1 and calls[0].levelno == logging.DEBUG
    message = calls[0].getMessage()
    assert "2 updates" in message and "req-42" in message
    size = sum(len(json.dumps(to_wire(u), separators=(",", ":"))) for u in service.calls[0])
    assert f"{size} bytes" in message
    text = all_text(caplog)
    assert SECRET_PAYLOAD not in text and NEXT_TOKEN not in text


def test_a_failure_is_logged_at_error_with_its_traceback_and_no_secrets(caplog):
    caplog.set_level(logging.DEBUG, logger="orchestra.checkpoint")
    failure = ServiceError("ServiceException", "internal", status=500, request_id="req-9")
    got = Collector()
    writer = got.writer(ScriptedService([failure]))
    writer.submit(update(1, SECRET_PAYLOAD), ack=1)
    writer.flush()
    got.error()
    assert writer.close(WAIT)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and errors[0].exc_info[1] is got.errors[0]
    assert "req-9" in errors[0].getMessage() and "HTTP 500" in errors[0].getMessage()
    assert SECRET_PAYLOAD not in all_text(caplog)


def test_a_given_logger_is_used():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.writer.custom")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Keep())
    logger.propagate = False
    got = Collector()
    writer = got.writer(ScriptedService(), logger=logger)
    writer.submit(update(1), ack=1)
    writer.flush()
    got.next()
    assert writer.close(WAIT)
    assert any("1 updates" in r.getMessage() for r in records)
