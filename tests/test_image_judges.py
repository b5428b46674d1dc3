"""Issue 13: the image as other people's tools read it: skopeo, umoci, podman (independent judges)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.prefix_checks import snapshot, tree_diff
from tests.world import podman as podmans

IMPORTS = "import tinyweb, six, condapy, coreserver, tinydep"


def _need(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (apt-get install {program}; .ci/run installs it in CI)")


def _run(*argv: object) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stderr}"
    return done


def test_skopeo_copies_our_layout_to_the_registry_and_back_byte_identically(cli, tmp_path, installed, registry):
    _need("skopeo")
    auth = registry.write_auth_file(tmp_path / "auth.json")
    ours = f"{registry.host}/team/ours:v1"
    cli.ok("push", "--prefix", installed.prefix, ours, env={"REGISTRY_AUTH_FILE": str(auth)})
    judge = f"docker://{registry.host}/judge/env:v1"
    _run("skopeo", "copy", "--authfile", auth, "--dest-tls-verify=false", f"oci:{installed.layout}:v1", judge)
    back = tmp_path / "back"
    _run("skopeo", "copy", "--authfile", auth, "--src-tls-verify=false", judge, f"oci:{back}:v1")
    assert tree_diff(snapshot(installed.layout / "blobs"), snapshot(back / "blobs")) == [], \
        "skopeo's copy through the registry changed a blob"
    raw = _run("skopeo", "inspect", "--raw", "--authfile", auth, "--tls-verify=false", f"docker://{ours}").stdout
    index = (installed.layout / "index.json").read_text()
    digest = index.split('"digest":"')[1].split('"')[0]
    manifest = (installed.layout / "blobs" / "sha256" / digest.split(":")[1]).read_text()
    assert raw == manifest, "our push to the registry did not keep the manifest's exact bytes"


def test_umoci_unpacks_our_layout_into_exactly_the_installed_tree(tmp_path, built):
    _need("umoci")
    layout = tmp_path / "layout"
    shutil.copytree(built.layout, layout)
    rootless = [] if os.geteuid() == 0 else ["--rootless"]
    _run("umoci", "unpack", *rootless, "--image", f"{layout}:v1", tmp_path / "bundle")
    expected = {path: entry for path, entry in built.tree.items() if path != ".materialize/lock"}
    assert tree_diff(expected, snapshot(tmp_path / "bundle" / "rootfs")) == []


def test_podman_mounts_the_image_at_the_env_path_and_imports_the_locked_packages(cli, tmp_path, installed, registry):
    reason = podmans.unavailable()
    if reason:
        pytest.skip(reason)
    auth = registry.write_auth_file(tmp_path / "auth.json")
    ref = f"{registry.host}/team/mounted:v1"
    cli.ok("push", "--prefix", installed.prefix, ref, env={"REGISTRY_AUTH_FILE": str(auth)})
    podman = podmans.Podman(tmp_path / "podman", auth)
    python = next(p for p in (installed.copy / "bin").glob("python3.*") if re.fullmatch(r"python3\.\d+", p.name))
    base = podman.import_base(python)
    probe = podman("run", "--rm", "--network", "none", base, "/lib64/ld-linux-x86-64.so.2", "--help")
    if probe.returncode:
        pytest.skip(f"podman cannot run containers here: {probe.stderr.strip().splitlines()[-1:]}")
    installed.clear()  # the host has no environment at that path: only the image can provide it
    pulled = podman("pull", "--tls-verify=false", ref)
    assert pulled.returncode == 0, pulled.stderr
    prefix = installed.prefix
    code = (f"{IMPORTS}; import sys, errno\ntry:\n    open('{prefix}/written', 'w')\nexcept OSError as err:\n"
            f"    print('read-only' if err.errno == errno.EROFS else err)\nprint(sys.prefix, six.__file__)")
    done = podman("run", "--rm", "--network", "none", "--mount", f"type=image,source={ref},destination={prefix}",
                  base, f"{prefix}/bin/python", "-B", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["read-only", f"{prefix} {prefix}/lib/{python.name}/site-packages/six.py"]
    assert not Path(prefix).exists() or not any(Path(prefix).iterdir())
