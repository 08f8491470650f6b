"""Live updates: what changed, announced to every viewer in every process once it is committed.

``events`` queues a ``LiveEvent`` on the session for each timeline entry (and for the bulk
lane's progress) and announces the transaction's events once it commits: on PostgreSQL with
``pg_notify`` inside the transaction (delivered only at commit, so a rolled-back change is
never announced), on SQLite in this process after the commit. ``hub`` is each serving
process's one listener, fanning events out to the viewers' bounded queues.

Knows no domain: it may import clock, config, db and timeline only."""
