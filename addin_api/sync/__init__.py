"""The mailbox-sync worker (docs/configuration.md): Graph client, Test & Enable's probe; never imports Flask.

Modules, from the leaves up: `graph_errors` (Graph's error answers as exceptions), `graph_limits` (per-mailbox
concurrency and when to send again), `graph` (the app-only Graph client), `probe` (Test & Enable's mailbox probe).
"""
