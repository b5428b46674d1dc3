"""Issue 3: pip never silently replaces what conda installed; conflicts are found at lock time."""

from __future__ import annotations

from tests.helpers import lock_packages, pip_conf_for, run_python, write_project
from tests.world import wheels


def test_conda_provided_distribution_is_fixed_and_left_out_of_the_pypi_part(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="six=1.16.0\n", requirements="six\ntinyweb\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    pip = lock_packages(project / "materialize-lock.yml", "pip")
    assert "six" not in pip and "tinyweb" in pip
    cli.ok("install", project, "--prefix", tmp_path / "env")
    done = run_python(tmp_path / "env", "import six, pathlib; print(six.__version__); "
                      "print(next(pathlib.Path(six.__file__).parent.parent.glob('six-*.dist-info')).name)")
    assert done.stdout.split() == ["1.16.0", "six-1.16.0.dist-info"], done.stderr
    meta = next((tmp_path / "env" / "conda-meta").glob("six-1.16.0-*.json")).read_text()
    assert "six-1.16.0.dist-info" in meta


def test_direct_conflict_names_package_conda_source_and_requirement_line(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="six\n", requirements="tinydep\nsix>=1.17\n",
                            pip_conf=pip_conf_for(pypi.url))
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    message = done.stderr
    assert "'six>=1.17' (user, requirements.txt:2)" in message
    assert "six 1.16.0" in message and "conda package 'six'" in message


def test_transitive_conflict_names_the_conda_pin(cli, tmp_path, channel_url, pypi):
    pypi.add(wheels.build_wheel(wheels.Dist("needsnewsix", "1.0", requires=("six>=1.17",)), tmp_path))
    project = write_project(tmp_path / "p", conda="six\n", requirements="needsnewsix\n",
                            pip_conf=pip_conf_for(pypi.url))
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "six==1.16.0 (from conda package 'six')" in done.stderr
    assert "needsnewsix" in done.stderr


def test_install_never_removes_conda_distributions(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="condapy\n", requirements="tinydep\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    cli.ok("install", project, "--prefix", tmp_path / "env")
    (project / "requirements.txt").write_text("tinyweb\n")
    cli.ok("lock", project, "--channel", channel_url)
    cli.ok("install", project, "--prefix", tmp_path / "env")
    done = run_python(tmp_path / "env", "import condapy, tinyweb, pip; print('ok')")
    assert done.stdout.strip() == "ok", done.stderr
