"""The daily tasks, each declared once: name, assets, when it runs, recurring or not, deadline.

Everything else follows from a declaration: the guard accepts the name and lists it in
``get_task_history``, the CLI offers it to ``status``/``rerun``/``unlock``, orchestration builds a
partitioned job named after it (what the schedules, the chain, the day close and
``client.run_task_now`` launch) and its schedule, the run queue reads its tags, and the deadline
alerts read ``deadline``. See docs/adding-a-task.md.

Only names live here (asset keys as strings, cron texts): this module imports nothing from the
package, so the guard, the CLI and the client (the bottom layers) can read the task list without
importing assets or Dagster definitions, and the asset modules import their task's name from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

#: The legacy chain's cadence (Europe/Paris): every chained task is tried on each tick until its day succeeds.
CHAIN_CRON = "*/7 6-23 * * *"


@dataclass(frozen=True)
class AtTime:
    """Runs once a day at a fixed time (cron, Europe/Paris)."""

    cron: str


@dataclass(frozen=True)
class InChain:
    """Runs on every tick of the chain (``CHAIN_CRON``) until its day succeeds, once the tasks in
    ``after`` have succeeded for the same day."""

    after: tuple[str, ...] = ()


When = AtTime | InChain


@dataclass(frozen=True)
class DailyTask:
    """One guarded daily task, as the legacy scheduler knew it (``lock:{name}:{YYYYMMDD}``...).

    - ``assets``: keys of the assets one run materializes (the job's selection), upstream first;
      the last one is the guarded asset.
    - ``runs``: ``AtTime(cron)`` or ``InChain(after=...)``.
    - ``recurring``: the legacy ``skip_success_check``: every run does the work, even after the day's success.
    - ``deadline``: time of day (Europe/Paris) by which the day's success key should exist; the
      deadline alerts read it.
    - ``max_runtime_seconds``: run monitoring gives up on a run of one day after this long.
    - ``queue``: the Celery queue of its runs with the Celery run launcher (deploy/dagster-celery.yaml).
    - ``closes_day``: the chain re-runs yesterday once (forced) at its first tick of a day, for the
      items that arrived after yesterday's success.
    - ``schedule_name``: the schedule's name when it is not the task's (kept for the legacy chain's).
    """

    name: str
    assets: tuple[str, ...]
    runs: When
    deadline: dt.time
    recurring: bool = False
    max_runtime_seconds: int = 900
    queue: str = "dagster"
    closes_day: bool = False
    schedule_name: str | None = None
    description: str = ""
    depends_on: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not self.name.startswith("task_") or not self.name.replace("_", "").isalnum():
            raise ValueError(f"a task name is task_<letters, digits, underscores>, not {self.name!r}")
        if not self.assets:
            raise ValueError(f"{self.name} declares no asset")
        if not isinstance(self.runs, (AtTime, InChain)):
            raise TypeError(f"{self.name}: runs= is AtTime(cron) or InChain(after=...), not {self.runs!r}")
        if self.closes_day and not isinstance(self.runs, InChain):
            raise ValueError(f"{self.name}: only a task in the chain closes its day")
        object.__setattr__(self, "depends_on", self.runs.after if isinstance(self.runs, InChain) else ())

    @property
    def job_name(self) -> str:
        """The partitioned job of the task: named after it, so the runs list reads by task."""
        return self.name

    @property
    def schedule(self) -> str:
        return self.schedule_name or self.name

    @property
    def cron(self) -> str:
        return self.runs.cron if isinstance(self.runs, AtTime) else CHAIN_CRON

    @property
    def in_chain(self) -> bool:
        return isinstance(self.runs, InChain)


class TaskRegistry(Mapping[str, DailyTask]):
    """The declared tasks by name, in declaration order. Reads are live: a task declared later (a
    test's throwaway task, a plugin module) is seen by every reader that did not copy the list."""

    def __init__(self) -> None:
        self._tasks: dict[str, DailyTask] = {}

    def declare(self, task: DailyTask) -> DailyTask:
        known = self._tasks.get(task.name)
        if known is not None and known != task:
            raise ValueError(f"task {task.name} is already declared differently")
        missing = [name for name in task.depends_on if name not in self._tasks and name != task.name]
        if missing:
            raise ValueError(f"{task.name} runs after {', '.join(missing)}: declare those first")
        for other in self._tasks.values():
            if other.name != task.name and other.schedule == task.schedule:
                raise ValueError(f"{task.name}: schedule name {task.schedule!r} is already {other.name}'s")
        self._tasks[task.name] = task
        return task

    def withdraw(self, name: str) -> None:
        """Forget a task (tests that declare a throwaway one)."""
        if any(name in other.depends_on for other in self._tasks.values() if other.name != name):
            raise ValueError(f"other tasks run after {name}")
        self._tasks.pop(name, None)

    def task(self, name: str) -> DailyTask:
        """The declaration of ``name``; ``ValueError`` naming the known tasks otherwise."""
        try:
            return self._tasks[name]
        except KeyError:
            raise ValueError(f"unknown task {name!r}; expected one of {', '.join(self._tasks)}") from None

    def __getitem__(self, name: str) -> DailyTask:
        return self._tasks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)


class TaskNames:
    """A live, read-only view of the declared names (``name in TASK_NAMES``, iteration, ``len``)."""

    def __init__(self, registry: TaskRegistry) -> None:
        self._registry = registry

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry)

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    def __len__(self) -> int:
        return len(self._registry)

    def __getitem__(self, index: int) -> str:
        return list(self)[index]

    def __repr__(self) -> str:
        return f"TaskNames({list(self)!r})"


TASKS = TaskRegistry()
TASK_NAMES = TaskNames(TASKS)
declare = TASKS.declare
task = TASKS.task

# -- the tasks ------------------------------------------------------------------------------------
TASK_CONTRIBUTIONS_ANALYSIS = declare(
    DailyTask(
        name="task_contributions_analysis",
        assets=("contributions", "contributions_analysis"),
        runs=InChain(),
        deadline=dt.time(23, 0),
        closes_day=True,
        schedule_name="orchestrate_task_chain",  # the legacy APScheduler job id, which the API shows
        description="reads the day's contributions, checks each against the charter, files it in a category",
    )
).name

TASK_FIRECRAWL = declare(
    DailyTask(
        name="task_firecrawl",
        assets=("crawled_documents",),
        runs=AtTime("0 3 * * *"),
        deadline=dt.time(6, 0),
        max_runtime_seconds=2 * 3600,
        queue="crawl",  # long crawls on their own Celery workers, apart from the day's analysis
        description="crawls the municipal documents of audierne.bzh through Firecrawl",
    )
).name

TASK_OPIK_EXPERIMENT = declare(
    DailyTask(
        name="task_opik_experiment",
        assets=("opik_experiment",),
        runs=AtTime("0 5 * * *"),
        deadline=dt.time(8, 0),
        recurring=True,
        description="evaluates the charter validator on the labelled set, in Opik when configured",
    )
).name
