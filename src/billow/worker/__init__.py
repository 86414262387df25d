"""Background work: the registry of periodic scans (:mod:`.scans`), the job engine on PostgreSQL
(:mod:`.engine`, procrastinate, ``billow worker``) and the in-process scheduler of ``billow serve``
(:mod:`.inprocess`). Decision record: docs/decisions/0003-job-engine.md."""
