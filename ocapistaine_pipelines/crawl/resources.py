"""Resources of the crawl domain, built from the environment."""

from typing import Mapping, Optional


def resources_from_env(environ: Optional[Mapping[str, str]] = None) -> dict:
    return {}
