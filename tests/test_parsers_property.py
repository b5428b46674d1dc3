"""Issue 3: random and malformed lines never make either parser raise anything but InputError."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

from materialize.inputs import conda_specs, requirements
from materialize.errors import InputError

ALPHABET = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
PIECES = st.sampled_from(["numpy", "=", "==", ">=", "<", "1.2", "*", "::", " ", "#", "[", "]", "'", '"', ";",
                          "-r", "-c", "-e", "--hash=sha256:", "git+https://", "@", "${X}", ".", "\\", "\t", ","])
LINES = st.lists(st.one_of(st.text(ALPHABET, max_size=40), st.lists(PIECES, max_size=8).map("".join)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_conda_parser_raises_only_input_errors(lines):
    try:
        conda_specs.parse_text("\n".join(lines))
    except InputError as err:
        assert str(err).startswith("conda-packages.txt:")


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_requirements_parser_raises_only_input_errors(lines):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "requirements.txt"
        path.write_text("\n".join(lines), encoding="utf-8")
        try:
            requirements.parse_file(path, Path(folder))
        except InputError as err:
            assert "requirements.txt" in str(err) or ".txt" in str(err)
