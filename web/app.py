"""The routes the web side adds to `complaintbot serve`'s application."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web import api
from web.context import WebContext
from web.public.routes import public_routes
from web.staff import staff_routes


def routes(context: WebContext) -> list[BaseRoute]:
    """The staff web under `/staff/`, the API under `/api/v1/` and the complainants'
    pages (`web.public`)."""
    return [*staff_routes(context), api.mount(context), *public_routes(context)]
