"""The routes the web side adds to `complaintbot serve`'s application."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web import api
from web.context import WebContext


def routes(context: WebContext) -> list[BaseRoute]:
    """The staff web under `/staff/` and the API under `/api/v1/`."""
    found: list[BaseRoute] = [api.mount(context)]
    return found
