"""Issue 2: lock + install + import, for conda-only, PyPI-only and mixed projects."""

from __future__ import annotations

import yaml

from tests.helpers import lock_packages, pip_conf_for, run_python, write_project


def test_conda_only_project(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyapp\ncondapy\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    conda = lock_packages(project / "materialize-lock.yml", "conda")
    assert {"tinyapp", "tinyleaf", "condapy", "python", "pip"} <= set(conda)
    cli.ok("install", project, "--prefix", tmp_path / "env")
    script = (tmp_path / "env" / "bin" / "tinyapp").read_text()
    assert str(tmp_path / "env") in script, "the text prefix placeholder was not replaced"
    assert (tmp_path / "env" / "share" / "tinyleaf" / "VERSION").read_text().strip() == "2.0"
    done = run_python(tmp_path / "env", "import condapy, sys; print(sys.prefix)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "env")


def test_pypi_only_project(cli, tmp_path, channel_url, pypi, running_python):
    project = write_project(tmp_path / "p", requirements="tinyweb==1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    lockfile = project / "materialize-lock.yml"
    assert lock_packages(lockfile, "conda")["python"] == running_python
    assert lock_packages(lockfile, "pip")["tinyweb"] == "1.0"
    cli.ok("install", project, "--prefix", tmp_path / "env")
    done = run_python(tmp_path / "env", "import tinyweb, tinydep; print(tinydep.__version__)")
    assert done.stdout.strip() == "2.0", done.stderr


def test_channel_over_http(cli, tmp_path, http_channel, pypi):
    project = write_project(tmp_path / "p", conda="tinyapp\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", http_channel)
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    conda_urls = [p["url"] for p in data["package"] if p["manager"] == "conda"]
    assert conda_urls and all(u.startswith(http_channel) for u in conda_urls)
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import tinydep").returncode == 0


def test_lockfile_holds_urls_and_hashes_and_is_rewritten_byte_identically(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyapp\n", requirements="tinyweb\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    lockfile = project / "materialize-lock.yml"
    first = lockfile.read_bytes()
    data = yaml.safe_load(first)
    assert data["version"] == 1
    for package in data["package"]:
        assert package["url"].startswith(("file://", "http://")), package
        assert len(package["hash"]["sha256"]) == 64, package
        if package["manager"] == "conda":
            assert len(package["hash"]["md5"]) == 32, package
    assert set(data["metadata"]["content_hash"]) == {"linux-64"}
    cli.ok("lock", project, "--channel", channel_url)
    assert lockfile.read_bytes() == first


def test_unsatisfiable_conda_specs_exit_4_naming_packages(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="tinyapp\ntinyconflict\n")
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "tinyconflict" in done.stderr and "tinyleaf" in done.stderr
    assert "conda-packages.txt:2" in done.stderr
    assert not (project / "materialize-lock.yml").exists()


def test_missing_package_exit_4(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="no-such-package\n")
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "no-such-package" in done.stderr


def test_unsatisfiable_pypi_requirement_exit_4(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", requirements="tinyweb\ntinydep<2\n", pip_conf=pip_conf_for(pypi.url))
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "tinydep" in done.stderr and "requirements.txt:2" in done.stderr


def test_bad_conda_line_exit_3_names_file_and_line(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="# platform: linux-64\ntinyapp\nbad spec !!\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert done.stderr.startswith("error: conda-packages.txt:3: ")
    assert len(done.stderr.strip().splitlines()) <= 2


def test_usage_error_exit_2(cli, tmp_path):
    done = cli.fails(2, "install", tmp_path)  # --prefix is required
    assert "--prefix" in done.stderr


def test_empty_project_folder_exit_3(cli, tmp_path):
    done = cli.fails(3, "lock", tmp_path)
    assert "conda-packages.txt" in done.stderr


def test_install_without_lockfile_exit_3(cli, tmp_path):
    project = write_project(tmp_path / "p", conda="tinyapp\n")
    done = cli.fails(3, "install", project, "--prefix", tmp_path / "env")
    assert "materialize lock" in done.stderr


def test_noop_install_says_up_to_date(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyapp\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    cli.ok("install", project, "--prefix", tmp_path / "env")
    done = cli.ok("install", project, "--prefix", tmp_path / "env")
    assert "up to date" in done.stdout


def test_json_envelope_shape(cli, tmp_path, channel_url, pypi):
    import json

    project = write_project(tmp_path / "p", conda="tinyapp\n", pip_conf=pip_conf_for(pypi.url))
    done = cli.ok("lock", project, "--channel", channel_url, "--json")
    envelope = json.loads(done.stdout)
    assert set(envelope) == {"version", "command", "status", "exit_code", "data", "errors"}
    assert (envelope["command"], envelope["status"], envelope["exit_code"]) == ("lock", "ok", 0)
    failed = cli.fails(4, "lock", write_project(tmp_path / "q", conda="nothing-here\n"), "--channel",
                       channel_url, "--json")
    envelope = json.loads(failed.stdout)
    assert (envelope["status"], envelope["exit_code"], envelope["errors"][0]["kind"]) == ("error", 4, "unsatisfiable")


def test_progress_shows_on_a_terminal_only(cli, tmp_path, channel_url, pypi):
    import shlex
    import shutil
    import subprocess

    from tests.helpers import CLI_PATH

    if shutil.which("script") is None:
        import pytest

        pytest.skip("util-linux 'script' (a pseudo-terminal) is not installed")
    project = write_project(tmp_path / "p", conda="tinyapp\n", requirements="tinyweb\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    piped = cli.ok("install", project, "--prefix", tmp_path / "piped")
    assert "fetching" not in piped.stdout + piped.stderr
    command = shlex.join([str(CLI_PATH), "install", str(project), "--prefix", str(tmp_path / "tty")])
    done = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout
    assert "fetching and verifying" in done.stdout and "Installed" in done.stdout


def test_a_lockfile_read_is_remembered_by_its_bytes(cli, tmp_path, channel_url, pypi, shared_cache):
    """The parsed lockfile is kept as JSON under the sha256 of its text: the same data as the YAML,
    and another text (an edit) is parsed afresh."""
    import hashlib
    import json

    project = write_project(tmp_path / "p", conda="tinyapp\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    lockfile = project / "materialize-lock.yml"
    cli.ok("install", project, "--prefix", tmp_path / "env")
    text = lockfile.read_text()
    memo = shared_cache / "lockfiles-v1" / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
    assert json.loads(memo.read_text()) == yaml.safe_load(text)
    lockfile.write_text(text.replace("version: 1\n", "version: 2\n", 1))
    failed = cli.fails(3, "install", project, "--prefix", tmp_path / "env")
    assert "not a version-1 conda-lock lockfile" in failed.stderr
