"""Web fixtures: the service's database, model store and settings fixtures, reused as they are."""

from tests.service.conftest import client, database_url, models_dir, settings, users  # noqa: F401 - pytest fixtures
