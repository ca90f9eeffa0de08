"""The Celery configuration of the workers (a Celery config module: ``app.config_from_object``).

Broker and result backend come from ``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND``, the same
values the daemon's launcher gets from ``deploy/dagster-celery.yaml``: never a default host.
"""

import os

from dagster_celery.defaults import broker_transport_options, task_default_priority

broker_url = os.environ.get("CELERY_BROKER_URL")
result_backend = os.environ.get("CELERY_RESULT_BACKEND")
broker_transport_options = broker_transport_options
broker_connection_retry_on_startup = True
task_default_priority = task_default_priority
task_default_queue = "dagster"
# One run at a time per process slot, taken only when a slot is free: a long crawl never holds
# back runs that another worker could take.
worker_prefetch_multiplier = 1
# Acknowledged when taken: a worker that dies does not hand its run to another worker by itself
# (Dagster's run monitoring marks it failed and run retries launch a new run, which the guard admits).
task_acks_late = False
# The result records the worker's name: run monitoring asks that worker whether it is alive.
result_extended = True
worker_send_task_events = False
