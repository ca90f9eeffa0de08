"""Load time of the code location against a bare `import dagster`, measured side by side in one run.

  import dagster                                   the floor: any Dagster process pays it
  import ocapistaine_pipelines.definitions         what every run worker and code server pays
  dagster definitions validate -w workspace.yaml   the CI check (CLI + loading the location)
  dagster definitions validate, empty location     the CLI's own cost, to read the line above

Each command runs in a fresh interpreter, rounds interleaved; medians are reported. Heavy SDKs
(opik, firecrawl, litellm) must not be imported by the definitions: the script also checks that.

    .venv/bin/python benchmarks/load_time.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
DAGSTER = str(ROOT / ".venv" / "bin" / "dagster")
HEAVY = ("opik", "firecrawl", "litellm")


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "0",
        "DAGSTER_HOME": tempfile.mkdtemp(prefix="ocapistaine-load-"),
    }
    Path(env["DAGSTER_HOME"], "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    empty = Path(env["DAGSTER_HOME"], "empty_location.py")
    empty.write_text("import dagster as dg\ndefs = dg.Definitions()\n")
    empty_ws = Path(env["DAGSTER_HOME"], "empty_workspace.yaml")
    empty_ws.write_text(
        f"load_from:\n  - python_file:\n      relative_path: {empty}\n      location_name: empty\n"
    )

    modules = subprocess.run(
        [PY, "-c", "import sys, ocapistaine_pipelines.definitions; print(' '.join(sys.modules))"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})

    cases = {
        "import dagster": [PY, "-c", "import dagster"],
        "import ocapistaine_pipelines.definitions": [PY, "-c", "import ocapistaine_pipelines.definitions"],
        "dagster definitions validate -w workspace.yaml": [
            DAGSTER,
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        "dagster definitions validate (empty location)": [
            DAGSTER,
            "definitions",
            "validate",
            "-w",
            str(empty_ws),
        ],
    }
    for cmd in cases.values():  # warm the file cache and the bytecode
        timed(cmd, env)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, cmd in cases.items():
            samples[name].append(timed(cmd, env))

    shutil.rmtree(env["DAGSTER_HOME"], ignore_errors=True)
    base = statistics.median(samples["import dagster"])
    print("| command | median s | ratio to `import dagster` |")
    print("|---|---|---|")
    for name, values in samples.items():
        print(f"| {name} | {statistics.median(values):.2f} | {statistics.median(values) / base:.2f}x |")
    defs_ratio = statistics.median(samples["import ocapistaine_pipelines.definitions"]) / base
    cli = statistics.median(samples["dagster definitions validate (empty location)"])
    ours = statistics.median(samples["dagster definitions validate -w workspace.yaml"])
    print()
    print(f"definitions import: {defs_ratio:.2f}x (goal < 1.3x): {'OK' if defs_ratio < 1.3 else 'MISSED'}")
    print(
        f"validate: {ours / base:.2f}x of import dagster; {ours / cli:.2f}x of validating an empty location"
    )
    print(f"heavy SDKs imported by the definitions: {', '.join(heavy) or 'none'}")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
