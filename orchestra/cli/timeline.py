"""An execution's operations as timeline rows: a Rich table and a self-contained HTML page.

Both views read the same :class:`Row` list: one row per operation, children right after
their parent, each with its start and end, its attempts, and its result or error.

Example:
    >>> format_duration(0.0042), format_duration(75), format_duration(3 * 3600 + 60)
    ('4ms', '1m15s', '3h01m')
    >>> truncate("x" * 100, 10)
    'xxxxxxxxx…'
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from orchestra.service.local.execution import Execution
from orchestra.wire.models import ErrorObject, Operation, OperationType

__all__ = ["Row", "format_duration", "outcome_of", "render_html", "rows", "truncate"]

_STATUS_COLOURS = {
    "SUCCEEDED": "#2e9d5b",
    "FAILED": "#d64541",
    "TIMED_OUT": "#e08a1e",
    "STOPPED": "#8a8f98",
    "CANCELLED": "#8a8f98",
    "STARTED": "#3b82f6",
    "PENDING": "#7c6cf0",
    "READY": "#7c6cf0",
    "RUNNING": "#3b82f6",
}


@attrs.frozen
class Row:
    """One operation of the timeline."""

    id: str
    name: str
    type: str
    status: str
    depth: int
    attempts: int | None
    start: datetime | None
    end: datetime | None
    outcome: str


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut), on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_duration(seconds: float) -> str:
    """A short human duration: ``4ms``, ``1.25s``, ``1m15s``, ``3h01m``, ``2d04h``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _error_text(error: ErrorObject | None) -> str | None:
    if error is None:
        return None
    return f"{error.error_type or 'Error'}: {error.error_message or ''}".rstrip(": ")


def outcome_of(op: Operation) -> str:
    """The operation's result, or its error as ``Type: message`` (``""`` when neither)."""
    for details in (
        op.step_details,
        op.context_details,
        op.callback_details,
        op.chained_invoke_details,
    ):
        if details is None:
            continue
        error = _error_text(details.error)
        if error is not None:
            return error
        if details.result is not None:
            return details.result
    return ""


def _label(op: Operation) -> str:
    if op.name:
        return op.name
    if op.type is OperationType.WAIT:
        return "wait"
    return op.id[:12]


def rows(ex: Execution) -> list[Row]:
    """The execution's operations (the EXECUTION operation left out), parents first."""
    ops = [op for op in ex.operations.values() if op.type is not OperationType.EXECUTION]
    known = {op.id for op in ops}
    children: dict[str | None, list[Operation]] = {}
    for op in ops:
        parent = op.parent_id if op.parent_id in known else None
        children.setdefault(parent, []).append(op)
    out: list[Row] = []

    def walk(parent: str | None, depth: int) -> None:
        for op in children.get(parent, []):
            out.append(
                Row(
                    id=op.id,
                    name=_label(op),
                    type=op.sub_type or op.type.value.title(),
                    status=op.status.value,
                    depth=depth,
                    attempts=op.step_details.attempt if op.step_details else None,
                    start=op.start_timestamp,
                    end=op.end_timestamp,
                    outcome=outcome_of(op),
                )
            )
            walk(op.id, depth + 1)

    walk(None, 0)
    return out


def execution_outcome(ex: Execution) -> str:
    """The execution's result, or its error as ``Type: message``."""
    return _error_text(ex.error) or ex.result or ""


def _span(ex: Execution, table: Iterable[Row]) -> tuple[datetime, datetime]:
    moments = [m for r in table for m in (r.start, r.end) if m is not None]
    start = ex.start_timestamp or (min(moments) if moments else datetime.now(UTC))
    end = ex.end_timestamp or max([*moments, start])
    return start, end


