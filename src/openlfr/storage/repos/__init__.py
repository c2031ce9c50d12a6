"""Repositories: the only place services' data is queried and sealed.

A repository wraps one open session (the service keeps the unit of work: ``with ctx.db.session() as s``)
and owns the SQL for one aggregate: its lookups (``get``, ``by_name``, ``page``), counts, bulk
deletes and, for the encrypted columns (``openlfr.storage.sealed``), sealing on write and unsealing on
read with the cipher it is given. Services receive model rows (or plain values) and change them; they
write no ``select()`` and never call ``seal``/``unseal`` or ``session.execute/scalar/scalars/get``
themselves (``tests/unit/test_architecture.py::test_services_leave_queries_to_repositories``).

One module per aggregate: ``users`` (users, sessions, tokens), ``watchlists`` (lists, entries, photos,
embeddings, the integrity digest's rows), ``deployments`` (deployments, cameras, the runner lease, the
bespoke list's copy), ``alerts`` (alerts, their images, legal holds, the store's counters), ``reports``
(counter and alert tallies), ``audit`` (the audit log's reads) and ``sealed`` (every encrypted column, for
key rotation).
"""
