"""Scraping and reading helpers for the observability tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from suite.config import Config, ManagementConfig, UsageConfig

MANAGEMENT_KEY = "mgmt-test-key-0123456789"
MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}

Labels = tuple[tuple[str, str], ...]


def with_observability(config: Config, tmp: Path, **usage: Any) -> Config:
    """A management key, and usage records in ``tmp``."""
    return replace(
        config,
        management=ManagementConfig(key=MANAGEMENT_KEY),
        usage=UsageConfig(path=tmp / "usage.sqlite3", **usage),
    )


def samples(text: str) -> dict[str, dict[Labels, float]]:
    """Every sample of a scrape: ``{sample name: {sorted labels: value}}``."""
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


async def scrape(http: httpx.AsyncClient, url: str) -> dict[str, dict[Labels, float]]:
    r = await http.get(f"{url}/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def value(scraped: Mapping[str, Mapping[Labels, float]], name: str, **labels: str) -> float:
    """The sum of ``name`` over the label sets that include ``labels``."""
    want = set(labels.items())
    return sum(v for k, v in scraped.get(name, {}).items() if want <= set(k))


def nonzero(scraped: Mapping[str, Mapping[Labels, float]], name: str) -> dict[Labels, float]:
    return {k: v for k, v in scraped.get(name, {}).items() if v}
