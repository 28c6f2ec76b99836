"""The local stack: an emulated Dataverse Web API and a dev identity provider shaped like Entra ID.

Not product code. It is the embedded default for `make dev` and the real servers the tests talk to; product
modules never import it and reach it only through configured URLs.

Layers, each importing only those below it (tests/unit/test_layering.py checks):

- leaves: `config`, `keys` (signing keys), `certs`, `errors` (Dataverse and Entra error bodies), `faults`,
  `request_log`, `seed_ids`, `dataverse.throttle`, `dataverse.schema`
- the emulated Dataverse's rows: `dataverse.store` (seeded by whoever builds it), `dataverse.rows`,
  `dataverse.records` (write rules such as `dataverse.mail_rows` plugged in through `Operations.after_write`);
  `identity` (token claims and verification for an `Issuer`), `discovery`, `refresh_tokens`, `graph.tokens`
- `state` (what one running devstack holds), `seed`, then the routes: `control`, `identity_routes` (with
  `token_grants`, `token_responses`), `dataverse`, `graph`, `webclient`
- `server`, which builds the state, seeds the store and registers the routes
"""
