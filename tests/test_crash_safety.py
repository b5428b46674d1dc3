"""Crash safety and concurrency: kill -9 at any moment then re-run; failed installs; shared locks.

A kill takes the whole process group (materialize and the uv it runs), as a crash, an OOM kill or
a container stop would. After the re-run the prefix must verify *and* be byte-identical to a
clean install at the same path.
"""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import run_python
from tests.prefix_checks import base_and_next, edit_lock, kill_at, snapshot, start_cli, tree_diff


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "crash")


def _site(prefix):
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    return found[0] if found else prefix / "no-site-packages-yet"


FRESH_MILESTONES = {
    "fetching": lambda prefix, cache: (cache / "conda-archives-v1").exists(),
    "linking python": lambda prefix, cache: any(prefix.glob("lib/python3*/os.py")),
    "conda linked": lambda prefix, cache: any(prefix.glob("conda-meta/tinyapp-*.json")),
    "uv installing": lambda prefix, cache: (_site(prefix) / "coreserial").exists(),
    "writing state": lambda prefix, cache: (prefix / ".materialize" / "expected.json").exists(),
}
UPDATE_MILESTONES = {
    "stamp cleared": lambda prefix, cache: not (prefix / ".materialize" / "stamp.json").exists(),
    "pypi six removed": lambda prefix, cache: not list(_site(prefix).glob("six-1.17.0.dist-info")),
    "conda six linking": lambda prefix, cache: (_site(prefix) / "six-1.16.0.dist-info").exists(),
    "uv installing": lambda prefix, cache: (_site(prefix) / "tinydep-1.0.dist-info").exists(),
}


def _reference(cli, project, prefix):
    cli.ok("install", project, "--prefix", prefix)
    tree = snapshot(prefix)
    shutil.rmtree(prefix)
    return tree


def _kill_rerun_verify(cli, project, prefix, cache, milestone) -> bool:
    env = {"MATERIALIZE_CACHE_DIR": str(cache)}
    killed = kill_at(start_cli("install", project, "--prefix", prefix, env=env), lambda: milestone(prefix, cache))
    cli.ok("install", project, "--prefix", prefix, env=env)
    cli.ok("verify", project, "--prefix", prefix)
    return killed


def test_kill_during_a_fresh_install_then_rerun(cli, tmp_path, projects, shared_cache):
    prefix = tmp_path / "env"
    reference = _reference(cli, projects["base"], prefix)
    killed = []
    for name, milestone in FRESH_MILESTONES.items():
        cache = tmp_path / f"cache-{len(killed)}" if name == "fetching" else shared_cache
        if _kill_rerun_verify(cli, projects["base"], prefix, cache, milestone):
            killed.append(name)
        assert tree_diff(reference, snapshot(prefix)) == [], f"after a kill at {name!r}"
        shutil.rmtree(prefix)
    assert len(killed) >= len(FRESH_MILESTONES) - 1, f"the install ended before most milestones: {killed}"


def test_kill_during_an_update_then_rerun(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    reference = _reference(cli, projects["next"], prefix)
    killed = []
    for name, milestone in UPDATE_MILESTONES.items():
        cli.ok("install", projects["base"], "--prefix", prefix)
        if _kill_rerun_verify(cli, projects["next"], prefix, tmp_path / "cache", milestone):
            killed.append(name)
        assert tree_diff(reference, snapshot(prefix)) == [], f"after a kill at {name!r}"
        shutil.rmtree(prefix)
    assert len(killed) >= len(UPDATE_MILESTONES) - 1, f"the install ended before most milestones: {killed}"


def test_a_failed_download_leaves_the_previous_prefix_working(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    cli.ok("install", projects["base"], "--prefix", prefix)

    def dead(package):
        if package["name"] in ("six", "tinydep"):
            package["url"] = "http://127.0.0.1:9/gone/" + package["url"].rsplit("/", 1)[-1]

    broken = edit_lock(projects["next"] / "materialize-lock.yml", tmp_path / "broken-lock.yml", dead)
    done = cli.fails(5, "install", projects["next"], "--lockfile", broken, "--prefix", prefix,
                     env={"MATERIALIZE_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert done.stderr.startswith("error: downloading http://127.0.0.1:9/gone/")
    cli.ok("verify", projects["base"], "--prefix", prefix)
    assert run_python(prefix, "import tinyweb, condapy").returncode == 0


# --- concurrency -----------------------------------------------------------------------------------


def test_two_installs_into_one_prefix_wait_for_each_other(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    env = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "cache")}
    runs = [start_cli("install", projects["base"], "--prefix", prefix, env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("Installed ") == 1 and stdout.count("is up to date") == 1, stdout
    cli.ok("verify", projects["base"], "--prefix", prefix)


def test_concurrent_installs_share_one_cache(cli, tmp_path, projects):
    cache = tmp_path / "cache"
    prefixes = [tmp_path / f"env{i}" for i in range(3)]
    runs = [start_cli("install", projects["base"], "--prefix", p, env={"MATERIALIZE_CACHE_DIR": str(cache)})
            for p in prefixes]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    for prefix in prefixes:
        cli.ok("verify", projects["base"], "--prefix", prefix)
        assert run_python(prefix, "import tinyweb, condapy").returncode == 0
    for bucket in ("conda-archives-v1", "wheels-v1"):
        for entry in (cache / bucket).iterdir():
            assert len([p for p in entry.iterdir() if p.name != ".lock"]) == 1, list(entry.iterdir())
