"""Fixtures the data tests share."""
from urllib.error import URLError

import pytest


@pytest.fixture
def ogb_offline(monkeypatch):
    """Every download ogb attempts fails as it would without network; records the urls asked for."""
    urls = []

    def fail(url, folder, log=True):
        urls.append(url)
        raise URLError("no network")

    monkeypatch.setattr("ogb.utils.url.download_url", fail)
    return urls
