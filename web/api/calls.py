"""What every API endpoint shares: the bearer token, the role's permission, JSON errors,
and the access log line of each call.

An endpoint is a coroutine taking a `Call` and returning a response; `endpoint` wraps
it: no or an unknown/revoked token → 401 (with WWW-Authenticate), a role not allowed →
403, an `ApiError` raised inside → its status and `{"error": ...}`. Whatever the
outcome, the call is recorded ("api_call": method, path, status).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.roles import StaffRole
from storage.access_log import AccessEntry, record_access
from storage.api_tokens import ApiTokenRow, authorise_api_token
from web.context import WebContext

log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="complaintbot"'}


class ApiError(Exception):
    """A request the API refuses: `status` and the one sentence of `{"error": ...}`;
    `detail` adds fields to the body (the valid categories)."""

    def __init__(self, status: int, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Call:
    """One authorised request."""

    request: Request
    token: ApiTokenRow
    context: WebContext

    @property
    def role(self) -> StaffRole:
        return StaffRole(self.token.role)

    @property
    def actor(self) -> str:
        """Who the access log says acted: the token's name (via "api")."""
        return self.token.name

    async def record(self, action: str, target: str | None, **detail: Any) -> None:
        """An access log entry of what this call looked at or did."""
        await record_access(
            self.context.engine,
            AccessEntry(
                at=self.context.clock.now(),
                actor=self.actor,
                role=self.token.role,
                action=action,
                target=target,
                detail=detail,
                via="api",
                address=_address(self.request),
            ),
        )

    async def body(self) -> dict[str, Any]:
        """The request's JSON object; 400 when it is not one."""
        try:
            found = json.loads(await self.request.body() or b"null")
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, f"The body is not JSON: {error}.") from None
        if not isinstance(found, dict):
            raise ApiError(400, "The body must be a JSON object.")
        return found


Handler = Callable[[Call], Awaitable[Response]]


def error(
    status: int, message: str, headers: dict[str, str] | None = None, **more: Any
) -> Response:
    return JSONResponse({"error": message, **more}, status_code=status, headers=headers)


def endpoint(
    context: WebContext, handler: Handler, roles: frozenset[StaffRole]
) -> Callable[[Request], Awaitable[Response]]:
    """`handler` behind the bearer token, for the roles `roles`, recorded."""

    async def run(request: Request) -> Response:
        token = await _token(context, request)
        if token is None:
            response = error(401, "A valid bearer token is needed.", _CHALLENGE)
        elif StaffRole(token.role) not in roles:
            response = error(403, f"The role {token.role} may not do this.")
        else:
            try:
                response = await handler(Call(request, token, context))
            except ApiError as refused:
                response = error(refused.status, refused.message, **refused.detail)
        await record_call(context, request, token, response.status_code)
        return response

    return run


async def _token(context: WebContext, request: Request) -> ApiTokenRow | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return await authorise_api_token(context.engine, value.strip(), context.clock.now())


async def record_call(
    context: WebContext, request: Request, token: ApiTokenRow | None, status: int
) -> None:
    await record_access(
        context.engine,
        AccessEntry(
            at=context.clock.now(),
            actor=token.name if token else "anonymous",
            role=token.role if token else "none",
            action="api_call",
            target=request.path_params.get("case_no"),
            detail={"method": request.method, "path": request.url.path, "status": status},
            via="api",
            address=_address(request),
        ),
    )


def _address(request: Request) -> str | None:
    # The client's address as the trusted proxy saw it (TRUSTED_PROXIES).
    return request.client.host if request.client else None
