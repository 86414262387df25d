"""The providers installed: every class of the entry point group ``billow.providers``.

Billow declares its own in ``pyproject.toml`` (``[project.entry-points."billow.providers"]``); a third
party's package declares its classes the same way and is found once installed in the same environment
(``docs/integrations.md``). A name is an integration ``type`` of the API; a name declared twice, or an
entry point that does not load or is not a :class:`Provider`, is logged and left out (one broken plug-in
never stops Billow).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points

from billow.providers.interface import Provider

log = logging.getLogger(__name__)

GROUP = "billow.providers"


@lru_cache(maxsize=1)
def providers() -> dict[str, Provider]:
    """Name → the provider's one instance, for every provider installed."""
    found: dict[str, Provider] = {}
    for entry in entry_points(group=GROUP):
        try:
            cls = entry.load()
        except Exception:  # a broken plug-in must not stop Billow
            log.exception("provider entry point %s (%s) does not load", entry.name, entry.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            log.error("provider entry point %s (%s) is not a Provider class", entry.name, entry.value)
            continue
        if entry.name != getattr(cls, "name", None):
            log.error("provider entry point %s names a provider called %r", entry.name, cls.name)
            continue
        if entry.name in found:
            log.error("provider %s declared twice; keeping %s", entry.name, type(found[entry.name]))
            continue
        found[entry.name] = cls()
    return found


def get(name: str) -> Provider | None:
    return providers().get(name)


def reload() -> None:
    """Forget what was found (a package installed while running, tests)."""
    providers.cache_clear()
