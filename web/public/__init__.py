"""The complainants' pages: the plain form at /complaint, the status page at /status,
the survey page behind the links sent to web-chat complainants, and the privacy notice
at /privacy. The chat itself is the web channel's (`channels/web`).

Each page module gives its routes (with `headers`, the pages' security headers) to
`web.public.routes`; all share `web.public.pages`.
"""
