"""Settings come from the environment, with defaults that run on a laptop."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from celery.concurrency import ALIASES

from api import serve
from config import load_settings, redis_server
from config.celery_config import celery_config
from config.settings import MAX_SECONDS, WORKER_POOLS, ConfigError


def test_defaults_match_the_contract() -> None:
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.add_delay_seconds == 3
    assert settings.port == 5000
    assert settings.api_keys == ()
    assert len(settings.queues) >= 2


def test_environment_is_parsed() -> None:
    settings = load_settings(
        {
            "REDIS_URL": "rediss://:secret@example.test:6380/1",
            "ADD_DELAY_SECONDS": "0.5",
            "API_KEYS": "k1, k2",
            "TASK_QUEUES": "a,b,c",
            "DEFAULT_QUEUE": "b",
        }
    )
    assert settings.redis_url.startswith("rediss://")
    assert settings.add_delay_seconds == 0.5
    assert settings.api_keys == ("k1", "k2")
    assert settings.queues == ("a", "b", "c")
    assert settings.default_queue == "b"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADD_DELAY_SECONDS": "soon"}, "ADD_DELAY_SECONDS must be a number"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with"),
        ({"DEFAULT_QUEUE": "nowhere"}, "DEFAULT_QUEUE 'nowhere' is not in TASK_QUEUES"),
        ({"PORT": "80.5"}, "PORT must be an integer"),
        ({"MAX_DELIVERIES": "0"}, "MAX_DELIVERIES must be at least 1"),
        ({"ADD_DELAY_SECONDS": "nan"}, "ADD_DELAY_SECONDS must be a finite number, got 'nan'"),
        ({"REDIS_TIMEOUT_SECONDS": "inf"}, "REDIS_TIMEOUT_SECONDS must be a finite number"),
        ({"REDIS_TIMEOUT_SECONDS": "0"}, "REDIS_TIMEOUT_SECONDS must be more than 0"),
        ({"RESULT_EXPIRES_SECONDS": "0"}, "RESULT_EXPIRES_SECONDS must be at least 1"),
        (
            {"VISIBILITY_TIMEOUT_SECONDS": "1", "ADD_DELAY_SECONDS": "0"},
            "VISIBILITY_TIMEOUT_SECONDS must be at least 2",
        ),
        ({"BEAT_LOCK_TIMEOUT_SECONDS": "2"}, "BEAT_LOCK_TIMEOUT_SECONDS must be at least 3"),
        # Redis refused such an expiry: every submission answered 503.
        (
            {"RESULT_EXPIRES_SECONDS": "99999999999999999999"},
            "RESULT_EXPIRES_SECONDS must be at most 3153600000 [(]100 years[)]",
        ),
        ({"VISIBILITY_TIMEOUT_SECONDS": "3153600001"}, "VISIBILITY_TIMEOUT_SECONDS must be at"),
        ({"BEAT_LOCK_TIMEOUT_SECONDS": "9999999999"}, "BEAT_LOCK_TIMEOUT_SECONDS must be at most"),
        ({"REDIS_TIMEOUT_SECONDS": "1e300"}, "REDIS_TIMEOUT_SECONDS must be at most"),
        # It was a ValueError's traceback from whichever process parsed it first.
        ({"REDIS_URL": "redis://:pw@127.0.0.1:99999/0"}, "REDIS_URL has a bad port: .*0-65535"),
        ({"REDIS_URL": "redis://127.0.0.1:six/0"}, "REDIS_URL has a bad port: .*'six'"),
        ({"MAX_SCHEDULES": "0"}, "MAX_SCHEDULES must be at least 1"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"PORT": "0"}, "PORT must be between 1 and 65535"),
        ({"WEB_WORKERS": "0"}, "WEB_WORKERS must be at least 1"),
        ({"WEB_THREADS": "0"}, "WEB_THREADS must be at least 1"),
        ({"MAX_REQUEST_BYTES": "0"}, "MAX_REQUEST_BYTES must be at least 1"),
        ({"WORKER_POOL": "bogus"}, "WORKER_POOL must be one of prefork, threads, solo, .*'bogus'"),
        # Read as "no keys", a typo would switch authentication off.
        ({"API_KEYS": ","}, "API_KEYS names nothing, got ',': leave it empty for the default"),
        ({"API_KEYS": " , "}, "API_KEYS names nothing"),
        ({"TASK_QUEUES": ",,"}, "TASK_QUEUES names nothing"),
        (
            {"ADD_DELAY_SECONDS": "3", "VISIBILITY_TIMEOUT_SECONDS": "5"},
            "ADD_DELAY_SECONDS must be at most half of VISIBILITY_TIMEOUT_SECONDS, 2.5 s",
        ),
    ],
)
def test_bad_values_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_the_limits_themselves_are_accepted() -> None:
    """Each bound the error messages state is inclusive: the value it names is allowed."""
    settings = load_settings(
        {
            "ADD_DELAY_SECONDS": "1",  # exactly half of the visibility timeout
            "VISIBILITY_TIMEOUT_SECONDS": "2",
            "PORT": "65535",
            "SCHEDULE_RUNS_KEPT": "10000",
            "BEAT_LOCK_TIMEOUT_SECONDS": "3",
            "RESULT_EXPIRES_SECONDS": "3153600000",  # MAX_SECONDS, 100 years
        }
    )
    assert settings.result_expires_seconds == MAX_SECONDS
    assert (settings.add_delay_seconds, settings.visibility_timeout_seconds) == (1, 2)
    assert (settings.port, settings.schedule_runs_kept) == (65535, 10_000)
    assert settings.beat_lock_timeout_seconds == 3
    assert load_settings({"ADD_DELAY_SECONDS": "0"}).add_delay_seconds == 0  # no simulated work


def test_lists_and_names_are_read_as_people_write_them() -> None:
    settings = load_settings(
        {"TASK_QUEUES": " a, ,b,", "DEFAULT_QUEUE": "a", "REDIS_SSL_CERT_REQS": "Optional"}
    )
    assert settings.queues == ("a", "b")  # no queue named ""
    assert settings.redis_ssl_cert_reqs == "optional"


def test_a_field_name_among_the_environment_is_refused_not_ignored() -> None:
    """Ignored, ``{"redis_url": ...}`` would leave the default Redis on 127.0.0.1:6379."""
    with pytest.raises(TypeError, match="redis_url are Settings fields"):
        load_settings({"redis_url": "redis://127.0.0.1:7000/0"})
    assert load_settings({}, redis_url="redis://127.0.0.1:7000/0").redis_url.endswith(":7000/0")


def test_celery_is_json_only_and_explicit_about_queues() -> None:
    conf = celery_config(load_settings({}))
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["result_accept_content"] == ["json"]
    assert conf["task_create_missing_queues"] is False
    assert conf["task_track_started"] is True
    assert conf["task_acks_late"] is True and conf["task_reject_on_worker_lost"] is True
    assert conf["result_expires"] == 86_400
    assert [q.name for q in conf["task_queues"]] == ["default", "priority"]


def test_workflow_limits_have_defaults_and_come_from_the_environment() -> None:
    defaults = load_settings({})
    assert (defaults.max_pairs, defaults.max_chain_numbers) == (100_000, 1_000)
    assert defaults.max_tasks_per_request == 10_000
    assert defaults.max_request_bytes == 8 * 1024 * 1024
    settings = load_settings(
        {"MAX_PAIRS": "50", "MAX_CHAIN_NUMBERS": "10", "MAX_TASKS_PER_REQUEST": "5"}
    )
    assert (settings.max_pairs, settings.max_chain_numbers) == (50, 10)
    assert settings.max_tasks_per_request == 5
    with pytest.raises(ConfigError, match="MAX_CHAIN_NUMBERS must be at least 2"):
        load_settings({"MAX_CHAIN_NUMBERS": "1"})
    with pytest.raises(ConfigError, match="MAX_PAIRS must be an integer"):
        load_settings({"MAX_PAIRS": "lots"})


def test_every_pool_celery_knows_is_a_worker_pool_and_no_other() -> None:
    assert set(WORKER_POOLS) == set(ALIASES)
    assert load_settings({"WORKER_POOL": "threads"}).worker_pool == "threads"


@pytest.mark.parametrize("start", [lambda: redis_server.main(["ping"]), lambda: serve.main([])])
def test_a_bad_setting_stops_make_run_with_one_line_naming_it(
    start: Callable[[], int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` checks the settings (its Redis ping) before it starts anything; it used to
    report no Redis, start one, and then print a traceback from every process."""
    monkeypatch.setenv("WEB_THREADS", "0")
    assert start() == 2
    assert capsys.readouterr().err == "sumflow: WEB_THREADS must be at least 1\n"


