"""Exit codes are the command's result whatever happens to its output, and staleness is one answer.

A CI script that pipes `verify` into `head` or `true` must still see exit 6 on a drifted prefix,
with the `error:` line on stderr. `lock --check` and `install --locked` agree for the same inputs,
wherever the settings came from (flags, environment, materialize.toml, the user config).
"""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import CLI_PATH, pip_conf_for, write_project
from tests.prefix_checks import base_and_next, installed_once, site_packages


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "exits")


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, projects, shared_cache):
    prefix = installed_once(tmp_path_factory, projects["base"], shared_cache, "exits")
    for name in ("six.py", "tinyweb/__init__.py", "coreserver/__init__.py"):
        (site_packages(prefix) / name).write_text("# changed\n")
    return prefix


@pytest.mark.parametrize("reader", ["true", "head -1", "head -c 1", "cat >/dev/null"])
def test_verify_through_a_closed_pipe_still_exits_6(projects, drifted, reader):
    for _ in range(5):  # the reader leaves at a different moment each time
        done = subprocess.run(["bash", "-c", f'"$0" verify "$1" --prefix "$2" | {reader}; exit "${{PIPESTATUS[0]}}"',
                               str(CLI_PATH), str(projects["base"]), str(drifted)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 6, (reader, done.returncode, done.stderr)
        assert "error: " in done.stderr and "does not match what was installed" in done.stderr
        assert "Traceback" not in done.stderr


def test_verify_with_its_output_streams_closed_still_exits_6(projects, drifted):
    done = subprocess.run(["bash", "-c", '"$0" verify "$1" --prefix "$2" >&- 2>&-; echo $?',
                           str(CLI_PATH), str(projects["base"]), str(drifted)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "6"


@pytest.mark.parametrize("how", ["flag", "env", "materialize.toml", "user config"])
def test_lock_check_and_install_locked_agree(cli, tmp_path, channel_url, pypi, isolated, how):
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinyweb\n",
                            pip_conf=pip_conf_for(pypi.url))
    flags, env = [], {}
    if how == "flag":
        flags = ["--channel", channel_url]
    elif how == "env":
        env = {"MATERIALIZE_CHANNELS": channel_url}
    elif how == "materialize.toml":
        (project / "materialize.toml").write_text(f'channels = ["{channel_url}"]\n')
    else:
        config = isolated / ".config" / "materialize" / "config.toml"
        config.write_text(config.read_text() + f'channels = ["{channel_url}"]\n')
    cli.ok("lock", project, *flags, env=env)
    cli.ok("lock", project, "--check", *flags, env=env)
    cli.ok("install", project, "--prefix", tmp_path / "env", "--locked", env=env)
    (project / "conda-packages.txt").write_text("condapy\ntinyapp\n")
    cli.fails(7, "lock", project, "--check", *flags, env=env)
    cli.fails(7, "install", project, "--prefix", tmp_path / "env", "--locked", env=env)
