"""The API's case endpoints: list, show, reply/note/resolve, and enter a case.

A case reads as `cases show --json` does (`web.case_json`); the desk's actions run
through `ComplaintBot.operate`, under the same rules and timeline as in the agents'
group; a case entered here opens through `ComplaintBot.open_external`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse, Response

from bot.domain import CaseStatus, Category
from bot.external import ExternalComplaint, InvalidComplaint, Source
from bot.lifecycle import VERIFICATION
from bot.roles import may_run
from storage import queries
from storage.files import EvidenceFiles
from web.api.calls import ApiError, Call
from web.case_json import case_document

MAX_PER_PAGE = 200
_SOURCES = [s.value for s in Source]
_CATEGORIES = [c.value for c in Category]


def _staff_name(call: Call) -> str:
    """The name the desk records as acting (handler, timeline): the token's, for now."""
    return call.token.name


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
    """Newest first. Until the case search is in, only status, category and channel
    filter, on the whole list."""
    params = call.request.query_params
    status = _choice(params.get("status"), "status", [s.value for s in CaseStatus])
    category = _choice(params.get("category"), "category", _CATEGORIES)
    page = _number(params.get("page"), "page", 1, None)
    per_page = _number(params.get("per_page"), "per_page", 50, MAX_PER_PAGE)
    rows = [
        r
        for r in await queries.list_cases(call.context.engine, status)
        if (category is None or r.category == category)
        and (params.get("channel") in (None, r.channel))
    ]
    zone = call.context.zone
    shown = rows[(page - 1) * per_page : page * per_page]
    return JSONResponse(
        {
            "cases": [
                {
                    "case_no": r.case_no,
                    "status": r.status,
                    "category": r.category,
                    "channel": r.channel,
                    "name": r.name,
                    "subject": r.subject,
                    "received_at": r.received_at.astimezone(zone).isoformat(),
                    "response_due_at": r.response_due_at.astimezone(zone).isoformat()
                    if r.response_due_at
                    else None,
                }
                for r in shown
            ],
            "total": len(rows),
            "page": page,
            "per_page": per_page,
        }
    )


async def reply(call: Call) -> Response:
    body = await call.body()
    return await _operate(call, "reply", _string(body, "text"))


async def note(call: Call) -> Response:
    body = await call.body()
    return await _operate(call, "note", _string(body, "text"))


async def resolve(call: Call) -> Response:
    body = await call.body()
    verification = " ".join(
        f"{name}={_pick(_string(body, name), name, [v.value for v in values])}"
        for name, values in VERIFICATION.items()
    )
    return await _operate(call, "resolve", f"{verification} {_string(body, 'text')}")


async def _operate(call: Call, command: str, text: str) -> Response:
    if not may_run(call.role, command):
        raise ApiError(403, f"The role {call.role} may not {command}.")
    case_no = _case_no(call)
    await _document(call, case_no)  # 404 before the desk is asked
    done, answers = await call.context.bot.operate(_staff_name(call), command, case_no, text)
    await call.record(f"case_{command}", case_no, done=done)
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
                entered_by=_staff_name(call),
            )
        )
    except InvalidComplaint as invalid:
        raise ApiError(400, str(invalid), field=invalid.field) from None
    await call.record("case_create", entered.case_no, source=body["source"])
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


def _moment(value: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, f"{field} is not an ISO 8601 time (2026-11-27T09:30:00+08:00).", field=field
        ) from None
