"""The API's OpenAPI 3.1 description, served at /api/v1/openapi.json. Written by hand:
it is the contract integrations are built against, so it changes only on purpose."""

from __future__ import annotations

from typing import Any

from bot.domain import CaseStatus, Category, Source
from bot.lifecycle import VERIFICATION

_ERROR = {"$ref": "#/components/schemas/Error"}
_CASE = {"$ref": "#/components/schemas/Case"}
_NO = {"name": "case_no", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    said = {
        400: "Bad input; `field` names the field.",
        401: "No valid bearer token.",
        403: "The token's role may not do this.",
        404: "No such case.",
        409: "The desk refused (the answers say why).",
    }
    return {str(s): _json(_ERROR, said[s]) for s in statuses}


def _enum(values: list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": values}


_ACTED = {
    "type": "object",
    "properties": {
        "done": {"type": "boolean"},
        "answers": {"type": "array", "items": {"type": "string"}},
        "case": _CASE,
    },
}


def _action(summary: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "parameters": [_NO],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "required": list(fields), "properties": fields}
                    }
                },
            },
            "responses": {
                "200": _json(_ACTED, "Done: the desk's answers and the case."),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    }


_TEXT = {"type": "string", "minLength": 1}
_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in {
        "q": {"type": "string"},
        "status": _enum([s.value for s in CaseStatus]),
        "category": _enum([c.value for c in Category]),
        "channel": {"type": "string"},
        "handler": {"type": "string"},
        "overdue": {"type": "boolean"},
        "escalated": {"type": "boolean"},
        "received_from": {"type": "string", "format": "date"},
        "received_to": {"type": "string", "format": "date"},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
    }.items()
]
_NEW_CASE = {
    "type": "object",
    "required": ["source", "category", "complainant", "subject", "description", "received_at"],
    "properties": {
        "source": _enum([s.value for s in Source]),
        "category": _enum([c.value for c in Category]),
        "complainant": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": _TEXT,
                "phone": {"type": ["string", "null"]},
                "email": {"type": ["string", "null"], "format": "email"},
            },
        },
        "subject": _TEXT,
        "description": _TEXT,
        "expectation": {"type": "string"},
        "received_at": {
            "type": "string",
            "format": "date-time",
            "description": "When the complainant first complained; deadlines count from it.",
        },
        "external_ref": {"type": ["string", "null"], "description": "The sender's number."},
        "locale": {"type": ["string", "null"], "description": "The receipt's language."},
    },
}


def describe() -> dict[str, Any]:
    """The whole description."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "complaintbot API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `complaintbot tokens create`.",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
                },
                "Case": {
                    "type": "object",
                    "description": "The same object as `complaintbot cases show --json`.",
                    "required": ["case_no", "status", "channel", "category", "complainant"],
                },
            },
        },
        "paths": _paths(),
    }


def _paths() -> dict[str, Any]:
    return {
        "/cases": {
            "get": {
                "summary": "Cases, newest first, filtered and paged.",
                "parameters": _QUERY,
                "responses": {
                    "200": _json({"type": "object"}, "A page of cases."),
                    **_errors(400, 401),
                },
            },
            "post": {
                "summary": "Enter a case that came from elsewhere (agent, supervisor).",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _NEW_CASE}},
                },
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "case_no": {"type": "string"},
                                "receipt_sent": {"type": "boolean"},
                                "case": _CASE,
                            },
                        },
                        "The case opened.",
                    ),
                    **_errors(400, 401, 403),
                },
            },
        },
        "/cases/{case_no}": {
            "get": {
                "summary": "One case.",
                "parameters": [_NO],
                "responses": {"200": _json(_CASE, "The case."), **_errors(401, 404)},
            }
        },
        "/cases/{case_no}/reply": _action("Answer the complainant.", {"text": _TEXT}),
        "/cases/{case_no}/note": _action("An internal note.", {"text": _TEXT}),
        "/cases/{case_no}/resolve": _action(
            "Resolve the case with the regulator's verification.",
            {
                "text": _TEXT,
                **{name: _enum([v.value for v in values]) for name, values in VERIFICATION.items()},
            },
        ),
        "/openapi.json": {
            "get": {
                "summary": "This description (no token needed).",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
            }
        },
    }
