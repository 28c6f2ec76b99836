"""The mailbox-sync worker: it never imports Flask or the web edge (the service's webhooks import from here).

Modules, from the leaves up:
- `graph_errors` (Graph's error answers as exceptions), `graph_limits` (per-mailbox concurrency, when to send again),
  `graph` (the app-only Graph client), `counting` (the ports a pass uses, counting their requests);
- `store` (cursors and item states: memory, SQLite, Redis), `subscriptions` (Graph subscriptions and clientState);
- `items` (messages as the pane's tracks), `calendar` (events as appointment tracks, the calendar window),
  `folders` (the other folders a catch-up pass reads), `pass_items` (what a pass does with each changed item),
  `category_pass` (one pass over a mailbox, and which mailboxes synchronize);
- `probe` and `admin` (Test & Enable, approval, status), `jobs` (Dramatiq jobs, coalescing, the mailbox lease),
  `worker` (the runtime a worker process shares, the catch-up timer).
"""
