"""Issue 13 (and 14): registry logins from where users keep them, bearer tokens, plain HTTP only
where allowed, and no secret anywhere: not in output, logs, the cache, the image, or a child's argv."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REGISTRY_AUTH
from tests.helpers import CLI_PATH
from tests.prefix_checks import snapshot, tree_diff
from tests.world import registry as registries
from tests.world.token_server import TokenServer

TOKEN_LOGIN = ("dora", "t0ken-Pa55-k3y-z8")


def _cli(*args: object, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI_PATH), *map(str, args)], input=stdin, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _assert_nowhere(secrets: list[str], *roots: Path, skip: tuple[Path, ...] = ()) -> None:
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if path in skip or path.is_symlink() or not path.is_file():
                    continue
                data = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in data, f"a secret is in {path}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    reason = registries.unavailable()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("token-registry")
    with TokenServer(folder, *TOKEN_LOGIN) as tokens, \
            registries.start_registry(folder / "registry", token_auth=tokens.registry_auth()) as registry:
        yield registry, tokens


def test_bearer_tokens_as_docker_hub_and_ghcr_issue_them(tmp_path, installed, token_registry):
    registry, tokens = token_registry
    ref = f"{registry.host}/team/tokens:v1"
    login = ("--username", TOKEN_LOGIN[0], "--password-stdin")
    seen = len(tokens.requests)
    _ok(_cli("push", "--prefix", installed.prefix, ref, *login, stdin=TOKEN_LOGIN[1] + "\n"))
    asked = tokens.requests[seen:]
    assert asked and all(r["query"] == {"service": "materialize-test-registry", "scope": "repository:team/tokens:pull,push"}
                         for r in asked)
    assert all(r["authorization"].startswith("Basic ") for r in asked), "the login went to the token service"
    wrong = _cli("push", "--prefix", installed.prefix, ref, *login, stdin="wrong\n")
    assert wrong.returncode == 5 and f"error: {registry.host} refused the login for {TOKEN_LOGIN[0]}" in wrong.stderr
    anonymous = _cli("push", "--prefix", installed.prefix, ref)  # an anonymous token grants nothing here
    assert anonymous.returncode == 5 and f"error: {registry.host} requires a login" in anonymous.stderr

    docker_config = tmp_path / "docker"  # pull with the login in $DOCKER_CONFIG/config.json
    docker_config.mkdir()
    token = base64.b64encode(":".join(TOKEN_LOGIN).encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {f"http://{registry.host}/v1/": {"auth": token}}}))
    shutil.rmtree(installed.prefix)
    env = {"DOCKER_CONFIG": str(docker_config), "MATERIALIZE_CACHE_DIR": str(tmp_path / "cache")}
    _ok(_cli("pull", ref, "--prefix", installed.prefix, env=env))
    assert tree_diff(installed.tree, snapshot(installed.prefix)) == []


def _credential_helper(folder: Path, registry, argv_log: Path) -> Path:
    """docker-credential-mzt: logs its argv, reads the server on stdin, answers with the login."""
    folder.mkdir(parents=True, exist_ok=True)
    helper = folder / "docker-credential-mzt"
    answer = json.dumps({"ServerURL": registry.host, "Username": REGISTRY_AUTH[0], "Secret": REGISTRY_AUTH[1]})
    helper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> "{argv_log}"\nread server\n'
                      f'[ "$1" = get ] && [ "$server" = "{registry.host}" ] || exit 3\n'
                      f"printf '%s' '{answer}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    return folder


def test_a_credential_helper_answers_on_stdin_and_no_secret_is_left_anywhere(tmp_path, installed, registry, isolated):
    argv_log = tmp_path / "argv.log"
    bin_dir = _credential_helper(tmp_path / "bin", registry, argv_log)
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"credHelpers": {registry.host: "mzt"}}))
    cache, layout = tmp_path / "cache", tmp_path / "layout"
    env = {"DOCKER_CONFIG": str(docker_config), "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "MATERIALIZE_CACHE_DIR": str(cache)}
    ref = f"{registry.host}/team/helper:v1"
    outputs = [_ok(_cli("push", "--prefix", installed.prefix, ref, "-vv", env=env)),
               _ok(_cli("push", "--prefix", installed.prefix, f"oci:{layout}:v1", "--json", env=env))]
    shutil.rmtree(installed.prefix)
    outputs += [_ok(_cli("pull", ref, "--prefix", installed.prefix, "-vv", env=env)),
                _ok(_cli("pull", ref, "--prefix", installed.prefix, "--json", env=env)),
                _cli("push", "--prefix", installed.prefix, ref, "--username", REGISTRY_AUTH[0], "--password-stdin",
                     "-vv", stdin="wrong-" + REGISTRY_AUTH[1], env=env)]
    assert outputs[-1].returncode == 5
    assert argv_log.read_text().count(" get\n") == 3 and REGISTRY_AUTH[1] not in argv_log.read_text()
    basic = base64.b64encode(":".join(REGISTRY_AUTH).encode()).decode()
    for done in outputs:
        assert REGISTRY_AUTH[1] not in done.stdout + done.stderr and basic not in done.stdout + done.stderr
    _assert_nowhere([REGISTRY_AUTH[1], basic], cache, layout, installed.prefix, registry.storage, isolated,
                    skip=(docker_config / "config.json",))


def _outside_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.254.254.254", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_plain_http_only_for_loopback_or_a_registry_marked_insecure(tmp_path, installed):
    address = _outside_address()
    if address is None or registries.unavailable():
        pytest.skip(registries.unavailable() or "this machine has no address but loopback")
    with registries.start_registry(tmp_path / "registry", address=address) as registry:
        ref = f"{registry.host}/team/plain:v1"
        refused = _cli("push", "--prefix", installed.prefix, ref)
        assert refused.returncode == 5 and f"error: {registry.host}: not reachable as an OCI registry" in refused.stderr
        assert "--insecure" in refused.stderr
        _ok(_cli("push", "--prefix", installed.prefix, ref, "--insecure"))
        shutil.rmtree(installed.prefix)
        _ok(_cli("pull", ref, "--prefix", installed.prefix, env={"MATERIALIZE_INSECURE_REGISTRIES": registry.host}))
        assert tree_diff(installed.tree, snapshot(installed.prefix)) == []
