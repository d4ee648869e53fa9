"""The API's case endpoints: list, show, reply/note/resolve, and enter a case.

A case reads as `cases show --json` does (`web.case_json`); the desk's actions run
through `ComplaintBot.operate`, under the same rules and timeline as in the agents'
group; a case entered here opens through `ComplaintBot.open_external`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from bot.agents import Operator
from bot.domain import CaseStatus, Category, Source
from bot.external import ExternalComplaint, InvalidComplaint
from bot.lifecycle import VERIFICATION
from bot.roles import may_run
from storage import queries
from storage.files import EvidenceFiles
from storage.search import CaseFilter, find_cases
from web.api.calls import ApiError, Call
from web.case_json import case_document

MAX_PER_PAGE = 200
_SOURCES = [s.value for s in Source]
_CATEGORIES = [c.value for c in Category]


def _operator(call: Call) -> Operator:
    """Who the desk records as acting (handler, timeline): an agent of the API known by
    the token's name."""
    name = call.token.name
    return Operator(name, via="api", channel="api", external_id=name)


async def _document(call: Call, case_no: str) -> dict[str, Any]:
    context = call.context
    detail = await queries.case_detail(context.engine, case_no)
    if detail is None:
        raise ApiError(404, f"No case {case_no}.")
    return case_document(
        detail, context.zone, EvidenceFiles(context.data_dir), now=context.clock.now()
    )


def _case_no(call: Call) -> str:
    return str(call.request.path_params["case_no"]).strip().upper()


async def show_case(call: Call) -> Response:
    case_no = _case_no(call)
    document = await _document(call, case_no)
    await call.record("case_view", case_no)
    return JSONResponse(document)


async def list_cases(call: Call) -> Response:
    """A page of the cases the query parameters select, by the next deadline (as the
    staff web lists them, `storage.search`)."""
    params = call.request.query_params
    zone = call.context.zone
    first = _date(params.get("received_from"), "received_from")
    last = _date(params.get("received_to"), "received_to")
    where = CaseFilter(
        text=(params.get("q") or "").strip(),
        status=_choice(params.get("status"), "status", [s.value for s in CaseStatus]),
        category=_choice(params.get("category"), "category", _CATEGORIES),
        channel=params.get("channel") or None,
        handler=params.get("handler") or None,
        overdue=_flag(params.get("overdue"), "overdue"),
        escalated=_flag(params.get("escalated"), "escalated"),
        received_from=datetime.combine(first, time(), zone) if first else None,
        received_to=datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
    )
    page = _number(params.get("page"), "page", 1, None)
    per_page = _number(params.get("per_page"), "per_page", 50, MAX_PER_PAGE)
    found = await find_cases(
        call.context.engine, where, now=call.context.clock.now(), page=page, per_page=per_page
    )
    await call.record("case_list", None, page=page, results=found.total, searched=bool(where.text))
    return JSONResponse(
        {
            "cases": [
                {
                    "case_no": r.case_no,
                    "status": r.status,
                    "category": r.category,
                    "channel": r.channel,
                    "handler": r.handler,
                    "name": r.name,
                    "subject": r.subject,
                    "received_at": r.received_at.astimezone(zone).isoformat(),
                    "due_at": r.due_at.astimezone(zone).isoformat() if r.due_at else None,
                    "overdue": r.overdue,
                }
                for r in found.rows
            ],
            "total": found.total,
            "page": found.page,
            "per_page": found.per_page,
        }
    )


async def reply(call: Call) -> Response:
    return await _operate(call, "reply", _said(await call.body()))


async def note(call: Call) -> Response:
    return await _operate(call, "note", _said(await call.body()))


async def resolve(call: Call) -> Response:
    body = await call.body()
    verification = " ".join(
        f"{name}={_pick(_string(body, name), name, [v.value for v in values])}"
        for name, values in VERIFICATION.items()
    )
    return await _operate(call, "resolve", f"{verification} {_said(body)}")


async def _operate(call: Call, command: str, text: str) -> Response:
    if not may_run(call.role, command):
        raise ApiError(403, f"The role {call.role} may not {command}.")
    case_no = _case_no(call)
    await _document(call, case_no)  # 404 before the desk is asked
    done, answers = await call.context.bot.operate(_operator(call), command, case_no, text)
    await call.record("case_action", case_no, command=command, done=done)
    return JSONResponse(
        {"done": done, "answers": answers, "case": await _document(call, case_no)},
        status_code=200 if done else 409,
    )


async def create_case(call: Call) -> Response:
    body = await call.body()
    person = body.get("complainant")
    if not isinstance(person, dict):
        raise ApiError(400, "complainant must be an object with name, phone and email.")
    try:
        entered = await call.context.bot.open_external(
            ExternalComplaint(
                source=Source(_pick(_string(body, "source"), "source", _SOURCES)),
                category=Category(_pick(_string(body, "category"), "category", _CATEGORIES)),
                name=_string(person, "name", "complainant.name"),
                phone=_optional(person, "phone", "complainant.phone"),
                email=_optional(person, "email", "complainant.email"),
                subject=_string(body, "subject"),
                description=_string(body, "description"),
                expectation=_optional(body, "expectation") or "",
                received_at=_moment(_string(body, "received_at"), "received_at"),
                external_ref=_optional(body, "external_ref"),
                locale=_optional(body, "locale"),
                entered_by=call.token.name,
            )
        )
    except InvalidComplaint as invalid:
        raise ApiError(400, str(invalid), field=invalid.field) from None
    await call.record("case_action", entered.case_no, command="create", source=body["source"])
    return JSONResponse(
        {
            "case_no": entered.case_no,
            "receipt_sent": entered.receipt_sent,
            "case": await _document(call, entered.case_no),
        },
        status_code=201,
    )


# ----- reading the request -----------------------------------------------------------


def _string(body: dict[str, Any], key: str, field: str | None = None) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ApiError(400, f"{field or key} is missing or not a string.", field=field or key)
    return value


def _said(body: dict[str, Any]) -> str:
    """The `text` of a reply, note or resolution: never empty (nothing to send)."""
    text = _string(body, "text").strip()
    if not text:
        raise ApiError(400, "text is empty.", field="text")
    return text


def _optional(body: dict[str, Any], key: str, field: str | None = None) -> str | None:
    if body.get(key) is None:
        return None
    return _string(body, key, field)


def _choice(value: str | None, field: str, valid: list[str]) -> str | None:
    return None if value is None else _pick(value, field, valid)


def _pick(value: str, field: str, valid: list[str]) -> str:
    if value not in valid:
        raise ApiError(
            400, f"{field} must be one of: {', '.join(valid)}.", field=field, valid=valid
        )
    return value


def _number(value: str | None, field: str, default: int, most: int | None) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1 or (most is not None and int(value) > most):
        limit = f" up to {most}" if most else ""
        raise ApiError(400, f"{field} must be a whole number from 1{limit}.", field=field)
    return int(value)


def _flag(value: str | None, field: str) -> bool:
    if value in (None, "", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise ApiError(400, f"{field} must be true or false.", field=field)


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{field} is not a date (2026-11-27).", field=field) from None


def _moment(value: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, f"{field} is not an ISO 8601 time (2026-11-27T09:30:00+08:00).", field=field
        ) from None
