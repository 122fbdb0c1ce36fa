"""Web fixtures: the service's database, model store and settings fixtures, reused as they are."""

from tests.service.conftest import database_url, models_dir, settings  # noqa: F401 - pytest fixtures
