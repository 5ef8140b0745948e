"""The incident board for county emergency offices (issue 5): its own blueprint inside dispatch.

What a county office needs at a glance during a disaster — what happened where, how bad, who has
not reported, who has not acknowledged, where people can go — scoped to the viewer's division
(`core.scope`) and to real data or one exercise (`core.db.exercise_clause`), never both.

- `query`     who sees what (BoardView), the summary and the township roll-up, summed in SQL
- `incidents` the incident list (filters, sorting, escalation state), map layer, live-change feed
- `exports`   roll-up as XLSX statistics form and CSV (BOM), incidents as GeoJSON
- `cap`       CAP 1.2 XML per event (validated against the OASIS schema in tests/board)
- `review`    the review queue's scope (unparsed messages, unknown senders)
- `views`, `actions`  thin routes; actions call reporter/dispatch flows, which check and audit
- `models`    indexes the board's queries need on other parts' tables (migration board_001)
"""
