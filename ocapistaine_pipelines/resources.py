"""Resource instances built from the environment, shared by every asset."""

from collections.abc import Mapping

from .contributions.resources import resources_from_env as contributions_resources
from .crawl.resources import resources_from_env as crawl_resources
from .evaluation.resources import resources_from_env as evaluation_resources
from .guard import TaskGuard
from .redis_connection import redis_resource_from_env
from .settings import data_dir_resource_from_env


def build_resources(environ: Mapping[str, str] | None = None) -> dict:
    """Every resource by key; ``environ`` (tests) replaces ``os.environ`` and plain values replace EnvVars."""
    redis = redis_resource_from_env(environ)
    resources = {
        "redis": redis,
        "guard": TaskGuard(redis=redis),
        "data_dir": data_dir_resource_from_env(environ),
    }
    for domain in (contributions_resources, crawl_resources, evaluation_resources):
        resources.update(domain(environ))
    return resources
