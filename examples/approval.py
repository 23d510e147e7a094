"""Expense approval by a person, with a timeout, an escalation and a default decision.

The workflow sends an approval request (an e-mail with a link that carries the callback id)
and waits, without running, for the answer. A manager has two days. Past that, the request
goes to a director, who has one more day. Past that, the expense is rejected by default.

Run it with ``python examples/approval.py``: three scenarios run on the embedded emulator,
with the people played by scripted callback answers on the virtual clock. Deploy it by
pointing a durable Lambda function's handler setting at ``approval.handler``; the approval
page then calls ``SendDurableExecutionCallbackSuccess`` with the id from the link and the
body ``{"approved": true}`` or ``{"approved": false, "reason": "..."}``.
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Generator, Iterable
from typing import Any

from orchestra import CallbackTimeoutError, Duration, Step, WaitForCallback, lambda_handler
from orchestra.testing import CallbackAction, LocalRunner, RunResult

Workflow = Generator[Any, Any, dict[str, Any]]

#: The e-mails sent, standing in for a mail server: (to, subject, link).
OUTBOX: list[tuple[str, str, str]] = []

MANAGER_TIMEOUT = Duration.days(2)
DIRECTOR_TIMEOUT = Duration.days(1)


def send_approval_request(callback_id: str, expense: dict[str, Any], approver: str) -> None:
    """The submitter: runs once as a step, with the id the approver's answer must carry."""
    subject = f"approve {expense['amount']} EUR for {expense['what']}?"
    token = urllib.parse.quote(callback_id, safe="")  # the id may contain "+" and "/"
    OUTBOX.append((approver, subject, f"https://approvals.example.com/{token}"))


def record_decision(expense: dict[str, Any], decision: dict[str, Any]) -> str:
    verdict = "approved" if decision["approved"] else "rejected"
    return f"{expense['id']} {verdict} by {decision['by']}"


def ask(expense: dict[str, Any], approver: str, timeout: Duration) -> WaitForCallback[Any]:
    return WaitForCallback(
        send_approval_request,
        expense,
        approver,
        name=f"approval by {approver}",
        timeout=timeout,
    )


def approve_expense(expense: dict[str, Any]) -> Workflow:
    try:
        answer = yield ask(expense, expense["manager"], MANAGER_TIMEOUT)
        decision = {**answer, "by": expense["manager"]}
    except CallbackTimeoutError:  # the manager did not answer in two days: escalate
        try:
            answer = yield ask(expense, "director", DIRECTOR_TIMEOUT)
            decision = {**answer, "by": "director"}
        except CallbackTimeoutError:  # nobody answered: the default decision
            decision = {"approved": False, "reason": "no answer in 3 days", "by": "default"}
    summary = yield Step(record_decision, expense, decision)
    return {**decision, "summary": summary}


handler = lambda_handler(approve_expense)  # the deployable Lambda entry point


def callback_name(approver: str) -> str:
    """The name of the callback inside ``ask(...)``, which scripted answers refer to."""
    return f"approval by {approver} create callback id"


def answer(approver: str, body: str, *, after_hours: float) -> CallbackAction:
    """The approver clicks the link ``after_hours`` (virtual) hours after the request."""
    return CallbackAction(
        callback_name(approver), "success", result=body, delay_seconds=after_hours * 3600
    )


EXPENSE = {"id": "EXP-17", "what": "a conference ticket", "amount": 450, "manager": "grace"}

SCENARIOS: dict[str, list[CallbackAction]] = {
    "approved": [answer("grace", '{"approved": true}', after_hours=3)],
    "rejected": [answer("grace", '{"approved": false, "reason": "over budget"}', after_hours=20)],
    "escalated": [answer("director", '{"approved": true}', after_hours=5)],
    "timed out": [],
}


def run_scenario(answers: Iterable[CallbackAction]) -> RunResult:
    """Run one expense approval with the people's answers scripted."""
    return LocalRunner(approve_expense).run(EXPENSE, callbacks=answers)


def main() -> int:
    for title, answers in SCENARIOS.items():
        OUTBOX.clear()
        run = run_scenario(answers)
        events = run.history_dicts()
        hours = (events[-1]["EventTimestamp"] - events[0]["EventTimestamp"]) / 3_600_000
        print(f"--- {title}: {run.status} after {hours:.0f} virtual hours")
        for to, subject, _link in OUTBOX:
            print(f"    mail to {to}: {subject}")
        print(f"    decision: {run.result['summary']} ({run.result.get('reason', 'answered')})")
        if run.status != "SUCCEEDED":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
