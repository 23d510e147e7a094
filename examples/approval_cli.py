"""An expense approval driven from the command line: docs/cli.md's walkthrough.

The workflow asks an approver for a decision and waits for the answer, a callback, for up
to two days; then it records the decision. From the ``examples/`` folder:

    orchestra run approval_cli:approve_expense --input '{"id": "EXP-17", "amount": 450}'

stops with exit status 2 and prints the callback id the approver's answer must carry;
``orchestra list`` shows the execution RUNNING; from a second terminal,

    orchestra callback succeed CALLBACK_ID --result '{"approved": true}'

continues it to the end; ``orchestra history ARN --html timeline.html`` draws it.

Run as a script (``python examples/approval_cli.py``), it plays that walkthrough itself,
each command a separate process on a throw-away database.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

from orchestra import Duration, Step, WaitForCallback

HERE = pathlib.Path(__file__).resolve().parent


def notify_approver(callback_id: str, expense: dict[str, Any]) -> None:
    """Runs once, as a step: a real one would e-mail a link carrying ``callback_id``."""


def record_decision(expense: dict[str, Any], decision: dict[str, Any]) -> str:
    verdict = "approved" if decision.get("approved") else "rejected"
    return f"{expense['id']} {verdict}"


def approve_expense(expense: dict[str, Any]):
    decision = yield WaitForCallback(
        notify_approver, expense, name="approval", timeout=Duration.days(2)
    )
    summary = yield Step(record_decision, expense, decision)
    return {"summary": summary, **decision}


def orchestra(db: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``orchestra`` command, as a user would type it in ``examples/``."""
    return subprocess.run(
        [sys.executable, "-m", "orchestra.cli", *args],
        cwd=HERE,
        env={**os.environ, "ORCHESTRA_DB": str(db)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = pathlib.Path(tmp) / "orchestra.db"
        expense = json.dumps({"id": "EXP-17", "amount": 450})
        run = orchestra(db, "run", "approval_cli:approve_expense", "--input", expense)
        print(f"$ orchestra run approval_cli:approve_expense  -> exit {run.returncode}")
        arn = run.stdout.split("started ", 1)[1].split()[0]
        command = next(line for line in run.stdout.splitlines() if "callback succeed" in line)
        callback_id = command.split("callback succeed ", 1)[1].split()[0].strip("'")
        listed = json.loads(orchestra(db, "list", "--json").stdout)
        print(f"$ orchestra list  -> {listed[0]['Status']}")
        answer = orchestra(db, "callback", "succeed", callback_id, "--result", '{"approved": true}')
        print(f"$ orchestra callback succeed ...  -> exit {answer.returncode}")
        events = json.loads(orchestra(db, "history", arn, "--json").stdout)["Events"]
        result = json.loads(events[-1]["ExecutionSucceededDetails"]["Result"]["Payload"])
        print(f"$ orchestra history ...  -> {events[-1]['EventType']}: {result['summary']}")
        drawn = orchestra(db, "history", arn, "--html", str(pathlib.Path(tmp) / "t.html"))
        ok = (run.returncode, answer.returncode, drawn.returncode) == (2, 0, 0)
        return 0 if ok and result["summary"] == "EXP-17 approved" else 1


if __name__ == "__main__":
    sys.exit(main())
