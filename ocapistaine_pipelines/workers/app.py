"""The Celery app of the run workers: ``celery -A ocapistaine_pipelines.workers.app worker -Q dagster``.

dagster-celery's own tasks (``execute_job``, ``resume_job``, ``execute_plan``) on dagster-celery's
queues and routes, configured by ``workers.config`` from the environment. Importing this module in
a worker without its environment stops the process with a message naming what is missing.
"""

from __future__ import annotations

from ocapistaine_pipelines.workers.environment import refusal_message, worker_environment_problems

_problems = worker_environment_problems()
if _problems:
    raise SystemExit(refusal_message(_problems))

from celery import signals  # noqa: E402
from dagster_celery.make_app import make_app  # noqa: E402
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task  # noqa: E402

from ocapistaine_pipelines.workers import config  # noqa: E402
from ocapistaine_pipelines.workers.environment import WORKER_TAG  # noqa: E402

app = make_app(
    app_args={
        "broker": config.broker_url,
        "backend": config.result_backend,
        "config_source": config,
        "task_default_queue": config.task_default_queue,
    }
)

execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)


@signals.task_prerun.connect
def tag_the_run_with_this_worker(task_id=None, task=None, kwargs=None, **_):
    """Write the worker's node name on the run it starts (``ocapistaine/celery_worker``): which host
    ran a day shows in the UI, and run monitoring's message names it if it dies. Best effort."""
    packed = (kwargs or {}).get("execute_job_args_packed")
    if packed is None or task is None:
        return
    from dagster import DagsterInstance
    from dagster._serdes import unpack_value

    run_id = unpack_value(packed).run_id
    with DagsterInstance.get() as instance:
        instance.add_run_tags(run_id, {WORKER_TAG: str(task.request.hostname)})


@signals.worker_init.connect
def load_the_code_location_before_forking(**_):
    """Warm workers: the main process loads the code location and the libraries every run uses once,
    before it forks its pool, so a run does not pay for them (litellm alone takes seconds to import)."""
    import os

    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import ocapistaine_pipelines.definitions  # noqa: F401

    if "://" in os.environ.get("OCAPISTAINE_DATA_DIR", ""):
        import s3fs  # noqa: F401
    if (os.environ.get("OCAPISTAINE_VALIDATOR") or "").strip().lower() == "llm":
        from ocapistaine_pipelines.contributions.llm import _litellm

        _litellm()
