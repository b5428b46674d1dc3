"""Crash convergence: a kill -9 at any moment of an install, then a re-run, gives a tree
byte-identical to a clean install of the same lock at the same path (bytes, modes, links,
conda-meta, the expected state and the stamp).

Kills come two ways: deterministically at every named point of the prefix owner (the
``MATERIALIZE_FAULT`` seam kills the process with SIGKILL there), and at random moments with real
SIGKILLs of the whole process group. A kill of the main process alone, aimed at the first
moments of the uv child, must not leave uv writing into the prefix. Fresh installs, updates (conda
and PyPI packages added, removed and replaced) and Python-minor rebuilds are all covered.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from tests.helpers import run_python
from tests.prefix_checks import (base_and_next, children_of, edit_lock, lock_env, make_project, snapshot,
                                 start_cli, tree_diff)

FAULT = "MATERIALIZE_FAULT"
# The points a fresh install passes (record-written: once per conda package; python, pip, tinyapp,
# tinyleaf, condapy), an update (base -> next: two PyPI removals, one conda package linked) and a
# rebuild for another Python (every package again, after the prefix is cleared).
FRESH_POINTS = ["stamp-cleared", "conda-linked", *[f"record-written:{n}" for n in range(1, 6)],
                "wheels-installed", "pypi-installed", "expected-written", "times-fixed"]
UPDATE_POINTS = ["stamp-cleared", "pypi-removed:1", "pypi-removed:2", "conda-linked", "record-written:1",
                 "wheels-installed", "pypi-installed", "expected-written", "times-fixed"]
REBUILD_POINTS = ["stamp-cleared", "cleared", "conda-linked", "record-written:3", "pypi-installed",
                  "expected-written"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "crash")


@pytest.fixture(scope="module")
def references(tmp_path_factory, projects, shared_cache):
    """Clean installs of both locks at one path, as snapshots (the tests install at that path)."""
    from tests.helpers import Cli

    prefix = tmp_path_factory.mktemp("crash-env") / "env"
    found = {}
    for name in ("base", "next"):
        Cli().ok("install", projects[name], "--prefix", prefix, env={"MATERIALIZE_CACHE_DIR": str(shared_cache)})
        found[name] = snapshot(prefix)
        shutil.rmtree(prefix)
    return prefix, found


def _killed_at(cli, project, prefix, point: str) -> subprocess.CompletedProcess:
    done = cli("install", project, "--prefix", prefix, env={FAULT: point})
    assert done.returncode == -signal.SIGKILL, f"never reached {point}: exit {done.returncode}\n{done.stderr}"
    return done


def _rerun_equals(cli, project, prefix, reference, what: str) -> None:
    cli.ok("install", project, "--prefix", prefix)
    cli.ok("verify", project, "--prefix", prefix)
    assert tree_diff(reference, snapshot(prefix)) == [], f"after a kill {what}"


def test_kill_at_every_point_of_a_fresh_install(cli, projects, references):
    prefix, reference = references
    for point in FRESH_POINTS:
        _killed_at(cli, projects["base"], prefix, point)
        assert not (prefix / ".materialize" / "stamp.json").exists()
        done = cli.fails(6, "verify", projects["base"], "--prefix", prefix)
        assert "the last install did not finish" in done.stdout
        _rerun_equals(cli, projects["base"], prefix, reference["base"], f"at {point}")
        shutil.rmtree(prefix)


def test_kill_at_every_point_of_an_update(cli, projects, references):
    prefix, reference = references
    for point in UPDATE_POINTS:
        cli.ok("install", projects["base"], "--prefix", prefix)
        _killed_at(cli, projects["next"], prefix, point)
        _rerun_equals(cli, projects["next"], prefix, reference["next"], f"at {point} of an update")
        shutil.rmtree(prefix)


def test_kill_during_a_rebuild_for_another_python(cli, tmp_path_factory, channel_url, pypi, core_file,
                                                  shared_cache, other_python, projects, references):
    prefix, reference = references
    env = lock_env(tmp_path_factory, core_file, shared_cache)
    other = make_project(tmp_path_factory.mktemp("crash-other") / "other", channel_url, pypi.url, env,
                         conda=f"python={other_python}\ntinyapp\ncondapy=1.0\n")
    cli.ok("install", other, "--prefix", prefix)
    other_reference = snapshot(prefix)
    shutil.rmtree(prefix)
    for point in REBUILD_POINTS:
        cli.ok("install", projects["base"], "--prefix", prefix)
        _killed_at(cli, other, prefix, point)
        _rerun_equals(cli, other, prefix, other_reference, f"at {point} of a rebuild")
        shutil.rmtree(prefix)


def test_random_kills_of_the_process_group_converge(cli, projects, references):
    prefix, reference = references
    rng = random.Random(20261201)
    started = time.monotonic()
    cli.ok("install", projects["base"], "--prefix", prefix)
    duration = time.monotonic() - started
    shutil.rmtree(prefix)
    killed = 0
    for attempt in range(8):
        update = attempt % 2 == 1
        if update:
            cli.ok("install", projects["base"], "--prefix", prefix)
        target = projects["next"] if update else projects["base"]
        run = start_cli("install", target, "--prefix", prefix)
        time.sleep(rng.uniform(0.05, duration))
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            killed += 1
        run.communicate()
        _rerun_equals(cli, target, prefix, reference["next" if update else "base"], f"at random ({attempt})")
        shutil.rmtree(prefix)
    assert killed >= 4, f"only {killed} of 8 runs were still going when killed"


def test_killing_only_the_main_process_leaves_no_writer(cli, projects, references):
    """As an OOM killer or a container stop: SIGKILL to materialize alone, the moment its uv child
    starts. The child dies with it, and the re-run waits for whatever still holds the prefix."""
    prefix, reference = references
    kills = 0
    for attempt in range(4):
        run = start_cli("install", projects["base"], "--prefix", prefix)
        deadline = time.monotonic() + 60
        child = None
        while child is None and run.poll() is None and time.monotonic() < deadline:
            child = next((pid for pid, name in children_of(run.pid) if name == "uv"), None)
            time.sleep(0.002)
        if child is not None:
            time.sleep(0.05 * attempt)  # the first moments of uv: at once, then 50, 100, 150 ms in
            os.kill(run.pid, signal.SIGKILL)
            kills += 1
        run.communicate()
        _rerun_equals(cli, projects["base"], prefix, reference["base"], f"of the main process ({attempt})")
        time.sleep(0.3)  # an orphaned uv would still be writing now
        assert tree_diff(reference["base"], snapshot(prefix)) == [], "something wrote after the re-run"
        if child is not None:
            assert not os.path.exists(f"/proc/{child}") or _zombie(child), "uv outlived materialize"
        shutil.rmtree(prefix)
    assert kills >= 3


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_failed_download_leaves_the_previous_prefix_working(cli, tmp_path, projects):
    prefix = tmp_path / "env"
    cli.ok("install", projects["base"], "--prefix", prefix)
    before = snapshot(prefix)

    def dead(package):
        if package["name"] in ("six", "tinydep"):
            package["url"] = "http://127.0.0.1:9/gone/" + package["url"].rsplit("/", 1)[-1]

    broken = edit_lock(projects["next"] / "materialize-lock.yml", tmp_path / "broken-lock.yml", dead)
    done = cli.fails(5, "install", projects["next"], "--lockfile", broken, "--prefix", prefix,
                     env={"MATERIALIZE_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert done.stderr.startswith("error: downloading http://127.0.0.1:9/gone/")
    assert tree_diff(before, snapshot(prefix)) == [], "a failed download changed the prefix"
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
