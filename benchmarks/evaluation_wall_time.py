"""Wall time of one evaluation (rules validator, packaged labelled set), local vs recorded in Opik.

Side by side in one run: the local path (validate + score with the Opik metric classes) and the Opik
path (the same, plus dataset upsert, ``opik.evaluation.evaluate`` and the final flush) against a loopback
server that answers the SDK's REST calls (the one the tests use). Also the one-off ``import opik`` cost.

    .venv/bin/python benchmarks/evaluation_wall_time.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def import_opik_seconds() -> float:
    code = "import time; t = time.perf_counter(); import opik; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="opik-bench-home-")
    os.environ.update(
        HOME=home,
        OPIK_ANALYTICS_ENABLE="false",
        OPIK_SENTRY_ENABLE="false",
        OPIK_CONSOLE_LOGGING_LEVEL="ERROR",
    )
    for name in [n for n in os.environ if n in ("OPIK_API_KEY", "OPIK_URL_OVERRIDE", "OPIK_WORKSPACE")]:
        del os.environ[name]

    from ocapistaine_pipelines.contributions.model import CATEGORIES
    from ocapistaine_pipelines.contributions.validators import ValidatorResource
    from ocapistaine_pipelines.evaluation.dataset import load_labelled_set
    from ocapistaine_pipelines.evaluation.experiment import run_evaluation
    from ocapistaine_pipelines.evaluation.resources import OpikResource
    from ocapistaine_pipelines_tests.evaluation.opik_server import OpikServer

    import_seconds = import_opik_seconds()
    labelled = load_labelled_set()
    validator = ValidatorResource(backend="rules").get_validator()
    # warm up: the first run pays the imports
    run_evaluation(labelled, validator, OpikResource(), "20260101", categories=CATEGORIES)

    local, recorded, opik_part = [], [], []
    with OpikServer(api_key="bench-key") as server:
        opik = OpikResource(url_override=server.url, api_key="bench-key", flush_timeout_seconds=10)
        for i in range(args.repeat):
            day = f"202603{i + 1:02d}"
            started = time.perf_counter()
            run_evaluation(labelled, validator, OpikResource(), day, categories=CATEGORIES)
            local.append(time.perf_counter() - started)
            started = time.perf_counter()
            outcome = run_evaluation(labelled, validator, opik, day, categories=CATEGORIES)
            recorded.append(time.perf_counter() - started)
            assert outcome.opik_status == "recorded", outcome.opik_error
            opik_part.append(outcome.timings["opik_seconds"])
        scores = sum(len(v) for v in server.scores_by_name().values())

    items = len(labelled.items)
    local_s, recorded_s = statistics.median(local), statistics.median(recorded)
    print(f"items: {items} (rules validator, packaged labelled set), repeats: {args.repeat}, medians")
    print(f"import opik (once per process):        {import_seconds:7.3f} s")
    print(f"local evaluation (validate + score):   {local_s * 1000:7.1f} ms")
    print(
        f"with Opik (loopback server, flushed):  {recorded_s * 1000:7.1f} ms "
        f"(of which Opik {statistics.median(opik_part) * 1000:.1f} ms)"
    )
    print(f"ratio Opik / local:                    {recorded_s / local_s:7.1f}x")
    print(
        f"feedback scores received by the server: {scores} ({items} items x 5 metrics x {args.repeat} runs)"
    )


if __name__ == "__main__":
    main()
