"""Issue 12: materialize reads requirements.txt as pip does and conda-packages.txt as rattler/conda do.

The oracles are pip's own parser (the test venv's pip) and rattler's MatchSpec, run on a corpus
assembled from pip's and uv's requirement-file test cases, uv's real-world requirement sets and
`conda list --export` files (tests/data/README.md says where each file comes from). Every
disagreement is either fixed or listed here and in the README ("Where materialize reads inputs
differently from pip and conda"), with its reason: a new one fails this test, and so does a
listed one that went away.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.differential import our_conda_view, our_view, pip_view, rattler_view, working_directory
from tests.world import wheels

DATA = Path(__file__).parent / "data"
REQUIREMENTS = DATA / "requirements"
CONDA = DATA / "conda"

# Where materialize deliberately differs from pip (README: "Where materialize reads inputs differently").
_URLS = "an index URL must be a URL (scheme and host; valid IPv6 brackets and port): pip takes any string"
_REFUSED = "refused with a reason instead of ignored or half-supported (README: requirements.txt)"
PIP_DELIBERATE = {
    "pip/lines.txt:7": "a --hash digest of the wrong length is refused when read (pip refuses it at install)",
    "pip/lines.txt:9": "--config-settings is refused: uv builds every package with its defaults",
    **{f"pip/lines.txt:{n}": _URLS for n in (15, 16, 17, 18, 19, 20, 76, 88, 90)},
    "pip/lines.txt:21": "a local --find-links folder must exist beside the file (pip keeps a missing one)",
    "pip/lines.txt:25": _REFUSED + ": --all-releases for some packages (uv has no per-package switch)",
    "pip/lines.txt:26": _REFUSED + ": --only-final",
    "pip/lines.txt:27": _REFUSED + ": --use-feature (pip's own features)",
    "pip/lines.txt:45": "editable installs are refused: an environment mounted into containers has no source tree",
    "pip/lines.txt:91": "editable installs are refused: an environment mounted into containers has no source tree",
    "pip/lines.txt:56": "a URL with white space in it is refused (pip keeps it as the URL)",
    "pip/lines.txt:61": "a stray word among the options is an error (pip ignores it)",
}
CONDA_DELIBERATE = {
    "matchspec-forms.txt:44": "a package URL is the @EXPLICIT format: refused with that name (rattler reads a URL spec)",
    "matchspec-forms.txt:47": "a build string no package can have ('!!') is refused (rattler keeps it as a glob)",
    "matchspec-forms.txt:48": "an empty channel before '::' is refused (rattler drops it)",
    "matchspec-forms.txt:49": "a build string no package can have ('!!') is refused (rattler keeps it as a glob)",
}


def _project(tmp_path: Path) -> Path:
    """Files the corpus lines refer to: local projects, a wheel, a find-links folder, included files."""
    project = tmp_path / "project"
    for folder in (project, project / "pkg", project / "src", project / "editable", project / "test/packages/black_editable"):
        wheels.write_project(folder, "pkg", "1.0", kind="pyproject")
    (project / "wheels").mkdir()
    wheels.build_wheel(wheels.Dist("simple", "0.1", python_tag="py2.py3"), project)
    (project / "other.txt").write_text("six\n")
    (project / "constraints.txt").write_text("six==1.16.0\n")
    return project


def _requirement_cases(project: Path) -> list[tuple[str, Path]]:
    cases = []
    for number, line in enumerate((REQUIREMENTS / "pip" / "lines.txt").read_text().splitlines(), start=1):
        path = project / f"line-{number}.txt"
        path.write_text(line + "\n")
        cases.append((f"pip/lines.txt:{number}", path))
    for source in sorted(REQUIREMENTS.glob("*/*.txt")) + sorted(REQUIREMENTS.glob("*/*.in")):
        if source.parent.name == "pip" and source.name == "lines.txt":
            continue
        target = project / source.parent.name / source.name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(source, target)
        cases.append((f"{source.parent.name}/{source.name}", target))
    return cases


def requirement_disagreements(tmp_path: Path) -> tuple[dict[str, tuple], int]:
    project = _project(tmp_path)
    found, lines = {}, 0
    with working_directory(project):
        for key, path in _requirement_cases(project):
            lines += sum(1 for line in path.read_text(errors="replace").splitlines() if line.strip())
            ours, pips = our_view(path, project), pip_view(path)
            if _same(ours, pips):
                continue
            found[key] = (ours, pips)
    return found, lines


def _same(ours, pips) -> bool:
    if isinstance(ours, str) or isinstance(pips, str):
        return isinstance(ours, str) and isinstance(pips, str)
    return ours == pips


def conda_disagreements(tmp_path: Path) -> tuple[dict[str, tuple], int]:
    found, lines = {}, 0
    with working_directory(tmp_path):
        for source in sorted(CONDA.glob("*.txt")):
            for number, raw in enumerate(source.read_text().splitlines(), start=1):
                line = raw.split("#", 1)[0].strip() if not raw.startswith("https://") else raw.split("#", 1)[0]
                if not line:
                    continue
                lines += 1
                ours, theirs = our_conda_view(line, tmp_path), rattler_view(line)
                if not _same(ours, theirs):
                    found[f"{source.name}:{number}"] = (ours, theirs)
    return found, lines


def test_requirements_agree_with_pip(tmp_path):
    found, lines = requirement_disagreements(tmp_path)
    assert lines > 1000
    unexpected = {k: v for k, v in found.items() if k not in PIP_DELIBERATE}
    assert unexpected == {}
    assert sorted(found) == sorted(PIP_DELIBERATE), "a listed disagreement went away: update the list and the README"


def test_conda_specs_agree_with_rattler(tmp_path):
    found, lines = conda_disagreements(tmp_path)
    assert lines > 700
    unexpected = {k: v for k, v in found.items() if k not in CONDA_DELIBERATE}
    assert unexpected == {}
    assert sorted(found) == sorted(CONDA_DELIBERATE), "a listed disagreement went away: update the list and the README"


@pytest.mark.parametrize("kind", ["requirements", "conda"])
def test_the_corpus_is_there(kind):
    assert any((REQUIREMENTS if kind == "requirements" else CONDA).rglob("*.txt"))
