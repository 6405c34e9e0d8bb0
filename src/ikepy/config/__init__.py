"""Configuration: swanctl.conf syntax or native TOML -> validated, immutable objects.

    loaded = load_config("/etc/ikepy/swanctl.conf")   # or ikepy.toml
    conn = loaded.config.connections["net"]
    psk = loaded.config.find_psk("right", "left")

Errors are collected and raised once as :class:`ConfigError`, each naming
file, line and key; warnings come back in ``loaded.warnings`` and are also
logged to ``logging.getLogger("ikepy.config")``.
"""

from .errors import ConfigError, ConfigProblem
from .loader import LoadedConfig, load_config, load_config_text
from .model import (
    AuthRound,
    Child,
    Config,
    Connection,
    IkeSecret,
    TrafficSelectorConf,
    match_id,
    normalize_id,
)

__all__ = [
    "AuthRound",
    "Child",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "Connection",
    "IkeSecret",
    "LoadedConfig",
    "TrafficSelectorConf",
    "load_config",
    "load_config_text",
    "match_id",
    "normalize_id",
]
