"""Issue 12, the fuzz table: odd files and odd bytes in every input are exit 3 naming the file, never a bug."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from materialize import files
from tests.helpers import pip_conf_for, write_project


def _lock(cli, project, channel_url, code=3, **kwargs):
    return cli.fails(code, "lock", project, "--channel", channel_url, **kwargs)


@pytest.mark.parametrize("name, message", [
    ("requirements.txt", "error: requirements.txt:2: not valid utf-8 text (byte 0xe9)"),
    ("more.txt", "error: more.txt:1: not valid utf-8 text (byte 0xe9)"),
    ("materialize.toml", "materialize.toml:1: not valid utf-8 text (byte 0xe9)"),
    ("conda-packages.txt", "error: conda-packages.txt:1: not valid utf-8 text (byte 0xe9)"),
    (".env", "error: .env:1: not valid utf-8 text (byte 0xe9)"),
    ("pip.conf", "error: pip.conf:1: not valid utf-8 text (byte 0xe9)"),
])
def test_files_that_are_not_utf8(cli, tmp_path, channel_url, name, message):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", requirements="tinydep\n-r more.txt\n",
                            files={"more.txt": "six\n"})
    (project / name).write_bytes("caf\u00e9 = 1\n".encode("latin-1") if name != "requirements.txt"
                                 else "tinydep\ncaf\u00e9\n".encode("latin-1"))
    done = _lock(cli, project, channel_url)
    assert message in done.stderr, done.stderr


def test_include_that_is_a_directory(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep\n-r sub\n")
    (project / "sub").mkdir()
    done = _lock(cli, project, channel_url)
    assert done.stderr.startswith("error: requirements.txt:2: sub: is a directory, not a file"), done.stderr


@pytest.mark.parametrize("target, what", [("/dev/zero", "a character device"), ("fifo", "a FIFO")])
def test_include_of_a_special_file_is_refused_at_once(cli, tmp_path, channel_url, target, what):
    project = write_project(tmp_path / "p", requirements=f"tinydep\n-c {target}\n")
    os.mkfifo(project / "fifo")
    started = time.monotonic()
    done = _lock(cli, project, channel_url, timeout=60)
    assert f"error: requirements.txt:2: {os.path.basename(target)}: is {what}, not a regular file" in done.stderr
    assert time.monotonic() - started < 30


def test_input_files_are_read_under_a_size_cap(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep\n-r big.txt\n")
    with (project / "big.txt").open("w") as handle:
        handle.write(("# padding\n" * 1024) * (files.MAX_BYTES // 10240 + 1))
    done = _lock(cli, project, channel_url)
    assert "error: requirements.txt:2: big.txt: is larger than 8 MiB" in done.stderr
    assert "the most materialize reads from one input file" in done.stderr


def test_a_requirements_file_that_is_a_directory(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="tinyleaf\n")
    (project / "requirements.txt").mkdir()
    done = _lock(cli, project, channel_url)
    assert "error: requirements.txt: is a directory, not a file" in done.stderr


@pytest.mark.parametrize("name, text, message", [
    ("pip.conf", "[global]\nfind-links = a\x00b\n", "pip.conf:2: contains a NUL character"),
    (".env", "TOKEN=ab\x00c\n", ".env:1: contains a NUL character"),
    ("requirements.txt", "./sub\x00\n", "requirements.txt:1: contains a NUL character"),
    ("materialize.toml", 'lockfile = "a\\u0000b"\n', "materialize.toml:1: lockfile: contains a NUL character"),
])
def test_nul_characters(cli, tmp_path, channel_url, name, text, message):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", files={name: text})
    done = _lock(cli, project, channel_url)
    assert message in done.stderr, done.stderr


def test_broken_ipv6_index_url_in_pip_conf(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep\n",
                            pip_conf="[global]\n\nindex-url = http://[::1/simple/\n")
    done = _lock(cli, project, channel_url)
    assert "error: pip.conf:3: index-url: 'http://[::1/simple/' is not a valid URL (Invalid IPv6 URL)" in done.stderr


@pytest.mark.parametrize("table, message", [
    ('{__glibc = ".28"}', "virtual-packages: __glibc = '.28' is not a virtual package and version[=build]"),
    ('{"__a b" = "1"}', "materialize.toml:1: virtual-packages: '__a b' is not a virtual package name"),
    ('{__glibc = "2.28=a b"}', "materialize.toml:1: virtual-packages: __glibc = '2.28=a b': expected VERSION"),
])
def test_bad_virtual_packages(cli, tmp_path, channel_url, pypi, table, message):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", pip_conf=pip_conf_for(pypi.url),
                            files={"materialize.toml": f"virtual-packages = {table}\n"})
    done = _lock(cli, project, channel_url)
    assert message in done.stderr, done.stderr


@pytest.mark.parametrize("value", ["/", "."])
def test_lockfile_setting_naming_a_directory(cli, tmp_path, channel_url, value):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", files={"materialize.toml": f'lockfile = "{value}"\n'})
    done = _lock(cli, project, channel_url)
    assert "is a directory" in done.stderr and "setting lockfile, project" in done.stderr


@pytest.mark.parametrize("name", ["conda-packages.txt", "requirements.txt"])
def test_a_million_character_line_is_answered_quickly(cli, tmp_path, channel_url, name):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", files={name: "tiny" + "x" * 1_000_000 + " !!\n"})
    started = time.monotonic()
    done = _lock(cli, project, channel_url, timeout=120)
    assert time.monotonic() - started < 30
    assert done.stderr.startswith(f"error: {name}:1: ") and len(done.stderr) < 2000


def test_a_truncated_previous_lockfile_is_said_out_loud(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    lockfile = project / "materialize-lock.yml"
    text = lockfile.read_text()
    lockfile.write_text(text[:len(text) // 2])
    done = cli.ok("lock", project, "--channel", channel_url)
    assert "warning: the previous lockfile could not be read (" in done.stderr  # a lock note, on stderr
    assert "locked from scratch, so no earlier pin was kept" in done.stderr
    assert yaml.safe_load(lockfile.read_text())["version"] == 1


def test_a_truncated_lockfile_for_install_is_an_input_error(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    lockfile = project / "materialize-lock.yml"
    lockfile.write_text(lockfile.read_text()[:300])
    done = cli.fails(3, "install", project, "--prefix", tmp_path / "env")
    assert "error: materialize-lock.yml: malformed lockfile (KeyError: 'platforms')" in done.stderr


@pytest.mark.parametrize("variable, value, message", [
    ("MATERIALIZE_PYTHON", "3.x", "env MATERIALIZE_PYTHON: python: expected X.Y"),
    ("MATERIALIZE_VIRTUAL_PACKAGES", "{__glibc = [2]}", "env MATERIALIZE_VIRTUAL_PACKAGES: virtual-packages: "
     "expected a table of strings"),
    ("MATERIALIZE_VIRTUAL_PACKAGES", "__glibc=2.28", "env MATERIALIZE_VIRTUAL_PACKAGES: virtual-packages: "
     """expected a table of strings (in a variable: '{name = "value"}')"""),
    ("MATERIALIZE_INDEX_STRATEGY", "best", "expected first-index, unsafe-first-match or unsafe-best-match"),
    ("MATERIALIZE_LOCK_TIMEOUT", "soon", "MATERIALIZE_LOCK_TIMEOUT=soon: expected a number of seconds"),
])
def test_bad_variables(cli, tmp_path, channel_url, pypi, variable, value, message):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", pip_conf=pip_conf_for(pypi.url))
    done = _lock(cli, project, channel_url, env={variable: value})
    assert message in done.stderr, done.stderr


def test_cache_dir_variable_naming_a_file(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", pip_conf=pip_conf_for(pypi.url))
    (tmp_path / "afile").write_text("")
    done = _lock(cli, project, channel_url, env={"MATERIALIZE_CACHE_DIR": str(tmp_path / "afile")})
    assert f"MATERIALIZE_CACHE_DIR={tmp_path / 'afile'}: cannot make the cache folder" in done.stderr


def test_uv_variable_naming_no_program(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", requirements="tinydep\n", pip_conf=pip_conf_for(pypi.url))
    done = cli.fails(2, "lock", project, "--channel", channel_url, env={"MATERIALIZE_UV": str(tmp_path / "nouv")})
    assert f"error: MATERIALIZE_UV={tmp_path / 'nouv'}: not an executable file" in done.stderr
