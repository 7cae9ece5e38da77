"""A stand-in for a carrier's HTTP API (邮政寄递), run as its own process by `make run` and the
tests: `python -m tooling.carrier_simulator --port 8005 --webhook-url URL` (or
`tongban carrier-simulator`).

The carrier's side:
- `POST /v1/shipments` with `Idempotency-Key` and {reference, recipient, phone, address: {line,
  locality}} → 201 {tracking_no}; the same key again → 200 and the same shipment, never a
  second one (another body under a used key → 409).
- Once it has a shipment it reports progress to delivery's webhook (`POST /v1/carrier/events`):
  picked_up, in_transit, delivered, STEP seconds apart, each body {tracking_no, event, at}
  signed with HMAC-SHA256 over the raw body (`X-Carrier-Signature: sha256=<hex>`, the secret
  CARRIER_WEBHOOK_SECRET) and a bearer token of role `carrier` (CARRIER_SIMULATOR_TOKEN, or in
  development one minted from the key ring for the province). A report delivery does not
  take (down, 5xx, or a tracking number it does not know yet) is sent again with backoff, and
  the next one waits for it, so reports arrive in order.

Its control API, for tests and operators (no token: a local tool on loopback):
- `PUT /control/mode` {mode: ok | fail | slow, slow_seconds, progress, step_seconds}: `fail`
  answers 503 and creates nothing; `slow` creates the shipment, then answers only after
  `slow_seconds` (longer than the client waits: the ambiguous case); `progress: false` sends
  no reports (a test sends its own).
- `POST /control/recover`: back to `ok`.
- `PUT /control/webhook` {url, token}: where reports go (the tests learn delivery's port late).
- `GET /control/shipments` → every shipment with how often its key was presented.

Shipments live in memory. Request bodies (names, phones, addresses) are never logged.

engine.py is the carrier's side (shipments, modes, the reports), app.py its HTTP app and control
API, control.py how tests reach it, server.py its process.
"""
