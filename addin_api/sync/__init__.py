"""The mailbox-sync worker: Graph client and Test & Enable's probe so far; it never imports Flask or the web edge.

Modules, from the leaves up: `graph_errors` (Graph's error answers as exceptions), `graph_limits` (per-mailbox
concurrency and when to send again), `graph` (the app-only Graph client), `probe` (Test & Enable's mailbox probe).
"""
