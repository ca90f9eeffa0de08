"""OCAPISTAINE_DATA_DIR on an object store: every asset of a day on moto's S3-compatible server, the
same atomic-write guarantee as a local folder (a reader never sees half an object, even when an
upload is cut), URLs parsed strictly and never echoed (they could carry a secret)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import pytest
from botocore.exceptions import BotoCoreError
from hypothesis import given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.io_utils import atomic_write, data_path, is_remote, move, read_parquet
from ocapistaine_pipelines.settings import DataDirResource

from .budget import examples
from .proxies import CuttingProxy
from .services import S3Server

DAY1, DAY2 = "2026-04-14", "2026-04-15"
SITE = "https://www.audierne.bzh"


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The standard AWS variables point the AWS SDK at the test server (as production at MinIO or AWS)."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.create_bucket(f"ocapistaine-{uuid.uuid4().hex[:12]}")


# -- parsing ---------------------------------------------------------------------------------------------
BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9\-]{2,20}[a-z0-9]", fullmatch=True)
SEGMENTS = st.lists(st.from_regex(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,12}", fullmatch=True), max_size=4)


@settings(max_examples=examples(60), deadline=None)
@given(bucket=BUCKETS, segments=SEGMENTS, scheme=st.sampled_from(["s3", "S3", "s3a"]), slashes=st.booleans())
def test_s3_urls_become_object_store_paths_with_a_normalised_prefix(bucket, segments, scheme, slashes):
    segments = [s for s in segments if s not in (".", "..")]
    sep = "//" if slashes else "/"
    url = f"{scheme}://{bucket}/" + sep.join(segments) + ("/" if slashes else "")
    path = data_path(url)
    assert is_remote(path)
    assert str(path).rstrip("/") == "/".join([f"s3://{bucket}", *segments])  # a bucket root shows as s3://b/
    joined = "/".join([f"s3://{bucket}", *segments, "contributions", "x.parquet"])
    assert str(path / "contributions" / "x.parquet") == joined
    assert DataDirResource(path=url).is_remote


@settings(max_examples=examples(60), deadline=None)
@given(
    secret=st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=6, max_size=30),
    where=st.sampled_from(["userinfo", "query", "fragment"]),
)
def test_an_s3_url_with_credentials_is_refused_without_repeating_them(secret, where):
    url = {
        "userinfo": f"s3://AKIA:{secret}@bucket/prefix",
        "query": f"s3://bucket/prefix?secret={secret}",
        "fragment": f"s3://bucket/prefix#{secret}",
    }[where]
    with pytest.raises(ValueError) as refused:
        data_path(url)
    assert secret not in str(refused.value)
    assert "AWS_ACCESS_KEY_ID" in str(refused.value)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("gs://bucket/prefix", "unsupported scheme 'gs'"),
        ("http://minio:9000/bucket", "unsupported scheme 'http'"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/a/../b", "may not contain"),
        ("   ", "is empty"),
    ],
)
def test_bad_data_dirs_get_a_clear_error(url, expected):
    with pytest.raises(ValueError, match=expected):
        data_path(url)


def test_a_local_folder_stays_a_local_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for text in ("data", str(tmp_path / "data"), f"file://{tmp_path}/data"):
        path = data_path(text)
        assert isinstance(path, Path) and not is_remote(path) and path == tmp_path / "data"
    resource = DataDirResource(path="data")
    assert not resource.is_remote and resource.folder("a", "b").is_dir()


# -- atomic writes on S3 ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_an_upload_cut_in_the_middle_never_publishes_half_an_object(s3_env, bucket):
    from upath import UPath

    key = f"s3://{bucket}/contributions_analysis/{DAY1}.parquet"
    first = b"version one " * 1000
    atomic_write(data_path(key), first)
    assert data_path(key).read_bytes() == first

    proxy = CuttingProxy(s3_env.port, limit=6000)  # the headers and part of the 24 kB body
    try:
        through_proxy = UPath(
            key,
            endpoint_url=f"http://127.0.0.1:{proxy.port}",
            skip_instance_cache=True,
            use_listings_cache=False,
            config_kwargs={"retries": {"max_attempts": 1}},
        )
        # botocore's ConnectionClosedError (s3fs may translate some into OSError): the write fails loudly
        with pytest.raises((BotoCoreError, OSError)):
            atomic_write(through_proxy, b"version two " * 2000)
    finally:
        proxy.close()
    assert proxy.cut >= 1
    assert data_path(key).read_bytes() == first  # readers still see the whole first version
    assert set(s3_env.objects(bucket)) == {f"contributions_analysis/{DAY1}.parquet"}  # no temporary object


def test_parquet_round_trip_and_move_aside_on_s3(s3_env, bucket):
    import pandas as pd

    root = data_path(f"s3://{bucket}/town")
    frame = pd.DataFrame({"id": ["a", "b"], "n": [1, 2]})
    from ocapistaine_pipelines.io_utils import atomic_write_parquet

    atomic_write_parquet(frame, root / "t" / "x.parquet")
    assert read_parquet(root / "t" / "x.parquet").equals(frame)
    assert list(read_parquet(root / "t" / "x.parquet", columns=["id"]).columns) == ["id"]
    move(root / "t" / "x.parquet", root / "t" / "x.parquet.unreadable-1")
    assert set(s3_env.objects(bucket, "town")) == {"t/x.parquet.unreadable-1"}


def test_an_unreadable_crawl_index_on_s3_is_set_aside_and_rebuilt(s3_env, bucket):
    from ocapistaine_pipelines.crawl.sources import CrawlSource
    from ocapistaine_pipelines.crawl.store import Page, SourceStore

    source = CrawlSource(
        name="mairie_arretes", url=f"{SITE}/arretes/", mode="crawl", allowed_domains=("audierne.bzh",)
    )
    root = data_path(f"s3://{bucket}/town")
    store = SourceStore(root, source)
    page = Page(
        url=f"{SITE}/arretes/a/",
        final_url=f"{SITE}/arretes/a/",
        title="A",
        status_code=200,
        markdown="# A\n",
        links=[],
    )
    assert store.save(page, DAY1, "2026-04-14T03:00:00+02:00") == "new"
    store.flush()
    atomic_write(store.index_path, b"not a parquet file")

    again = SourceStore(root, source)
    assert again.stored_urls == {page.url}  # rebuilt from the sidecars: nothing paid twice
    names = set(s3_env.objects(bucket, "town/documents/mairie_arretes"))
    assert any(name.startswith("index.parquet.unreadable-") for name in names)
    assert "index.parquet" not in names  # until the next flush writes the rebuilt one


# -- a whole day of every asset --------------------------------------------------------------------------
@pytest.fixture
def offline_opik(monkeypatch, tmp_path):
    import os

    for name in list(os.environ):
        if name.startswith(("OPIK_", "COMET_", "FIRECRAWL_")):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPIK_ANALYTICS_ENABLE", "false")


@pytest.mark.slow
def test_a_whole_day_of_every_asset_runs_on_the_object_store(
    s3_env, bucket, redis_server, clean_redis, offline_opik, tmp_path, monkeypatch
):
    from ocapistaine_pipelines.contributions import assets as contributions_assets
    from ocapistaine_pipelines.crawl import assets as crawl_assets
    from ocapistaine_pipelines.evaluation import assets as evaluation_assets
    from ocapistaine_pipelines.resources import build_resources

    from .crawl.conftest import firecrawl_resource, write_sources
    from .crawl.fake_firecrawl import FakeFirecrawl, build_site

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a local write anywhere would show up here (the default data dir is ./data)
    fake = FakeFirecrawl()
    try:
        build_site(fake, SITE, 6)
        sources = write_sources(
            tmp_path,
            [
                {
                    "name": "mairie_arretes",
                    "url": f"{SITE}/arretes/",
                    "mode": "crawl",
                    "allowed_domains": ["audierne.bzh"],
                },
            ],
        )
        data_url = f"s3://{bucket}/audierne"
        resources = build_resources({"REDIS_URL": redis_server.url, "OCAPISTAINE_DATA_DIR": data_url})
        resources["firecrawl"] = firecrawl_resource(fake, sources)
        modules = [contributions_assets, crawl_assets, evaluation_assets]
        defs = dg.Definitions(
            assets=dg.load_assets_from_modules(modules),
            asset_checks=dg.load_asset_checks_from_modules(modules),
            resources=resources,
        )
        job = defs.resolve_implicit_global_asset_job_def()
        with dg.instance_for_test() as instance:
            results = [job.execute_in_process(partition_key=day, instance=instance) for day in (DAY1, DAY2)]
            events = [json.dumps(str(e)) for r in results for e in r.all_events]
        second_night_credits = fake.credits
    finally:
        fake.stop()

    for result in results:
        assert result.success
        materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert materialized == {
            "contributions",
            "contributions_analysis",
            "opik_experiment",
            "crawled_documents",
        }
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks and all(checks.values()), checks

    objects = s3_env.objects(bucket, "audierne")
    for day in (DAY1, DAY2):
        for key in (
            f"contributions/{day}.parquet",
            f"contributions/quarantine/{day}.parquet",
            f"contributions_analysis/{day}.parquet",
            f"evaluation/{day}.parquet",
        ):
            assert objects.get(key, 0) > 0, key
    crawl = {k for k in objects if k.startswith("documents/mairie_arretes/")}
    assert {"documents/mairie_arretes/index.parquet", "documents/mairie_arretes/pdf_links.parquet"} <= crawl
    assert len([k for k in crawl if k.endswith(".md")]) == 7  # 6 documents + the listing
    analysis = read_parquet(data_path(f"{data_url}/contributions_analysis/{DAY2}.parquet"))
    assert len(analysis) == 16 and analysis["is_valid"].notna().all()

    scheduler = redis_server.client(6)
    for task in ("task_contributions_analysis", "task_firecrawl", "task_opik_experiment"):
        for day in (DAY1, DAY2):
            assert scheduler.get(f"success:{task}:{day.replace('-', '')}") == "completed", (task, day)
    assert not any(work.iterdir())  # nothing written on the local disk
    # the second night read the first night's index from the store: only the refresh slot was billed
    assert second_night_credits < 2 * 7
    text = "\n".join(events)
    assert S3Server.SECRET_KEY not in text and S3Server.ACCESS_KEY not in text
    assert f"s3://{bucket}/audierne/contributions_analysis/{DAY1}.parquet" in text  # paths shown as URLs


def test_the_llm_answer_cache_lives_in_the_store(s3_env, bucket):
    from ocapistaine_pipelines.contributions.llm import AnswerCache

    data_dir = DataDirResource(path=f"s3://{bucket}/town")
    cache = AnswerCache(data_dir.folder("contributions_analysis", "llm_cache"))
    assert cache.get("charter-abc", lambda reply: reply) is None  # absent: the prompt is sent
    cache.put("charter-abc", '{"is_valid": true}', "model-a")
    again = AnswerCache(data_dir.folder("contributions_analysis", "llm_cache"))  # another worker
    assert again.get("charter-abc", lambda reply: reply) == ('{"is_valid": true}', "model-a")
    assert set(s3_env.objects(bucket)) == {"town/contributions_analysis/llm_cache/charter-abc.json"}
    assert data_dir.describe() == f"s3://{bucket}/town (endpoint {s3_env.url})"


@pytest.mark.slow
def test_the_learned_validators_models_and_embeddings_live_in_the_store(s3_env, bucket):
    """``OCAPISTAINE_DATA_DIR=s3://...``: the model store and the embedding cache read whole objects and
    write atomically; a tampered model is refused there too."""
    import numpy as np

    from ocapistaine_pipelines.contributions.encoders import EmbeddingCache, make_encoder
    from ocapistaine_pipelines.contributions.learned import LearnedModel, ModelStore

    from .contributions.servers import FakeEmbeddings

    server = FakeEmbeddings()
    try:
        encoder = make_encoder("openai/emb", api_base=f"{server.url}/v1", api_key="k")
        root = data_path(f"s3://{bucket}/town/validator_model")
        texts = ["Le port d'Audierne manque de places.", "Les horaires de la médiathèque changent."]
        vectors = EmbeddingCache(root / "embeddings").encode(encoder, texts)
        again = EmbeddingCache(root / "embeddings").encode(encoder, texts[::-1])
        assert len(server.requests) == 1 and np.array_equal(again, vectors[::-1])  # read back, not embedded
    finally:
        server.stop()
    model = LearnedModel(
        encoder=encoder.name,
        coef=np.ones(16, dtype=np.float32),
        intercept=0.0,
        category_coef=None,
        category_intercept=None,
        category_classes=[],
        embeddings=vectors,
        ids=["a", "b"],
        titles=["a", "b"],
        labels=[True, False],
        kinds=["", "spam"],
        hashes=["h1", "h2"],
        categories_true=["", ""],
        metadata={"rows": 2},
    )
    store = ModelStore(root)
    store.save("m1", model)
    store.make_current("m1")
    ident, loaded = store.current()
    assert ident == "m1" and np.array_equal(loaded.embeddings, vectors) and loaded.kinds == ["", "spam"]
    store.path("m1").write_bytes(store.path("m1").read_bytes()[:50])
    with pytest.raises(ValueError, match="SHA-256"):
        store.current()
