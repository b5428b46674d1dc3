"""Issue 12, first table: a user's mistakes get exit 3 (or 2) and a message naming the file, line or path."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import CLI_PATH, pip_conf_for, write_project


@pytest.fixture
def locked(cli, tmp_path, channel_url, pypi) -> Path:
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    return project


@pytest.mark.parametrize("line, where", [
    ("http://[broken", "requirements.txt:2: 'http://[broken' is not a valid URL (Invalid IPv6 URL)"),
    ("--index-url http://[broken", "requirements.txt:2: index-url: 'http://[broken' is not a valid URL"),
    ("foo @ http://[broken", "requirements.txt:2: 'http://[broken' is not a valid URL (Invalid IPv6 URL)"),
    ("--extra-index-url http://127.0.0.1:99999/", "requirements.txt:2: extra-index-url: 'http://127.0.0.1:99999/' "
     "is not a valid URL (Port out of range 0-65535)"),
])
def test_broken_urls_name_the_line(cli, tmp_path, channel_url, line, where):
    project = write_project(tmp_path / "p", requirements=f"tinydep\n{line}\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert done.stderr.startswith(f"error: {where}"), done.stderr
    assert "user.in" not in done.stderr


def test_missing_include_names_the_including_line(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep\n\n-r missing.txt\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert done.stderr.startswith("error: requirements.txt:3: missing.txt: no such file\n"), done.stderr


@pytest.mark.parametrize("value", ["3.x", "3", "python3.11", "3.11.*"])
def test_python_flag_must_be_x_y(cli, tmp_path, channel_url, value):
    project = write_project(tmp_path / "p", conda="tinyleaf\n")
    done = cli.fails(2, "lock", project, "--channel", channel_url, "--python", value)
    assert f"error: --python {value}: expected X.Y, such as 3.11" in done.stderr


def test_python_setting_as_a_toml_number_is_refused(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="tinyleaf\n", files={"materialize.toml": "python = 3.10\n"})
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "materialize.toml:1: python: write the version as a string" in done.stderr


def test_channels_variable_takes_a_toml_array(cli, tmp_path, channel_url, http_channel, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, env={"MATERIALIZE_CHANNELS": f'["{channel_url}", "{http_channel}"]'})
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    assert [c["url"] for c in data["metadata"]["channels"]] == [channel_url, http_channel.rstrip("/")]


def test_channels_variable_comma_separated(cli, tmp_path, channel_url, http_channel, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, env={"MATERIALIZE_CHANNELS": f"{channel_url},{http_channel}"})
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    assert len(data["metadata"]["channels"]) == 2


def test_channels_variable_broken_array_is_refused(cli, tmp_path):
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n")
    done = cli.fails(3, "lock", project, env={"MATERIALIZE_CHANNELS": '["a", "b"'})
    assert "error: env MATERIALIZE_CHANNELS: not a TOML array" in done.stderr
    assert """hint: MATERIALIZE_CHANNELS='["a", "b"]' or MATERIALIZE_CHANNELS='a,b'""" in done.stderr


def test_lockfile_flag_is_relative_to_the_working_directory_and_says_so(cli, locked, tmp_path):
    (locked / "materialize-lock.yml").rename(locked / "other-lock.yml")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    done = cli.fails(3, "install", locked, "--prefix", tmp_path / "env", "--lockfile", "other-lock.yml",
                     cwd=elsewhere)
    assert (f"error: {elsewhere / 'other-lock.yml'}: no lockfile here (--lockfile, relative to the working "
            "directory)") in done.stderr
    assert f"hint: did you mean --lockfile {locked / 'other-lock.yml'}?" in done.stderr
    assert not (tmp_path / "env").exists()


def test_lockfile_flag_on_lock_writes_where_it_says(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    done = cli.ok("lock", project, "--channel", channel_url, "--lockfile", "x-lock.yml", cwd=elsewhere)
    assert (elsewhere / "x-lock.yml").is_file() and not (project / "x-lock.yml").exists()
    assert str(elsewhere / "x-lock.yml") in done.stdout


class _HangingServer:
    """Accepts connections and never answers: an install blocks in its download."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.connected.set()

    def close(self) -> None:
        for conn in self._held:
            conn.close()
        self.sock.close()


def test_ctrl_c_during_install_ends_the_line_and_names_the_next_command(cli, locked, tmp_path, monkeypatch):
    lockfile = locked / "materialize-lock.yml"
    server = _HangingServer()
    data = yaml.safe_load(lockfile.read_text())
    for package in data["package"]:
        package["url"] = f"http://127.0.0.1:{server.port}/{package['url'].rsplit('/', 1)[-1]}"
    lockfile.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("MATERIALIZE_CACHE_DIR", str(tmp_path / "empty-cache"))
    primary, secondary = pty.openpty()
    argv = [str(CLI_PATH), "install", str(locked), "--prefix", str(tmp_path / "env")]
    proc = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True)
    os.close(secondary)
    try:
        assert server.connected.wait(60), "the install never started downloading"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        output = _read_all(primary)
    finally:
        server.close()
        os.close(primary)
    assert code == 130, output
    assert "\nerror: interrupted" in output.replace("\r\n", "\n") and "Traceback" not in output
    assert ("hint: the prefix counts as incomplete until an install finishes; run it again to finish: "
            f"materialize install {locked} --prefix {tmp_path / 'env'}") in output.replace("\r\n", "\n")


def _read_all(fd: int) -> str:
    chunks = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@pytest.fixture
def own_logging(monkeypatch):
    """cli.run adds its log handlers to the root logger: give it a list of its own for one test."""
    import logging

    monkeypatch.setattr(logging.getLogger(), "handlers", [])


def test_an_internal_error_names_the_run_log_holding_its_traceback(tmp_path, monkeypatch, capsys, own_logging):
    from materialize import cli, commands

    def broken(args, console):
        raise ZeroDivisionError("a bug planted by the test")

    monkeypatch.setattr(commands, "config", broken)
    assert cli.run(["config", str(tmp_path)]) == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: internal error: ZeroDivisionError: a bug planted by the test\n")
    log = Path(stderr.split("the traceback is in the run log ", 1)[1].splitlines()[0])
    assert "Traceback" in log.read_text() and "a bug planted by the test" in log.read_text()
    assert "hint: this is a bug in materialize: please report it with that log" in stderr


def test_an_internal_error_without_a_run_log_says_so(tmp_path, monkeypatch, capsys, own_logging):
    from materialize import cli, commands

    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("MATERIALIZE_CACHE_DIR", str(tmp_path / "afile"))
    monkeypatch.setattr(commands, "config", lambda args, console: 1 / 0)
    assert cli.run(["config", str(tmp_path)]) == 1
    assert "no run log could be written (the cache folder is not writable); re-run with -v" in capsys.readouterr().err
