"""The HTTP API, version 1: thin routes over repository.py, registry.py and jobs.py."""
