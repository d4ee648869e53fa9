"""The complainants' pages: the plain form at /complaint, the status page at /status,
the survey page behind the links sent to web-chat complainants, and the privacy notice
at /privacy. The chat itself is the web channel's (`channels/web`).

Each page module gives its routes (with `headers`, the pages' security headers) here;
all share `web.public.pages`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from channels.web.headers import SecurityHeaders
from web.context import WebContext
from web.public.form import form_routes
from web.public.pages import public_csp
from web.public.privacy import privacy_routes
from web.public.status import status_routes
from web.public.survey import survey_routes

STATIC = Path(__file__).parent.parent / "static" / "public"


def public_routes(context: WebContext) -> list[BaseRoute]:
    site = context.public
    if site is None:
        return []
    headers = [Middleware(SecurityHeaders, csp=public_csp(site))]
    routes: list[BaseRoute] = [
        Mount("/assets", StaticFiles(directory=STATIC), name="assets", middleware=headers),
        *form_routes(context, headers),
    ]
    routes += status_routes(context, site, headers)
    routes += survey_routes(context, site, headers)
    routes += privacy_routes(context, headers)
    return routes
