"""Settings shared by the web app, the worker and the beat, read from the environment."""

from config.retry_policies import RetryPolicy
from config.settings import Settings, load_settings

__all__ = ["RetryPolicy", "Settings", "load_settings"]
