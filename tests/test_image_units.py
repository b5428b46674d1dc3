"""Unit tests of the image package: references, logins, challenges, layer grouping, unsafe layers."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from materialize.errors import FetchError, InputError, IntegrityError, UsageError
from materialize.image import auth, credentials, layers, reference, unpack
from materialize.image.prefix_files import OWN_STATE, Entry
from materialize.prefix.expected import ExpectedState, FileState, PackageState
from materialize.secrets import redact


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5000/team/iris-env:2026-12-01", ("127.0.0.1:5000", "team/iris-env", "2026-12-01", None)),
    ("docker://registry.example.com/a/b/c", ("registry.example.com", "a/b/c", None, None)),
    ("localhost/env@sha256:" + "a" * 64, ("localhost", "env", None, "sha256:" + "a" * 64)),
    ("python:3.11", ("docker.io", "library/python", "3.11", None)),
    ("team/env", ("docker.io", "team/env", None, None)),
    ("[::1]:5000/env:v1", ("[::1]:5000", "env", "v1", None)),
])
def test_registry_references_parse_as_docker_spells_them(text, expected):
    ref = reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected


def test_layout_references_end_the_path_at_the_first_colon(tmp_path):
    ref = reference.parse(f"oci:{tmp_path}/layout:v1")
    assert ref == reference.LayoutRef(tmp_path / "layout", "v1") and str(ref) == f"oci:{tmp_path}/layout:v1"
    assert reference.parse(f"oci:{tmp_path}").tag is None


@pytest.mark.parametrize("text, message", [
    ("127.0.0.1:5000/Team/env", "'127.0.0.1:5000/Team/env': 'Team/env' is not a repository name"),
    ("127.0.0.1:5000/env:bad/tag", "'127.0.0.1:5000/env:bad/tag': 'env:bad/tag' is not a repository name"),
    ("host.example/env@sha256:abc", "'host.example/env@sha256:abc': 'sha256:abc' is not a sha256 digest"),
    ("oci:", "'oci:': an oci: reference needs a folder (oci:PATH[:TAG])"),
    ("oci:x:-bad", "'oci:x:-bad': '-bad' is not a valid tag"),
])
def test_bad_references_are_usage_errors_that_say_why(text, message):
    with pytest.raises(UsageError) as err:
        reference.parse(text)
    assert err.value.message.startswith(message)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1:5000", True), ("localhost", True), ("[::1]:80", True),
                                            ("127.8.9.1", True), ("192.0.2.2:5000", False), ("ghcr.io", False)])
def test_loopback_hosts(host, loopback):
    assert reference.is_loopback(host) is loopback


def _auth_file(path: Path, auths: dict, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths, **extra}))
    return path


def _entry(user: str, password: str) -> dict:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_logins_come_from_podman_then_docker_files_most_specific_key_first(tmp_path):
    home = tmp_path / "home"
    docker = _auth_file(home / ".docker" / "config.json", {"reg.example": _entry("docker-user", "d-pass-1")})
    env = {"HOME": str(home)}
    login = credentials.find("reg.example", "team/env", env)
    assert (login.username, login.password.reveal()) == ("docker-user", "d-pass-1")
    assert login.source == f"{docker} (auths entry 'reg.example')" and str(login.password) == "****"
    podman = _auth_file(tmp_path / "auth.json", {"reg.example": _entry("podman-user", "p-pass-2"),
                                                 "reg.example/team": _entry("team-user", "t-pass-3")})
    env["REGISTRY_AUTH_FILE"] = str(podman)
    assert credentials.find("reg.example", "team/env", env).username == "team-user"
    assert credentials.find("reg.example", "other/env", env).username == "podman-user"
    assert credentials.find("elsewhere.example", "team/env", env) is None
    hub = _auth_file(tmp_path / "hub.json", {"https://index.docker.io/v1/": _entry("hub-user", "h-pass-4")})
    assert credentials.find("docker.io", "library/python", {"HOME": str(home), "REGISTRY_AUTH_FILE": str(hub)}).username \
        == "hub-user"
    assert "p-pass-2" not in redact("it was p-pass-2")


def test_broken_auth_files_name_the_file_and_never_the_secret(tmp_path):
    broken = tmp_path / "auth.json"
    broken.write_text('{"auths": {\n  "reg.example": {"auth": "x"\n')
    with pytest.raises(InputError) as err:
        credentials.find("reg.example", "env", {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(broken)})
    assert err.value.message.startswith("auth.json:3: not valid JSON")
    _auth_file(broken, {"reg.example": {"auth": base64.b64encode(b"no-colon-secret").decode()}})
    with pytest.raises(InputError) as err:
        credentials.find("reg.example", "env", {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(broken)})
    assert err.value.message == f"{broken}: the auth of 'reg.example' is not base64 of 'user:password'"
    _auth_file(broken, {}, credHelpers={"reg.example": "absent-helper"})
    with pytest.raises(FetchError, match="docker-credential-absent-helper .* is not on PATH"):
        credentials.find("reg.example", "env", {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(broken), "PATH": ""})


def test_a_failing_credential_helper_is_quoted_from_its_stderr_never_its_stdout(tmp_path):
    """A helper writes its answer (the secret) on stdout: when it then fails, only stderr is quoted
    (here empty: proc's tail() would have fallen back to stdout)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-leaky"
    helper.write_text('#!/bin/sh\necho \'{"Username": "u", "Secret": "helper-secret-42"}\'\n'
                      'exit 1\n')
    helper.chmod(0o755)
    config = tmp_path / "auth.json"
    _auth_file(config, {}, credHelpers={"reg.example": "leaky"})
    with pytest.raises(FetchError) as err:
        credentials.find("reg.example", "env", {"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": str(config),
                                                "PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert "(exit 1)" in err.value.message and "helper-secret-42" not in err.value.message


def test_username_and_password_stdin_go_together():
    with pytest.raises(UsageError, match="--username and --password-stdin go together"):
        credentials.from_flags("alice", None)
    assert credentials.from_flags(None, None) is None


def test_challenges_parse_with_quoted_commas():
    challenge = auth.parse_challenge('Bearer realm="https://auth.example/token",service="reg.example",'
                                     'scope="repository:team/env:pull,push",error="insufficient_scope"')
    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "https://auth.example/token", "service": "reg.example",
                                "scope": "repository:team/env:pull,push", "error": "insufficient_scope"}
    assert auth.parse_challenge('Basic realm="r"') == auth.Challenge("basic", {"realm": "r"})


def _fake_prefix(packages: dict[str, int]) -> dict[str, Entry]:
    entries = {}
    for owner, size in packages.items():
        rel = f"lib/{owner.replace(':', '-')}/data.bin"
        entries[rel] = Entry(rel, "file", 0o644, "0" * 64, size, owner=owner)
    entries["lib"] = Entry("lib", "dir", 0o755)
    entries["share/empty"] = Entry("share/empty", "dir", 0o700)
    return entries


def test_layers_group_by_package_within_the_budget_and_deterministically():
    packages = {f"conda:big{i:03}": layers.SMALL_PACKAGE + i for i in range(120)}
    packages.update({f"pypi:small{i:03}": 100 for i in range(200)})
    entries = _fake_prefix(packages)
    plans = layers.plan(entries, {})
    assert len(plans) == layers.MAX_OWN_LAYERS + layers.SMALL_GROUPS + 1 < 127
    assert [p.name for p in plans[:2]] == ["conda:big040", "conda:big041"]  # the 80 largest are their own
    assert plans[-1].name == OWN_STATE and [e.path for e in plans[-1].entries] == ["share", "share/empty"]
    assert plans[-1].entries[1].mode == 0o700
    for plan in plans[:-1]:
        assert plan.entries[0].path == "lib" and all(e.path.startswith("lib/") for e in plan.entries[1:])
    assert [p.key() for p in layers.plan(dict(reversed(list(entries.items()))), {})] == [p.key() for p in plans]
    changed = dict(entries)
    rel = "lib/pypi-small007/data.bin"
    changed[rel] = Entry(rel, "file", 0o644, "1" * 64, 100, owner="pypi:small007")
    before, after = {p.name: p.key() for p in plans}, {p.name: p.key() for p in layers.plan(changed, {})}
    assert [name for name in before if before[name] != after[name]] == [f"small-{layers._bucket('pypi:small007')}"]


def _layer(tmp_path: Path, members: list[tuple[str, bytes | None, str | None]]) -> unpack.Layer:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return unpack.Layer(path, "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())


@pytest.mark.parametrize("members, expected, message", [
    ([("../escape", b"x", None)], {}, "unsafe or unsupported path '../escape'"),
    ([("/etc/passwd", b"x", None)], {}, "unsafe or unsupported path '/etc/passwd'"),
    ([("lib/.wh.gone", b"", None)], {}, "unsafe or unsupported path 'lib/.wh.gone'"),
    ([("lnk", None, "/etc"), ("lnk/passwd", b"x", None)],
     {"lnk": FileState("link", target="/etc"), "lnk/passwd": FileState("file", size=1)},
     "through the symbolic link 'lnk'"),
    ([("stray", b"x", None)], {}, "holds 'stray', which its own expected state does not list"),
    ([("bin/tool", b"x", None)], {"bin/tool": FileState("file", 0o644, 1, "0" * 64)},
     "bin/tool: the image's bytes or mode differ from its own expected state"),
])
def test_unsafe_layers_are_refused_before_anything_escapes(tmp_path, members, expected, message):
    prefix = tmp_path / "env"
    state = ExpectedState(str(prefix), "linux-64", "3.11.7", "0" * 64, {"conda:x": PackageState("conda:x", "", "1", expected)})
    with pytest.raises(IntegrityError, match=message):
        unpack.write_prefix(prefix, [_layer(tmp_path, members)], state)
    assert not (tmp_path / "escape").exists()
    assert not (prefix / ".materialize" / "stamp.json").exists()
