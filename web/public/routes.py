"""Every complainant page's routes, under the pages' security headers."""

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
