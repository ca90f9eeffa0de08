"""Settings read from the environment that are not connection secrets."""

import os
from pathlib import Path
from typing import Mapping, Optional

import dagster as dg

DEFAULT_DATA_DIR = "data"


class DataDirResource(dg.ConfigurableResource):
    """Where assets write their files (``OCAPISTAINE_DATA_DIR``, default ``data/`` under the cwd)."""

    path: str = DEFAULT_DATA_DIR

    @property
    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def folder(self, *parts: str) -> Path:
        """A sub-folder of the data dir, created on first use."""
        folder = self.root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def data_dir_resource_from_env(environ: Optional[Mapping[str, str]] = None) -> DataDirResource:
    env = os.environ if environ is None else environ
    if env.get("OCAPISTAINE_DATA_DIR"):
        return DataDirResource(path=dg.EnvVar("OCAPISTAINE_DATA_DIR") if environ is None else env["OCAPISTAINE_DATA_DIR"])
    return DataDirResource()
