"""A stand-in for a province's identity provider (统一身份认证, OpenID Connect), for the portal's
tests and local runs: `python -m tooling.oidc_provider --port 8009 --client-id tongban-portal
--client-secret S`. It signs real ID tokens (RS256 or ES256) with a key generated at start.

The provider's side (what the portal uses, services/portal/oidc.py):
- `GET /.well-known/openid-configuration`: discovery, `issuer` = its own base URL.
- `GET /jwks`: its public key.
- `GET /authorize` (response_type=code, client_id, redirect_uri, state, nonce,
  code_challenge with code_challenge_method=S256): a page asking who signs in (ID number) and at
  what level; `POST /authorize` sends the browser back to redirect_uri with `code` and `state`
  (or `error=access_denied`).
- `POST /token` (grant_type=authorization_code, code, redirect_uri, code_verifier; the client's
  secret by HTTP Basic or in the form): the PKCE verifier must match the challenge, the code is
  taken once within 2 minutes; → {access_token, token_type, expires_in, id_token}. The ID token
  carries iss, sub, aud, iat, exp, auth_time, nonce, the ID number in `--id-claim` (id_number)
  and the level in `--level-claim` (acr).

Its control API, for tests (no token: a local tool on loopback):
- `POST /control/spoil` {claims, remove, foreign_key}: the next ID token has `claims` set over
  its own, the claims named in `remove` left out, and, with foreign_key, is signed with a key
  the JWKS does not hold (under the JWKS's kid): how a test makes a bad token.
- `POST /control/reset`: codes and orders forgotten.

Nothing is logged of an ID number.
"""
