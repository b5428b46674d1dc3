from tests.helpers import lock_packages, pip_conf_for, run_python, write_project


def test_mixed_project_locks_installs_and_imports(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "proj", conda="tinyapp\ncondapy=1.0\n", requirements="tinyweb\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    lockfile = project / "materialize-lock.yml"
    assert lock_packages(lockfile, "conda")["tinyleaf"] == "2.0"
    assert lock_packages(lockfile, "pip") == {"tinyweb": "1.0", "tinydep": "2.0", "coreserver": "1.1",
                                              "coreserial": "1.0"}
    cli.ok("install", project, "--prefix", tmp_path / "env")
    done = run_python(tmp_path / "env", "import tinyweb, tinydep, condapy, coreserver; print(tinydep.__version__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.0"
