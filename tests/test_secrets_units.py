"""Issue 14, unit level: redaction (total, linear-time), URL splitting without urllib, origins, the
credential broker's scope, private temp folders and their sweep, secret files that live on no disk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import pytest

from materialize import scratch
from materialize.engines import child_auth, proc
from materialize.secrets import (MASK, Credentials, Secret, has_literal_credentials, origin, redact, register,
                                 split_credentials, strip_credentials, strip_literal_credentials)


def test_a_secret_never_prints():
    secret = Secret("hunter2-long")
    assert str(secret) == MASK and "hunter2" not in repr(secret) and f"{secret}" == MASK
    assert secret.reveal() == "hunter2-long"


@pytest.mark.parametrize("text, expected", [
    ("see http://alice:pw1@h:81/simple/ now", "see http://****@h:81/simple/ now"),
    ("git+https://ghp_tok@github.com/u/r.git@v1", "git+https://****@github.com/u/r.git@v1"),
    ("https://u:p@ss@host/x", "https://****@host/x"),  # an unencoded '@' in the password
    ("https://${TOKEN}@host/x and https://user:${PW}@h", "https://${TOKEN}@host/x and https://user:${PW}@h"),
    ("mail alice@example.com, path a://b/c@d", "mail alice@example.com, path a://b/c@d"),
    ('{"url": "http://a:b@h/x"}', '{"url": "http://****@h/x"}'),
    ("git+ssh://git@github.com/u/r.git", "git+ssh://git@github.com/u/r.git"),  # a user name, not a login
    ("ftp://xhttp://u:p@h/", "ftp://xhttp://****@h/"),  # a URL right inside another's authority
])
def test_redact_masks_userinfo_but_not_variables(text, expected):
    assert redact(text) == expected


def test_redact_removes_registered_secrets_in_every_form():
    register("s3/cr:et#1")
    for form in ("s3/cr:et#1", "s3%2Fcr%3Aet%231", "s3/cr%3Aet%231"):
        assert "cr" not in redact(f"before {form} after").replace("before", "").replace("after", "")


def test_fullwidth_character_in_a_password_is_split_and_never_quoted():
    """urllib refuses such a netloc and quotes it, password included: we split by hand first."""
    url = "http://alice:pa\uff03ss-Wx7@127.0.0.1:8080/simple/"
    clean, user, password = split_credentials(url)
    assert clean == "http://127.0.0.1:8080/simple/" and user == "alice" and password.reveal() == "pa\uff03ss-Wx7"
    with pytest.raises(ValueError) as err:
        urlsplit(url)
    assert "pa\uff03ss" in str(err.value)  # what urllib would have said ...
    assert "pa\uff03ss" not in redact(str(err.value)) and "alice:" not in redact(str(err.value))  # ... scrubbed


@pytest.mark.parametrize("shape", [
    "a" * 1_000_000,
    "http://" * 150_000,
    "a://" * 250_000 + "@",
    ("x" * 999 + "@") * 1000,
    "netloc '" * 120_000 + "@",
    "://" + "u" * 1_000_000 + "@",
])
def test_redact_is_linear(shape):
    """A million characters of the shapes that made the old regex quadratic (200k took a minute)."""
    started = time.process_time()
    redact(shape)
    assert time.process_time() - started < 5


@pytest.mark.parametrize("url, key", [
    ("git+HTTPS://tok@GitHub.com:443/r.git", "https://github.com"),
    ("http://a:b@127.0.0.1:8080/simple", "http://127.0.0.1:8080"),
    ("http://127.0.0.1:80/x", "http://127.0.0.1"),
    ("https://[::1]:8443/x", "https://[::1]:8443"),
    ("file:///tmp/x", "file://"),
    ("not a url", None),
])
def test_origin_is_scheme_host_and_port(url, key):
    assert origin(url) == key


def test_a_login_is_found_for_its_exact_origin_only():
    creds = Credentials()
    creds.add_url("http://alice:pw-123@127.0.0.1:8080/simple/", "pip.conf:2")
    assert creds.lookup("http://127.0.0.1:8080/packages/x.whl").user == "alice"
    for other in ("http://127.0.0.1:8081/simple/", "https://127.0.0.1:8080/simple/", "http://localhost:8080/"):
        assert creds.lookup(other) is None


def test_literal_logins_are_stripped_and_variables_kept():
    assert strip_literal_credentials("git+https://tok@h/r.git@v1") == "git+https://h/r.git@v1"
    assert strip_literal_credentials("git+https://u:${T}@h/r.git") == "git+https://u:${T}@h/r.git"
    assert strip_credentials("https://u:${T}@h/x") == "https://h/x"
    assert has_literal_credentials("https://${U}:pw@h/") and not has_literal_credentials("https://h/a@b")
    assert strip_literal_credentials("git+ssh://git@github.com/u/r.git") == "git+ssh://git@github.com/u/r.git"
    assert split_credentials("git+ssh://git@github.com/u/r.git") == ("git+ssh://git@github.com/u/r.git", None, None)


def _git_credential(socket_path, host):
    done = subprocess.run(["git", "credential-cache", f"--socket={socket_path}", "get"],
                          input=f"protocol=http\nhost={host}\n", capture_output=True, text=True, timeout=30)
    return done.stdout


def test_the_broker_answers_its_origins_only_and_only_while_the_call_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    creds = Credentials()
    creds.add_url("http://gituser:tok-9f8e@127.0.0.1:7001/r.git")
    with child_auth.child_auth(creds) as auth:
        socket_path = next(tmp_path.glob("materialize-cred-*/socket"))
        assert "tok-9f8e" not in repr(auth) and "tok-9f8e" not in socket_path.parent.joinpath("bin/keyring").read_text()
        assert _git_credential(socket_path, "127.0.0.1:7001") == "username=gituser\npassword=tok-9f8e\n"
        assert _git_credential(socket_path, "127.0.0.1:7002") == ""
        keyring = subprocess.run([str(socket_path.parent / "bin" / "keyring"), "get", "http://127.0.0.1:7001/simple/",
                                  "--mode", "creds"], capture_output=True, text=True, timeout=30)
        assert keyring.stdout == "gituser\ntok-9f8e\n"
        host_only = subprocess.run([str(socket_path.parent / "bin" / "keyring"), "get", "127.0.0.1:7001",
                                    "--mode", "creds"], capture_output=True, text=True, timeout=30)
        assert host_only.returncode == 1 and host_only.stdout == ""  # no scheme: not exact, no answer
        assert auth.env["GIT_CONFIG_KEY_1"] == "credential.http://127.0.0.1:7001.helper"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OSError):
        socket.socket(socket.AF_UNIX).connect(str(socket_path))


def test_a_killed_runs_folders_are_swept_and_a_live_runs_are_not(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = ("import sys, time; sys.path.insert(0, %r); from materialize import scratch\n"
            "with scratch.private_dir('cred') as f:\n    print(f, flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code % os.getcwd()], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "TMPDIR": str(tmp_path)})
    folder = child.stdout.readline().strip()
    old_style = tmp_path / "materialize-pip-old"  # an older materialize: no .owner
    old_style.mkdir()
    os.utime(old_style, (time.time() - 3600, time.time() - 3600))
    with scratch.private_dir("uv") as mine:
        assert scratch.sweep(tmp_path) == [old_style]  # the live child's folder and ours stay
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert [p.name for p in scratch.sweep(tmp_path)] == [os.path.basename(folder)]
        assert mine.is_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_secret_file_lives_on_no_disk(tmp_path):
    with proc.secret_file("user:pw-5a5a\n") as handed:
        done = proc.run(["cat", handed.path], pass_fds=[handed.fd])
        link = os.readlink(f"/proc/self/fd/{handed.fd}")
    assert done.stdout == "user:pw-5a5a\n"
    assert link.startswith("/memfd:") and "(deleted)" in link
