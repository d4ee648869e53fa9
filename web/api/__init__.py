"""The API at /api/v1/ for CRMs and integrations, behind bearer tokens.

calls.py    the token, the role's permission, JSON errors, the access log
cases.py    the case endpoints
openapi.py  the description at /api/v1/openapi.json (every route of `ENDPOINTS`)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot.roles import StaffRole
from web.api import cases
from web.api.calls import Handler, endpoint, record_call
from web.api.openapi import describe
from web.context import WebContext

_EVERYONE = frozenset(StaffRole)
# Auditors change nothing; which desk command a role runs is `bot.roles.may_run`.
_WORKERS = frozenset({StaffRole.AGENT, StaffRole.SUPERVISOR})

# (path, method, handler, the roles it is open to)
ENDPOINTS: tuple[tuple[str, str, Handler, frozenset[StaffRole]], ...] = (
    ("/cases", "GET", cases.list_cases, _EVERYONE),
    ("/cases", "POST", cases.create_case, _WORKERS),
    ("/cases/{case_no}", "GET", cases.show_case, _EVERYONE),
    ("/cases/{case_no}/reply", "POST", cases.reply, _WORKERS),
    ("/cases/{case_no}/note", "POST", cases.note, _WORKERS),
    ("/cases/{case_no}/resolve", "POST", cases.resolve, _WORKERS),
)
OPENAPI_PATH = "/openapi.json"


def mount(context: WebContext) -> Mount:
    """The API's routes under /api/v1."""

    async def openapi(request: Request) -> Response:
        # Public (it holds no data), but a call like any other.
        response = JSONResponse(describe())
        await record_call(context, request, None, response.status_code)
        return response

    return Mount(
        "/api/v1",
        routes=[
            Route(OPENAPI_PATH, openapi, methods=["GET"]),
            *(
                Route(path, endpoint(context, handler, roles), methods=[method])
                for path, method, handler, roles in ENDPOINTS
            ),
        ],
    )
