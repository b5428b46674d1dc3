"""Issue 13: environments travel as OCI images, through a real registry and OCI layouts.

Every test runs the CLI as a user does, against Debian's docker-registry (distribution 2.8) on
127.0.0.1, and judges the result with the environment's own Python, `verify`, full tree
snapshots, and the registry's access log (what the client really sent).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REGISTRY_AUTH
from tests.helpers import CLI_PATH
from tests.prefix_checks import kill_at, run_env_python, snapshot, start_cli, tree_diff
from tests.world import registry as registries

IMPORTS = "import tinyweb, six, condapy, coreserver, tinydep; print('imported')"


def _install(cli, project: Path, prefix: Path, cache: Path | None = None) -> None:
    cli.ok("install", project, "--prefix", prefix, env={"MATERIALIZE_CACHE_DIR": str(cache)} if cache else None)


def _auth(registry, tmp_path: Path, password: str | None = None) -> dict[str, str]:
    return {"REGISTRY_AUTH_FILE": str(registry.write_auth_file(tmp_path / "auth.json", password))}


def _data(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout)["data"]


def _with_stdin(text: str, *args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([str(CLI_PATH), *map(str, args)], input=text, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def projects(image_projects):
    return image_projects


def test_push_then_pull_onto_a_second_cache_and_prefix(cli, tmp_path, installed, projects, registry):
    prefix, ref = installed.prefix, f"{registry.host}/team/iris-env:round-trip"
    auth = _auth(registry, tmp_path)
    pushed = _data(cli.ok("push", "--prefix", prefix, ref, "--json", env=auth))
    assert 3 <= len(pushed["layers"]) < 100 and pushed["uploaded"]["manifest"] is True
    shutil.rmtree(prefix)
    second_cache = {**auth, "MATERIALIZE_CACHE_DIR": str(tmp_path / "second-cache")}
    pulled = _data(cli.ok("pull", ref, "--prefix", prefix, "--json", env=second_cache))
    assert pulled["digest"] == pushed["digest"] and pulled["status"] == "pulled"
    assert pulled["fetched"]["blobs"] == len(pushed["layers"]) + 1  # every layer and the config
    assert tree_diff(installed.tree, snapshot(prefix)) == [], "a pull differs from the install it was pushed from"
    cli.ok("verify", projects["base"], "--prefix", prefix)
    done = run_env_python(prefix, IMPORTS)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr

    shutil.rmtree(prefix)  # again into an empty prefix: the cache holds every blob, none travels
    seen = len(registry.requests())
    again = _data(cli.ok("pull", ref, "--prefix", prefix, "--json", env=second_cache))
    assert again["fetched"]["blobs"] == 0 and again["cached"] == len(pushed["layers"]) + 1
    assert [r for r in registry.requests()[seen:] if r.method == "GET" and "/blobs/" in r.path] == []
    assert tree_diff(installed.tree, snapshot(prefix)) == []
    assert "already holds" in cli.ok("pull", ref, "--prefix", prefix, env=second_cache).stdout


def test_a_second_push_of_the_same_env_uploads_nothing(cli, tmp_path, installed, registry):
    ref = f"{registry.host}/team/twice:v1"
    auth = _auth(registry, tmp_path)
    first = _data(cli.ok("push", "--prefix", installed.prefix, ref, "--json", env=auth))
    seen = len(registry.requests())
    second = _data(cli.ok("push", "--prefix", installed.prefix, ref, "--json", env=auth))
    sent = registry.requests()[seen:]
    assert [r for r in sent if r.method in ("POST", "PUT", "PATCH")] == [], "the second push uploaded something"
    assert second["uploaded"] == {"blobs": 0, "bytes": 0, "manifest": False}
    assert second["present"] == len(first["layers"]) + 1 and second["digest"] == first["digest"]
    assert second["built_layers"] == 0, "unchanged layers were compressed again"


def test_wrong_or_missing_login_is_exit_5_naming_the_registry(cli, tmp_path, installed, registry):
    prefix, ref = installed.prefix, f"{registry.host}/team/denied:v1"
    wrong = cli.fails(5, "push", "--prefix", prefix, ref, env=_auth(registry, tmp_path, "not-the-password"))
    assert f"error: {registry.host} refused the login for {REGISTRY_AUTH[0]}" in wrong.stderr
    assert "auth.json" in wrong.stderr  # where the login came from
    flagged = _with_stdin("also-wrong\n", "push", "--prefix", prefix, ref, "--username", REGISTRY_AUTH[0],
                          "--password-stdin")
    assert flagged.returncode == 5 and f"{registry.host} refused the login" in flagged.stderr
    anonymous = cli.fails(5, "pull", ref, "--prefix", prefix)
    assert f"error: {registry.host} requires a login" in anonymous.stderr
    right = _with_stdin(REGISTRY_AUTH[1] + "\n", "push", "--prefix", prefix, ref, "--username", REGISTRY_AUTH[0],
                        "--password-stdin")
    assert right.returncode == 0, right.stderr
    for done in (wrong, flagged, anonymous, right):
        assert REGISTRY_AUTH[1] not in done.stdout + done.stderr


def test_pull_into_another_path_is_refused_with_exit_3(cli, tmp_path, vacant):
    image = f"oci:{vacant.layout}:v1"
    elsewhere = tmp_path / "elsewhere"
    done = cli.fails(3, "pull", image, "--prefix", elsewhere)
    assert f"is the environment for {vacant.prefix}; refusing to pull it into {elsewhere}" in done.stderr
    assert not elsewhere.exists()
    vacant.prefix.mkdir()  # a folder that holds something else is never overwritten
    (vacant.prefix / "keep.txt").write_text("mine\n")
    done = cli.fails(3, "pull", image, "--prefix", vacant.prefix)
    assert "not empty and not a materialize environment" in done.stderr
    assert [p.name for p in vacant.prefix.iterdir()] == ["keep.txt"]


def test_a_corrupted_blob_is_refused_with_exit_6_and_nothing_is_written(cli, tmp_path, installed):
    reason = registries.unavailable()
    if reason:
        pytest.skip(reason)
    with registries.start_registry(tmp_path / "registry") as registry:  # its own: the blob stays broken
        ref = f"{registry.host}/team/broken:v1"
        layers = _data(cli.ok("push", "--prefix", installed.prefix, ref, "--json"))["layers"]
        biggest = max(layers, key=lambda layer: layer["size"])
        data = registry.blob_data(biggest["digest"])
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # same size, one byte flipped
        data.write_bytes(bytes(raw))
        shutil.rmtree(installed.prefix)
        fresh = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "fresh")}
        done = cli.fails(6, "pull", ref, "--prefix", installed.prefix, env=fresh)
        assert f"blob {biggest['digest']} does not match its digest" in done.stderr
        assert not installed.prefix.exists(), "a refused pull wrote into the prefix"


def test_a_corrupted_cache_entry_is_fetched_again_and_a_corrupted_layout_refused(cli, tmp_path, vacant):
    image, prefix = f"oci:{vacant.layout}:v1", vacant.prefix
    cache = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "pull-cache")}
    cli.ok("pull", image, "--prefix", prefix, env=cache)
    shutil.rmtree(prefix)
    blob = max((tmp_path / "pull-cache" / "oci-blobs-v1" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    blob.write_bytes(b"\0" * blob.stat().st_size)
    again = _data(cli.ok("pull", image, "--prefix", prefix, "--json", env=cache))
    assert again["fetched"]["blobs"] == 1
    assert tree_diff(vacant.tree, snapshot(prefix)) == []
    layout = tmp_path / "layout"
    shutil.copytree(vacant.layout, layout)
    layout_blob = layout / "blobs" / "sha256" / blob.name
    layout_blob.write_bytes(b"\0" * layout_blob.stat().st_size)
    shutil.rmtree(prefix)
    done = cli.fails(6, "pull", f"oci:{layout}:v1", "--prefix", prefix,
                     env={"MATERIALIZE_CACHE_DIR": str(tmp_path / "other-cache")})
    assert "does not match its digest" in done.stderr and not prefix.exists()


def test_digests_are_reproducible_from_two_clean_builds(cli, tmp_path, projects):
    """Two installs of one lockfile at one path, each with its own empty cache, pushed separately."""
    prefix = tmp_path / "env"
    layouts = []
    for name in ("first", "second"):
        cache = tmp_path / f"cache-{name}"
        _install(cli, projects["base"], prefix, cache)
        layouts.append(tmp_path / f"layout-{name}")
        cli.ok("push", "--prefix", prefix, f"oci:{layouts[-1]}:v1", env={"MATERIALIZE_CACHE_DIR": str(cache)})
        shutil.move(prefix, tmp_path / f"built-{name}")
    first, second = (snapshot(layout) for layout in layouts)
    assert tree_diff(first, second) == [], "two clean builds gave different blobs or index"
    index = json.loads((layouts[0] / "index.json").read_text())
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "v1"}


def test_kill_at_every_point_of_a_pull_then_rerun_converges(cli, tmp_path, vacant):
    """A SIGKILL (the fault seam, materialize/faults.py) after the stamp goes, after the first, a
    middle and the last layer, after the sweep and after the record times, and a real kill while
    files are written. Each time the prefix is unfinished (no stamp), and the re-run gives the
    installed tree byte for byte."""
    image, prefix = f"oci:{vacant.layout}:v1", vacant.prefix
    env = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "pull-cache")}
    layers = len(json.loads(_blob(vacant.layout, _index_digest(vacant.layout)))["layers"])
    points = ["pull-stamp-cleared", "pull-layer:1", f"pull-layer:{layers // 2}", f"pull-layer:{layers}", "pull-swept",
              "pull-times-fixed", None]
    for point in points:
        if point is None:
            process = start_cli("pull", image, "--prefix", prefix, env=env)
            assert kill_at(process, lambda: (prefix / "lib").is_dir()), "the pull ended before the kill"
        else:
            killed = cli("pull", image, "--prefix", prefix, env={**env, "MATERIALIZE_FAULT": point})
            assert killed.returncode == -9, f"{point}: exit {killed.returncode}\n{killed.stderr}"
        assert not (prefix / ".materialize" / "stamp.json").exists(), point
        if point == "pull-times-fixed":  # the last moment before the stamp: verify says so too
            assert "the last install did not finish" in cli.fails(6, "verify", "--prefix", prefix).stdout
        cli.ok("pull", image, "--prefix", prefix, env=env)
        assert tree_diff(vacant.tree, snapshot(prefix)) == [], point
        vacant.clear()


def _index_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def test_pull_updates_a_prefix_fetching_only_the_changed_layers(cli, tmp_path, installed, projects):
    prefix, next_layout = installed.prefix, tmp_path / "layout-next"
    _install(cli, projects["next"], prefix)  # an update in place, then its image
    cli.ok("push", "--prefix", prefix, f"oci:{next_layout}:v1")
    next_tree = snapshot(prefix)
    shutil.rmtree(prefix)
    env = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "pull-cache")}
    first = _data(cli.ok("pull", f"oci:{installed.layout}:v1", "--prefix", prefix, "--json", env=env))
    update = _data(cli.ok("pull", f"oci:{next_layout}:v1", "--prefix", prefix, "--json", env=env))
    assert 0 < update["fetched"]["blobs"] < first["fetched"]["blobs"], update
    assert update["kept_files"] > 1000, "unchanged files were rewritten"
    assert tree_diff(next_tree, snapshot(prefix)) == [], "an updated prefix differs from a fresh install"
    cli.ok("verify", projects["next"], "--prefix", prefix)


def test_verify_against_the_image_catches_what_the_prefix_record_hides_and_repair_restores(cli, tmp_path, installed):
    image, prefix = f"oci:{installed.layout}:v1", installed.prefix
    cli.ok("verify", "--prefix", prefix, "--image", image)
    tool = prefix / "bin" / "tinyapp"
    tool.write_text("#!/bin/sh\necho tampered\n")
    record = prefix / ".materialize" / "expected.json"  # the tamperer rewrites the record too
    data = json.loads(record.read_text())
    new = hashlib.sha256(tool.read_bytes()).hexdigest()
    for package in data["packages"].values():
        if "bin/tinyapp" in package["files"]:
            package["files"]["bin/tinyapp"][2:] = [tool.stat().st_size, new]
    record.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n")
    cli.ok("verify", "--prefix", prefix)  # its own record agrees with it
    done = cli.fails(6, "verify", "--prefix", prefix, "--image", image)
    assert "differs from the image" in done.stdout and "modified   bin/tinyapp" in done.stdout
    assert "the prefix's record of its expected state differs from the image's" in done.stdout
    assert "already holds" in cli.ok("pull", image, "--prefix", prefix).stdout  # the stamp still says so
    repaired = _data(cli.ok("pull", "--repair", image, "--prefix", prefix, "--json"))
    assert repaired["kept_files"] > 1000
    assert tree_diff(installed.tree, snapshot(prefix)) == []
    cli.ok("verify", "--prefix", prefix, "--image", image)
    assert cli.fails(3, "verify", "--prefix", tmp_path / "x", "--image", image).returncode == 3
