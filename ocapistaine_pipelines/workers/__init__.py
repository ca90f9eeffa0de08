"""Runs on Celery workers across hosts (``deploy/dagster-celery.yaml``, deploy/README.md).

- ``environment``: what a worker needs (and the check that refuses to start without it); light.
- ``app``: the Celery app the workers run (``celery -A ocapistaine_pipelines.workers.app worker``).
- ``launcher``: ``CeleryRunLauncher`` that also notices a worker that died whole.
- ``run_queue``: the run coordinator that tags each run with its Celery queue as it is queued.

Nothing here is imported by the code location: celery loads only in workers and in the daemon.
"""
