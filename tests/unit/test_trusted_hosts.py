"""The Host check against DNS rebinding: which names are trusted by default and as configured
(TRUSTED_HOSTS), how a Host header is read, and what a refused request is answered."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from api.security_headers import SECURITY_HEADERS
from api.trusted_hosts import requested_host
from config import load_settings
from config.settings import ConfigError
from config.trusted_hosts import LOOPBACK_NAMES, resolve_trusted_hosts
from tests.support import sumflow_app

UNREACHABLE = "redis://127.0.0.1:1/0"  # /retry-policies answers without Redis
NAMES_ONLY = "TRUSTED_HOSTS must list host names or IP addresses, without a port"
STAR_ALONE = "TRUSTED_HOSTS may hold '*' only alone (it trusts any host)"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.1 "])
def test_a_loopback_listener_trusts_the_loopback_names_only(host: str) -> None:
    assert resolve_trusted_hosts((), host.strip()) == LOOPBACK_NAMES
    assert LOOPBACK_NAMES == {"localhost", "127.0.0.1", "[::1]"}


def test_another_loopback_address_listened_on_is_trusted_too() -> None:
    assert resolve_trusted_hosts((), "127.0.0.5") == LOOPBACK_NAMES | {"127.0.0.5"}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "api.internal"])
def test_a_listener_other_machines_reach_trusts_any_host(host: str) -> None:
    # Behind a proxy the names clients use are the operator's to give (TRUSTED_HOSTS).
    assert resolve_trusted_hosts((), host) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_configured_names_are_trusted_besides_the_loopback_ones(host: str) -> None:
    # The loopback names are this machine's own: no page is rebound to them, and a health
    # check on the machine (curl localhost:5000/health) keeps working once names are listed.
    assert resolve_trusted_hosts(("API.example.", "10.0.0.7", "::1"), host) == LOOPBACK_NAMES | {
        "api.example",
        "10.0.0.7",
    }


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_star_trusts_any_host(host: str) -> None:
    assert resolve_trusted_hosts(("*",), host) is None


def test_the_environment_sets_them() -> None:
    settings = load_settings({"TRUSTED_HOSTS": " api.example , [2001:db8::1] "})
    assert settings.trusted_hosts == ("api.example", "[2001:db8::1]")
    assert load_settings({}).trusted_hosts == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("api.example:8443", f"{NAMES_ONLY}, got 'api.example:8443'"),
        ("*,api.example", f"{STAR_ALONE}, got '*,api.example'"),
        ("*.example", f"{STAR_ALONE}, got '*.example'"),
        ("api example", f"{NAMES_ONLY}, got 'api example'"),
        ("http://api.example", f"{NAMES_ONLY}, got 'http://api.example'"),
        ("[::1", f"{NAMES_ONLY}, got '[::1'"),
        (",", "TRUSTED_HOSTS names nothing"),
    ],
)
def test_an_entry_that_cannot_match_stops_the_start(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings({"TRUSTED_HOSTS": value})


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("localhost:5000", "localhost"),
        ("LocalHost", "localhost"),
        ("localhost.:5000", "localhost"),  # the fully qualified form names the same host
        ("127.0.0.1:5000", "127.0.0.1"),
        ("[::1]:5000", "[::1]"),
        ("[0:0:0:0:0:0:0:1]", "[::1]"),
        ("localhost:", "localhost"),  # an empty port is the default one (RFC 3986)
        ("my_service:5000", "my_service"),  # docker compose service names
    ],
)
def test_a_host_header_is_read_as_its_host(header: str, host: str) -> None:
    assert requested_host(header) == host


@pytest.mark.parametrize(
    "header",
    [
        "evil.example,localhost",  # two Host headers, joined by the server
        "::1:5000",  # an IPv6 address without brackets
        "[::1]x",
        "[evil.example]:5000",
        "localhost:99999",
        "localhost:50a",
        "a b",
        "localhost/x",
    ],
)
def test_a_host_header_that_is_no_host_is_not_read(header: str) -> None:
    assert requested_host(header) is None


@pytest.fixture(scope="module")
def client() -> Iterator[FlaskClient]:
    # The default HOST (127.0.0.1) and no TRUSTED_HOSTS: as `make run` serves it.
    with sumflow_app({"redis_url": UNREACHABLE}) as app:
        yield app.test_client()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:5000", "[::1]:5000", ""])
def test_the_loopback_names_and_no_name_are_answered(client: FlaskClient, host: str) -> None:
    # No Host at all (HTTP/1.0; Granian passes an empty one) cannot come from a browser.
    response = client.get("/retry-policies", environ_overrides={"HTTP_HOST": host})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/retry-policies"), ("post", "/schedules"), ("get", "/docs")]
)
def test_another_name_is_a_json_421_naming_the_header_and_the_setting(
    client: FlaskClient, method: str, path: str
) -> None:
    response = getattr(client, method)(path, headers={"Host": "evil.example:5000"}, json={})
    assert response.status_code == 421
    assert response.json == {
        "code": 421,
        "status": "Misdirected Request",
        "message": "The Host header names 'evil.example:5000', a host this service does not "
        "answer for: a web page may be reaching it through DNS rebinding. If clients reach "
        "it by that name, add the name to TRUSTED_HOSTS.",
    }
    assert {name: response.headers.get(name) for name, _ in SECURITY_HEADERS} == dict(
        SECURITY_HEADERS
    )


def test_a_host_header_that_is_no_host_is_a_json_400(client: FlaskClient) -> None:
    response = client.get("/retry-policies", headers={"Host": "evil.example,localhost"})
    assert response.status_code == 400
    assert response.json["message"] == (
        "The Host header 'evil.example,localhost' is not a host name or address with an "
        "optional port."
    )


@pytest.fixture
def keyed_client() -> Iterator[FlaskClient]:
    config = {"redis_url": UNREACHABLE, "api_keys": ("k" * 32,), "auth_failure_limit": ""}
    with sumflow_app(config) as app:
        yield app.test_client()


def test_the_check_comes_before_the_api_key(keyed_client: FlaskClient) -> None:
    # A refused Host learns nothing of the key, and costs no failed-key budget.
    response = keyed_client.get("/queues", headers={"Host": "evil.example"})
    assert response.status_code == 421


@pytest.mark.parametrize(
    ("config", "host", "status"),
    [
        ({"host": "0.0.0.0"}, "evil.example", 200),
        ({"trusted_hosts": ("*",)}, "evil.example", 200),
        ({"trusted_hosts": ("*",)}, "a b", 200),  # no check at all
        ({"trusted_hosts": ("api.example",)}, "API.example:443", 200),
        ({"trusted_hosts": ("api.example",)}, "api.example.org", 421),
        ({"host": "0.0.0.0", "trusted_hosts": ("api.example",)}, "localhost:5000", 200),
        ({"host": "0.0.0.0", "trusted_hosts": ("api.example",)}, "evil.example", 421),
    ],
)
def test_the_settings_decide(config: dict[str, object], host: str, status: int) -> None:
    with sumflow_app({"redis_url": UNREACHABLE, **config}) as app:
        response = app.test_client().get("/retry-policies", headers={"Host": host})
    assert response.status_code == status
