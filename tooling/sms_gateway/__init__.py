"""A stand-in for an SMS gateway's HTTP API (短信网关), run as its own process by `make run` and
the tests: `python -m tooling.sms_gateway --port 8008 --report-url URL`. Senders reach it
through shared/sms.py; contracts/sms-gateway.md is its API.

The gateway's side:
- `POST /v1/messages` {to, text, reference} → 202 {message_id, status: accepted}; a reference
  it already has → 200 and the same message id, nothing sent again (a sender's retry after a
  lost answer); a malformed number (not 11 digits from 1[3-9]) or an empty text → 422.
- A moment after each send it posts a delivery report to the report URL: {message_id,
  reference, status: delivered | failed, at}, signed with HMAC-SHA256 of the raw body under
  SMS_REPORT_SECRET (`X-Tongban-Signature: <hex>`); a report not taken (down, non-2xx) is sent
  again with backoff. Without a report URL the status changes in the listing only.

Its control API, for tests and operators (no token: a local tool on loopback):
- `GET /control/messages?to=&reference=` → the messages, oldest first, with their texts (how a
  test reads a one-time code) and how often each reference was presented.
- `POST /control/fail` {count}: the next `count` sends answer 503 and send nothing.
- `POST /control/slow` {count, seconds}: the next `count` sends are sent but answered late.
- `PUT /control/reports` {url, outcome, delay_seconds}: where reports go ("": nowhere; the
  tests learn the receiver's port late), and whether they say delivered or failed.
- `POST /control/reset`: every message and order forgotten; the report URL stays.

Messages live in memory (the newest 10 000). Numbers and texts are never logged: a text may
carry a one-time code.

engine.py is the gateway's side (messages, orders, reports), app.py its HTTP app and control
API, control.py how tests reach it, server.py its process.
"""
