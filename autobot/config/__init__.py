"""Configuration: the schema (`schema`), `Secret`, and loading `config.yml`.

Callers normally need only `find_config_path`, `load_config`, `LoadedConfig`,
`ConfigError` and `ConfigProblem`.
"""

from autobot.config.errors import ConfigError, ConfigProblem
from autobot.config.load import LoadedConfig, find_config_path, load_config

__all__ = ["ConfigError", "ConfigProblem", "LoadedConfig", "find_config_path", "load_config"]
