"""The materialize benchmark (``scripts/bench``): materialize against the raw engines and pip."""
