"""Lock-time downloads: finding the PyPI distributions conda packages ship reads only the archives'
info/ part (range requests), falls back to whole downloads where a server ignores ranges, and
remembers the answer by sha256. The channel servers count every byte they send."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import pip_conf_for, write_project
from tests.world.conda_channel import ChannelServer


@pytest.fixture(scope="module")
def ranged(channel):
    with ChannelServer(channel, ranges=True) as server:
        yield server


@pytest.fixture(scope="module")
def plain(channel):
    with ChannelServer(channel, ranges=False) as server:
        yield server


def _project(root: Path, pypi) -> Path:
    return write_project(root, conda="six=1.16.0\ncondapy\n", requirements="tinyweb\n",
                         pip_conf=pip_conf_for(pypi.url))


def _lock(cli, project: Path, channel: str, cache: Path) -> dict:
    (project / "materialize-lock.yml").unlink(missing_ok=True)
    cli.ok("lock", project, "--channel", channel, env={"MATERIALIZE_CACHE_DIR": str(cache)})
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    return json.loads(data["metadata"]["custom_metadata"]["materialize.conda-provided"])["linux-64"]


def _archive_requests(server: ChannelServer, since: int) -> list[tuple[str, int, int]]:
    return [entry for entry in server.served[since:] if entry[0].endswith((".conda", ".tar.bz2"))]


def _size(channel: Path, request_path: str) -> int:
    return (channel / request_path.lstrip("/")).stat().st_size


def test_lock_over_http_reads_only_the_info_part(cli, tmp_path, channel, ranged, pypi):
    project = _project(tmp_path / "p", pypi)
    expected = _lock(cli, project, channel.as_uri(), tmp_path / "file-cache")
    before = len(ranged.served)
    provided = _lock(cli, project, ranged.url, tmp_path / "cache")
    assert provided == expected and {"six", "condapy", "pip"} <= set(provided)
    requests = _archive_requests(ranged, before)
    assert {status for _, status, _ in requests} == {206}, requests
    assert not any("/python-" in path for path, _, _ in requests), "the python package was read"
    sent: dict[str, int] = {}
    for path, _, count in requests:
        sent[path] = sent.get(path, 0) + count
    pip_archive = next(path for path in sent if path.rsplit("/", 1)[-1].startswith("pip-"))
    assert _size(channel, pip_archive) > 1_000_000
    assert sent[pip_archive] < _size(channel, pip_archive) / 20, f"{sent[pip_archive]} bytes of pip's archive"
    assert not list((tmp_path / "cache").glob("conda-archives-v1/*/*.conda")), "an archive was downloaded whole"

    again = len(ranged.served)
    assert _lock(cli, project, ranged.url, tmp_path / "cache") == expected
    assert _archive_requests(ranged, again) == [], "the answer is remembered by sha256"


def test_lock_without_range_support_downloads_whole_archives(cli, tmp_path, channel, plain, pypi):
    project = _project(tmp_path / "p", pypi)
    expected = _lock(cli, project, channel.as_uri(), tmp_path / "file-cache")
    before = len(plain.served)
    assert _lock(cli, project, plain.url, tmp_path / "cache") == expected
    requests = _archive_requests(plain, before)
    assert requests and all(status == 200 for _, status, _ in requests)
    fetched = {path.rsplit("/", 1)[-1] for path, _, _ in requests}
    cached = {p.name for p in (tmp_path / "cache").glob("conda-archives-v1/*/*.conda")}
    assert fetched <= cached, "a whole download lands in the verified cache, for the install"


def test_an_archive_that_is_not_a_conda_package_is_an_integrity_error(cli, tmp_path, channel, pypi):
    broken = tmp_path / "channel"
    shutil.copytree(channel, broken)
    six = next(broken.glob("noarch/six-1.16.0-*.conda"))
    six.write_bytes(six.read_bytes()[: six.stat().st_size // 2])  # truncated: its zip directory is gone
    project = _project(tmp_path / "p", pypi)
    with ChannelServer(broken, ranges=True) as server:
        done = cli.fails(6, "lock", project, "--channel", server.url,
                         env={"MATERIALIZE_CACHE_DIR": str(tmp_path / "cache")})
    assert f"{six.name} (" in done.stderr and "is not a readable conda package" in done.stderr
    assert not (project / "materialize-lock.yml").exists()
