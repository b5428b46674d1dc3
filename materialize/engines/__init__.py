"""The engines and the machinery under them: rattler, uv, downloads into the cache, subprocesses.

Nothing here reads a prefix's state or a project's files: callers hand in what the engines need."""
