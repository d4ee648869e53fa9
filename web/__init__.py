"""The web side of `complaintbot serve` for people and programs: the staff web at
`/staff/` (sessions, pages) and the API at `/api/v1/` (bearer tokens).

It sits above `reporting/`, `storage/` and `bot/` and below `complaintbot/`, which builds
its `WebContext` from the settings and mounts `web.app.routes` on the one ASGI app.
"""
