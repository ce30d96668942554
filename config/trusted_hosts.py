"""The host names the API answers to (TRUSTED_HOSTS): its defence against DNS rebinding.

A web page on evil.example can point its own name at 127.0.0.1 once loaded; its scripts then
reach a service on the visitor's loopback as their own origin, and read its answers. Each such
request names evil.example in its Host header, which the page cannot change, so a service that
answers only the names it is known by refuses them (api/trusted_hosts.py).

Listening on a loopback address (`make run`'s 127.0.0.1), sumflow is known by the loopback
names alone. Listening where other machines reach it, it answers any name, as it always has:
the names a proxy or its clients use are the operator's to add in TRUSTED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["ANY", "LOOPBACK_NAMES", "host_name", "resolve_trusted_hosts"]

#: The TRUSTED_HOSTS entry that trusts any host.
ANY = "*"
#: What a client on this machine calls it: the names a browser sends for a loopback address.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})

# Labels of letters, digits, '-' and '_' (docker compose names services with underscores).
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*", re.ASCII)


def host_name(text: str) -> str | None:
    """``text`` (a name or IP address, no port) as hosts are compared: lower case, without a
    final dot (``localhost.`` is ``localhost``), an IPv6 address in brackets and compressed, as
    a URL and so a Host header writes it. None if it is neither a name nor an address."""
    text = text.lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        if ":" not in text:
            return None
    if ":" in text:
        try:
            return f"[{ipaddress.IPv6Address(text).compressed}]"
        except ValueError:
            return None
    text = text.removesuffix(".")
    return text if _NAME.fullmatch(text) else None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_trusted_hosts(configured: tuple[str, ...], host: str) -> frozenset[str] | None:
    """The host names to answer, or None for any. ``configured`` is TRUSTED_HOSTS (empty:
    unset), ``host`` the address the API listens on (HOST). The loopback names are always
    among them: a page that names them is served from this machine, not rebound to it, and a
    health check on the machine itself (``curl localhost:5000/health``) keeps working.

    Raises ValueError naming an entry that could never match a Host header, so that a typo
    stops the start rather than every request."""
    if configured == (ANY,) or (not configured and not _is_loopback(host)):
        return None
    if any(ANY in entry for entry in configured):
        raise ValueError(
            f"may hold '{ANY}' only alone (it trusts any host), got {','.join(configured)!r}"
        )
    names = set(LOOPBACK_NAMES)
    if _is_loopback(host) and (listened := host_name(host)):
        names.add(listened)
    for entry in configured:
        name = host_name(entry)
        if name is None:
            raise ValueError(f"must list host names or IP addresses, without a port, got {entry!r}")
        names.add(name)
    return frozenset(names)
