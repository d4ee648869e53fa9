"""The privacy notice at /privacy: the company's own page (PRIVACY_NOTICE_URL), to which
it redirects, or the built-in text in the visitor's language, with its version."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.notice import builtin_paragraphs
from web.context import WebContext
from web.public.pages import gettext, render


def privacy_routes(context: WebContext, headers: list[Middleware]) -> list[BaseRoute]:
    site = context.public
    assert site is not None

    async def notice(request: Request) -> Response:
        if site.notice.url:
            return RedirectResponse(site.notice.url, 302)
        _ = gettext(context, request)
        return render(
            context,
            request,
            "public/privacy.html",
            paragraphs=builtin_paragraphs(_, site.retention_days),
            version=site.notice.version,
        )

    return [Route("/privacy", notice, methods=["GET"], middleware=headers)]
