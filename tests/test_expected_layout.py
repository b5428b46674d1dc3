"""expected.json's layout (a line per package) read back as the same state, whatever the paths hold;
a file in another layout (reflowed by hand or a tool) is read as one JSON document."""

from __future__ import annotations

import json

from materialize.prefix import expected
from materialize.prefix.expected import ExpectedState, FileState, PackageState

AWKWARD = ["identity", 'a"b', "back\\slash", "new\nline", "ünïcode/ß", ',"identity":"x', '"files":{', "sp ace"]


def _state() -> ExpectedState:
    packages = {}
    for i, name in enumerate(["conda:a", 'pypi:q"uote', "pypi:z"]):
        files = {f"lib/{path}{i}": FileState("file", 0o755 if i else 0o644, i + 1, f"{i:064x}") for path in AWKWARD}
        files[f"bin/link{i}"] = FileState("link", target="../lib/x")
        packages[name] = PackageState(name, f"id-{i}", f"{i}.0", files)
    return ExpectedState("/opt/env", "linux-64", "3.11.7", "d" * 64, packages)


def test_write_then_read_is_the_same_state_and_the_compact_sorted_encoding(tmp_path):
    state = _state()
    expected.write(tmp_path, state)
    text = expected.path_of(tmp_path).read_text()
    assert text.replace("\n", "") == json.dumps(state.to_json(), sort_keys=True, separators=(",", ":"))
    again = expected.read(tmp_path)
    assert again is not None and again.to_json() == state.to_json()
    assert all(p.line is not None for p in again.packages.values()), "not read by lines"
    expected.write(tmp_path, again)  # kept lines written back as they were
    assert expected.path_of(tmp_path).read_text() == text


def test_no_packages(tmp_path):
    state = ExpectedState("/p", "linux-64", "3.11.7", "d", {})
    expected.write(tmp_path, state)
    assert expected.read(tmp_path) == state


def test_a_reflowed_file_is_read_as_one_document(tmp_path):
    expected.write(tmp_path, _state())
    path = expected.path_of(tmp_path)
    one_line = path.read_text().replace("},\n", "}, ", 1)  # two packages on one line: still valid JSON
    path.write_text(one_line)
    read = expected.read(tmp_path)
    assert read is not None and read.to_json() == _state().to_json()
    path.write_text(json.dumps(_state().to_json(), indent=1))  # any other layout
    assert expected.read(tmp_path).to_json() == _state().to_json()