# --- HTML --------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px;margin:0 0 4px}
.meta{color:#57606a;margin-bottom:16px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
svg .axis{fill:#57606a}
table{border-collapse:collapse;margin-top:24px;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
td.outcome{font-family:ui-monospace,monospace;word-break:break-all}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
"""

_LABEL_WIDTH = 320
_CHART_WIDTH = 760
_ROW_HEIGHT = 22
_BAR_HEIGHT = 14
_TOP = 28


def _colour(status: str) -> str:
    return _STATUS_COLOURS.get(status, "#8a8f98")


def render_html(ex: Execution, *, limit: int = 300) -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts) drawing ``ex``'s timeline.

    Every text taken from the execution is escaped: names and payloads are user data.
    """
    table = rows(ex)
    start, end = _span(ex, table)
    total = max((end - start).total_seconds(), 1e-6)
    e = html.escape

    def x(moment: datetime | None) -> float:
        offset = 0.0 if moment is None else (moment - start).total_seconds()
        return _LABEL_WIDTH + max(0.0, min(offset / total, 1.0)) * _CHART_WIDTH

    everything = [
        Row(
            id=ex.execution_id,
            name=f"execution {ex.name}",
            type="Execution",
            status=ex.status.value,
            depth=0,
            attempts=None,
            start=start,
            end=ex.end_timestamp,
            outcome=execution_outcome(ex),
        ),
        *(attrs.evolve(r, depth=r.depth + 1) for r in table),
    ]
    height = _TOP + _ROW_HEIGHT * len(everything) + 8
    width = _LABEL_WIDTH + _CHART_WIDTH + 20
    svg: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="timeline of {e(ex.name)}">'
    ]
    for tick in range(5):
        fraction = tick / 4
        tx = _LABEL_WIDTH + fraction * _CHART_WIDTH
        svg.append(
            f'<line x1="{tx:.1f}" y1="{_TOP - 6}" x2="{tx:.1f}" y2="{height}" stroke="#eaeef2"/>'
        )
        anchor = "start" if tick == 0 else "end" if tick == 4 else "middle"
        svg.append(
            f'<text class="axis" x="{tx:.1f}" y="{_TOP - 10}" text-anchor="{anchor}">'
            f"+{e(format_duration(total * fraction))}</text>"
        )
    for n, row in enumerate(everything):
        y = _TOP + n * _ROW_HEIGHT
        x0 = x(row.start)
        open_ended = row.end is None
        x1 = x(row.end if row.end is not None else end)
        bar = max(x1 - x0, 3.0)
        duration = (
            format_duration(((row.end or end) - row.start).total_seconds())
            if row.start is not None
            else "?"
        )
        tip = f"{row.name} ({row.type}) {row.status}, {duration}"
        if row.attempts:
            tip += f", attempt {row.attempts}"
        if row.outcome:
            tip += f"\n{truncate(row.outcome, 300)}"
        indent = 6 + row.depth * 14
        svg.append(
            f'<text x="{indent}" y="{y + _BAR_HEIGHT - 2}">'
            f"{e(truncate(row.name, 40 - row.depth * 2))}</text>"
        )
        svg.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{bar:.1f}" height="{_BAR_HEIGHT}" rx="3" '
            f'fill="{_colour(row.status)}"'
            + (' fill-opacity="0.55" stroke-dasharray="4 2" stroke="#1f2328"' if open_ended else "")
            + f"><title>{e(tip)}</title></rect>"
        )
    svg.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{e(status)}</span>'
        for status, colour in _STATUS_COLOURS.items()
        if status in {r.status for r in everything}
    )
    body_rows = []
    for row in everything[1:][:limit]:
        duration = (
            format_duration((row.end - row.start).total_seconds())
            if row.start is not None and row.end is not None
            else ""
        )
        offset = "+" + format_duration((row.start - start).total_seconds()) if row.start else ""
        body_rows.append(
            "<tr>"
            f'<td style="padding-left:{8 + (row.depth - 1) * 14}px">{e(row.name)}</td>'
            f"<td>{e(row.type)}</td><td>{e(row.status)}</td>"
            f"<td>{row.attempts or ''}</td><td>{e(offset)}</td><td>{e(duration)}</td>"
            f'<td class="outcome">{e(truncate(row.outcome, 200))}</td></tr>'
        )
    more = len(everything) - 1 - limit
    if more > 0:
        body_rows.append(f'<tr><td colspan="7">… and {more} more operations</td></tr>')
    status = ex.status.value
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>orchestra: {e(ex.name)} ({e(status)})</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{e(ex.function_name)} / {e(ex.name)} "
            f'<span class="badge" style="background:{_colour(status)}">{e(status)}</span></h1>',
            f'<div class="meta">{e(ex.arn)}<br>started {e(start.isoformat())}, '
            f"{'took' if ex.end_timestamp else 'running for'} {e(format_duration(total))}, "
            f"{len(table)} operations</div>",
            f'<div class="legend">{legend}</div>',
            "".join(svg),
            "<table><thead><tr><th>operation</th><th>type</th><th>status</th>"
            "<th>attempts</th><th>start</th><th>duration</th><th>result or error</th></tr>"
            "</thead><tbody>",
            *body_rows,
            "</tbody></table></body></html>",
        ]
    )
