"""Issue 14: a login goes to its own origin (scheme, host and port) and nowhere else: not to another
port of the same host, not across a redirect, through uv (lock), our downloader (install) and git."""

from __future__ import annotations

import pytest

from tests.conftest import PRIVATE_AUTH
from tests.helpers import run_python, write_project
from tests.world import git_repos, wheels
from tests.world.recording_index import recording_index

USER, PASSWORD = PRIVATE_AUTH
TOKEN = "ghp_ScopeTestToken_4242"


@pytest.fixture(scope="module")
def wheel_folders(tmp_path_factory):
    public = tmp_path_factory.mktemp("scope-public")
    wheels.build_all(wheels.public_dists(), public)
    for wheel in wheels.setuptools_wheels():
        (public / wheel.name).write_bytes(wheel.read_bytes())
    private = tmp_path_factory.mktemp("scope-private")
    wheels.build_all(wheels.private_dists(), private)
    return public, private


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own: every artifact is really downloaded, at lock and at install."""
    monkeypatch.setenv("MATERIALIZE_CACHE_DIR", str(tmp_path / "cache"))


def _lock_and_install(cli, project, channel_url, prefix, recorder=None):
    cli.ok("lock", project, "--channel", channel_url)
    before = len(recorder.requests) if recorder else 0
    cli.ok("install", project, "--prefix", prefix)
    if recorder is not None:
        assert [r for r in recorder.requests[before:] if r.path.startswith("/packages/")], "install fetched nothing"


def test_another_port_of_the_same_host_gets_no_login(cli, tmp_path, channel_url, private_pypi, wheel_folders):
    public, _ = wheel_folders
    with recording_index(public) as other:
        project = write_project(tmp_path / "p", requirements="privpkg\ntinydep\n", pip_conf=(
            f"[global]\nindex-url = {other.url}\n"
            f"extra-index-url = http://{USER}:{PASSWORD}@{private_pypi.host}/simple/\n"))
        _lock_and_install(cli, project, channel_url, tmp_path / "env", other)
    assert run_python(tmp_path / "env", "import privpkg, tinydep").returncode == 0
    assert any("/packages/tinydep" in r.path for r in other.requests), "the other port was never asked"
    assert other.authorizations() == []


def test_a_redirect_to_another_origin_carries_no_login(cli, tmp_path, channel_url, pypi, wheel_folders):
    public, private = wheel_folders
    with recording_index(private) as other, \
            recording_index(private, auth=(USER, PASSWORD), redirect=other.base) as index:
        host = index.base.split("://")[1]
        project = write_project(tmp_path / "p", requirements="privpkg\n", pip_conf=(
            f"[global]\nindex-url = {pypi.url}\nextra-index-url = http://{USER}:{PASSWORD}@{host}/simple/\n"))
        _lock_and_install(cli, project, channel_url, tmp_path / "env", other)  # uv at lock, ours at install
    assert run_python(tmp_path / "env", "import privpkg").returncode == 0
    assert index.authorizations(), "the private index never received its login"
    downloads = [r for r in other.requests if r.path.startswith("/packages/privpkg")]
    assert downloads, "nothing was redirected"
    assert other.authorizations() == []


@pytest.fixture
def git_hosts(tmp_path):
    """Two git servers: ``gitpkg`` behind a token (the seed's ``https://TOKEN@host`` form), ``tinygit``
    open, both recording the Authorization header of every request."""
    locked, open_ = tmp_path / "locked", tmp_path / "open"
    locked.mkdir()
    open_.mkdir()
    git_repos.make_git_repo(locked, "gitpkg", ["1.0"])
    git_repos.make_git_repo(open_, "tinygit", ["1.0"])
    return locked, open_


def test_git_token_goes_to_its_own_origin_only(cli, tmp_path, channel_url, pypi, git_hosts):
    locked, open_ = git_hosts
    seen_locked, seen_open = [], []
    with git_repos.serve_git_over_http(locked, auth=(TOKEN, ""), record=seen_locked) as a, \
            git_repos.serve_git_over_http(open_, record=seen_open) as b:
        a_host, b_host = a.split("://")[1], b.split("://")[1]
        project = write_project(tmp_path / "p", pip_conf=f"[global]\nindex-url = {pypi.url}\n", requirements=(
            f"git+http://{TOKEN}@{a_host}/gitpkg.git@v1.0#egg=gitpkg\n"
            f"git+http://{b_host}/tinygit.git@v1.0#egg=tinygit\n"))
        cli.ok("lock", project, "--channel", channel_url)  # install runs git with the same child_auth (test_secrets)
    assert any(auth for _, auth in seen_locked)
    assert seen_open and [auth for _, auth in seen_open if auth] == []


def test_git_redirect_to_another_origin_carries_no_token(cli, tmp_path, channel_url, pypi):
    """The token's origin redirects to another port, which asks for a login (401): git gets none for it."""
    with recording_index(tmp_path, auth=("someone", "else")) as other, \
            recording_index(tmp_path, auth=(TOKEN, ""), redirect=other.base, redirect_prefix="/") as front:
        project = write_project(tmp_path / "p", pip_conf=f"[global]\nindex-url = {pypi.url}\n", requirements=(
            f"git+http://{TOKEN}@{front.base.split('://')[1]}/gitpkg.git@v1.0#egg=gitpkg\n"))
        done = cli.fails(5, "lock", project, "--channel", channel_url)
    assert front.authorizations(), "git never authenticated at the first origin"
    assert other.requests, f"git did not follow the redirect:\n{done.stderr}"
    assert other.authorizations() == []
