"""The staff web at /staff/: supervisors, quality staff, agents and auditors find any
case, work it, see the figures and download the ledger; every look is recorded."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from channels.web.headers import SecurityHeaders
from web.context import WebContext
from web.staff.acting import act
from web.staff.cases import CasePages
from web.staff.login import LoginPages
from web.staff.oversight import Oversight
from web.staff.pages import CSP, guarded

STATIC = Path(__file__).parent.parent / "static"


def staff_routes(context: WebContext) -> list[BaseRoute]:
    login = LoginPages(context)
    cases = CasePages(context)
    oversight = Oversight(context)

    async def home(_request: Request) -> Response:
        return RedirectResponse("/staff/cases", 303)

    pages = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login.form, methods=["GET"]),
            Route("/login", login.submit, methods=["POST"]),
            Route("/logout", guarded(context, login.logout), methods=["POST"]),
            Route("/language/{code}", login.language, methods=["GET"]),
            Route("/cases", guarded(context, cases.listing), methods=["GET"]),
            Route("/cases", guarded(context, cases.search), methods=["POST"]),
            Route("/cases/{case_no}", guarded(context, cases.case), methods=["GET"]),
            Route("/cases/{case_no}/story", guarded(context, cases.story), methods=["GET"]),
            Route("/cases/{case_no}/events", guarded(context, cases.events), methods=["GET"]),
            Route(
                "/cases/{case_no}/act", guarded(context, partial(act, context)), methods=["POST"]
            ),
            Route(
                "/cases/{case_no}/evidence/{number:int}",
                guarded(context, cases.evidence),
                methods=["GET"],
            ),
            Route("/figures", guarded(context, oversight.figures), methods=["GET"]),
            Route("/figures/report", guarded(context, oversight.report), methods=["GET"]),
            Route("/ledger", guarded(context, oversight.ledger_form), methods=["GET"]),
            Route("/ledger", guarded(context, oversight.ledger), methods=["POST"]),
            Route("/access", guarded(context, oversight.access), methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders, csp=CSP, frame_options="SAMEORIGIN")],
    )
    return [Route("/staff", home), Mount("/staff", app=pages)]
