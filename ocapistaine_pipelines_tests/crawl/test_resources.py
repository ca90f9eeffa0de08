"""The crawl's resource from the environment: secrets (the key, a URL's credentials) never shown."""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.crawl.gateway import FirecrawlFailed
from ocapistaine_pipelines.crawl.resources import FirecrawlResource, firecrawl_resource_from_env
from ocapistaine_pipelines.crawl.sources import parse_sources
from ocapistaine_pipelines_tests.services import free_port

SOURCE = parse_sources(
    [{"name": "a", "url": "https://www.audierne.bzh/arretes/", "discovery": "map"}], "test"
)[0]


def test_explicit_environ_gives_plain_values():
    resource = firecrawl_resource_from_env(
        {"FIRECRAWL_API_URL": "http://firecrawl:3002", "FIRECRAWL_API_KEY": "fc-1"}
    )
    assert resource.api_url == "http://firecrawl:3002" and resource.api_key == "fc-1" and resource.configured
    assert not firecrawl_resource_from_env({}).configured


@pytest.mark.parametrize(
    "url_secret, url",
    [
        ("pa55word", "http://crawler:pa55word@127.0.0.1:{port}"),
        ("tok-123456", "http://127.0.0.1:{port}/?token=tok-123456"),
    ],
)
def test_the_api_url_is_an_env_var_and_its_credentials_never_show(monkeypatch, url_secret, url):
    monkeypatch.setenv("FIRECRAWL_API_URL", url.format(port=free_port()))  # nothing listens there
    monkeypatch.setenv("FIRECRAWL_API_KEY", "fc-secret-key")
    resource = firecrawl_resource_from_env()
    # EnvVars: the Dagster UI shows the variables' names, never the URL's credentials or the key
    assert isinstance(resource.api_url, dg.EnvVar) and resource.api_url == "FIRECRAWL_API_URL"
    assert isinstance(resource.api_key, dg.EnvVar)
    quick = FirecrawlResource(
        api_url=resource.api_url, api_key=resource.api_key, max_attempts=1, request_timeout_seconds=2
    )
    with dg.build_resources({"firecrawl": quick}) as built:  # EnvVars resolved as in a run
        gateway = built.firecrawl.gateway()
        assert url_secret not in gateway.api_url and "127.0.0.1" in gateway.api_url
        with pytest.raises(FirecrawlFailed) as caught:
            gateway.map_links(SOURCE)
    message = str(caught.value)
    assert "cannot reach Firecrawl at http://127.0.0.1:" in message
    assert url_secret not in message and "fc-secret-key" not in message
    assert url_secret not in gateway.redact(f"GET {url.format(port=1)} failed")
