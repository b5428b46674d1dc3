"""lockfile.write emits exactly what conda-lock's own writer emits (it no longer imports conda-lock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from materialize import lockfile
from materialize.lockfile import CondaEntry, Lock, PipEntry


def conda_lock_bytes(lock: Lock, path: Path) -> bytes:
    """The writer materialize used before: conda-lock's models and write_conda_lock_file."""
    from conda_lock.lockfile import write_conda_lock_file
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency, LockMeta, Lockfile
    from conda_lock.models.channel import Channel

    packages = [LockedDependency(name=e.name, version=e.version, manager="conda", platform=e.platform,
                                 dependencies=e.dependencies, url=e.url, build=e.build, categories={"main"},
                                 hash=HashModel(md5=e.md5, sha256=e.sha256)) for e in lock.conda]
    packages += [LockedDependency(name=e.name, version=e.version, manager="pip", platform=e.platform,
                                  dependencies={}, url=e.url, categories={"main"},
                                  hash=HashModel(sha256=e.sha256 or None)) for e in lock.pip]
    meta = LockMeta(content_hash=dict(sorted(lock.content_hash.items())),
                    channels=[Channel(url=c, used_env_vars=()) for c in lock.channels],
                    platforms=lock.platforms, sources=lock.sources, custom_metadata=lock.custom_metadata())
    write_conda_lock_file(Lockfile(package=packages, metadata=meta), path, metadata_choices=None,
                          include_help_text=False)
    return lockfile.HEADER.encode() + path.read_bytes()


def sample_lock(text: str = "x") -> Lock:
    lock = Lock(platforms=["linux-64", "osx-arm64"], channels=["https://conda.example/ch", "file:///tmp/c h"],
                content_hash={"osx-arm64": "b" * 64, "linux-64": "a" * 64}, sources=["conda-packages.txt"],
                core=["fastapi"], core_set="core set 'default'", indexes=[f"https://i.example/{text}"],
                python={"linux-64": "3.11.7", "osx-arm64": "3.11.7"},
                local_projects=[{"name": "app", "version": "1", "path": ".", "digest": "d"}],
                conda_provided={"linux-64": {"six": ["1.16.0", "six"]}})
    for platform in ("osx-arm64", "linux-64"):
        lock.conda += [CondaEntry("zlib", "1.3", "h0", platform, f"https://conda.example/ch/{platform}/z.conda",
                                  "c" * 64, "d" * 32, {"libgcc": ">=13", "__glibc": ">=2.17"}),
                       CondaEntry("python", "3.11.7", "h0_cpython", platform, "https://conda.example/ch/p.conda",
                                  "e" * 64, "", {"zlib": "*", text: ">=1 " + text}),
                       CondaEntry("__virtual", "1", "0", platform, "https://x", "f" * 64, "0" * 32)]
        lock.pip += [PipEntry("six", "1.17.0", platform, f"https://i.example/six-1.17.0-py2.py3-none-any.whl#{text}",
                              "1" * 64),
                     PipEntry("tool", "0.1", platform, "git+https://${TOKEN}@git.example/t.git@" + "2" * 40, "")]
    return lock


def test_same_bytes_as_conda_lock(tmp_path):
    lock = sample_lock()
    lockfile.write(lock, tmp_path / "ours-lock.yml")
    assert (tmp_path / "ours-lock.yml").read_bytes() == conda_lock_bytes(lock, tmp_path / "theirs-lock.yml")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_same_bytes_for_any_string(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("bytes")
    lock = sample_lock(text)
    lockfile.write(lock, folder / "ours-lock.yml")
    assert (folder / "ours-lock.yml").read_bytes() == conda_lock_bytes(lock, folder / "theirs-lock.yml")


PRINTABLE_ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=80)
AWKWARD = ["", " lead", "trail ", "a: b", "- x", "#x", "x #y", "'q'", '"', "null", "~", "1.0", "yes", "on", "*a",
           "&a", "!t", "%x", "@x", "`x", "{a}", "[a]", "a,b", "?x", "a\\b", "<<", "1e3", ".inf", "12:30:00",
           "k" * 150, "a b " * 60, "tab\there", "ünï", "\U0001f600"]


@settings(max_examples=100, deadline=None)
@given(PRINTABLE_ASCII)
def test_same_bytes_on_the_libyaml_path(tmp_path_factory, text):
    """Locks of plain ASCII (all real ones) are written by libyaml's emitter: still conda-lock's bytes."""
    from materialize.lockfile import model

    lock = sample_lock(text)
    assert model._plain(model._output(lock)), "this lock takes the libyaml path"
    folder = tmp_path_factory.mktemp("bytes")
    lockfile.write(lock, folder / "ours-lock.yml")
    assert (folder / "ours-lock.yml").read_bytes() == conda_lock_bytes(lock, folder / "theirs-lock.yml")


@pytest.mark.parametrize("text", AWKWARD)
def test_same_bytes_for_awkward_strings(tmp_path, text):
    lock = sample_lock(text)
    lockfile.write(lock, tmp_path / "ours-lock.yml")
    assert (tmp_path / "ours-lock.yml").read_bytes() == conda_lock_bytes(lock, tmp_path / "theirs-lock.yml")