@pytest.mark.parametrize("command", [["worker"], ["beat", "-S", "redbeat.RedBeatScheduler"]])
def test_a_bad_setting_stops_a_worker_or_beat_started_by_hand_with_one_line(
    command: list[str],
) -> None:
    """Celery's command line loads `workflows.app`; a ConfigError there printed Celery's
    "Unable to load celery application" and a traceback. It stops before reaching Redis."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workflows", *command],
        env={**os.environ, "RESULT_EXPIRES_SECONDS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "sumflow: RESULT_EXPIRES_SECONDS must be at least 1\n",
    )


def test_a_bad_setting_stops_flasks_development_server_with_one_line() -> None:
    """`flask --app api run` (the contract's way to run the API alone) calls `create_app`,
    whose ConfigError came out as Flask's command-line traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "api", "run", "--port", "1"],
        env={**os.environ, "WEB_THREADS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (2, "sumflow: WEB_THREADS must be at least 1\n")


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m api.serve` with ``env``, on a free port; it must stop before serving."""
    return subprocess.run(
        [sys.executable, "-m", "api.serve"],
        env={**os.environ, "PORT": str(redis_server.free_port()), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_a_tls_file_that_cannot_be_read_stops_the_api_with_one_line(tmp_path: Path) -> None:
    """Granian loads the certificate as it starts, and a missing file was its traceback
    ("FileNotFoundError: [Errno 2] No such file or directory", naming no file)."""
    key = tmp_path / "tls.key"
    key.write_text("")
    done = _serve(tmp_path, TLS_CERT_FILE=str(tmp_path / "missing.crt"), TLS_KEY_FILE=str(key))
    assert (done.returncode, done.stderr) == (
        2,
        f"sumflow: TLS_CERT_FILE cannot be read: {tmp_path / 'missing.crt'}: "
        "No such file or directory\n",
    )


def test_tls_files_that_are_no_certificate_and_key_stop_the_api_with_one_line(
    tmp_path: Path,
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    done = _serve(tmp_path, TLS_CERT_FILE=str(junk), TLS_KEY_FILE=str(junk))
    assert done.returncode == 2
    assert done.stderr.startswith(
        "sumflow: TLS_CERT_FILE and TLS_KEY_FILE are not a PEM certificate (chain) and its key: "
    )
    assert done.stderr.count("\n") == 1


def test_a_metrics_directory_that_cannot_be_made_stops_the_api_with_one_line(
    tmp_path: Path,
) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    done = _serve(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(taken / "metrics"))
    assert (done.returncode, done.stderr) == (
        2,
        f"sumflow: PROMETHEUS_MULTIPROC_DIR cannot be used: {taken / 'metrics'}: Not a directory\n",
    )


def test_a_host_that_is_not_this_machines_is_named_as_the_cause(tmp_path: Path) -> None:
    """Any bind failure used to end "Is another server running there? Stop it, or set PORT.",
    which sent the operator after the wrong setting when HOST was the one at fault."""
    port = redis_server.free_port()
    done = _serve(tmp_path, HOST="192.0.2.1", PORT=str(port))  # TEST-NET-1: nobody's address
    assert (done.returncode, done.stderr) == (
        1,
        f"sumflow: cannot listen on 192.0.2.1:{port}: Cannot assign requested address. "
        "Set HOST to an address of this machine (0.0.0.0 for all of them).\n",
    )


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("", "redis://127.0.0.1:6379/0"),
        ("  redis://127.0.0.1:6390/2 ", "redis://127.0.0.1:6390/2"),
    ],
)
def test_make_runs_redis_check_reads_redis_url_as_every_process_does(
    raw: str, read: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty REDIS_URL means the default, and spaces around it are dropped, for the API,
    the worker and the beat alike. `make run`'s ping read the raw variable instead, and
    refused with "REDIS_URL must start with redis://..." a value every process accepts."""
    pinged: list[str] = []
    monkeypatch.setattr(
        redis_server, "probe", lambda url, **_: pinged.append(url) or redis_server.Probe(True)
    )
    monkeypatch.setenv("REDIS_URL", raw)
    assert load_settings().redis_url == read
    assert redis_server.main(["ping"]) == 0
    assert pinged == [read]
