# Fixtures shared by the whole suite live in these plugins (pytest only honours
# `pytest_plugins` in the top-level conftest).
pytest_plugins = ["tests.fixtures", "tests.dockerenv.plugin", "tests.dockerenv.tls_plugin"]
