"""The web chat: complainants on the company's own site, with no third-party account.

- `channel`: the registry's entry; on in `complaintbot serve` unless WEB_ENABLED=false.
- `running`: the channel for one run: its routes under /chat/ and its sender.
- `chat`: the HTTP side: the page, the embeddable widget, the API and the event stream.
"""

CHANNEL = "web"
