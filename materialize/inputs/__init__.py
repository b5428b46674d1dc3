"""The project's input files read into one `Project`: conda specs, requirements, pip.conf, .env, settings' core set."""
