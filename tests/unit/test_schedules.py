"""The schedules layer alone: cron parsing, the next run, the API's two forms, names, changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery.schedules import crontab, schedule

from config import load_settings
from config.celery_config import celery_config
from config.settings import ConfigError
from schedules.beat_service import giving_up
from schedules.model import InvalidName, ScheduleSpec, check_name
from schedules.stale_runs import deleted_message, schedule_id_of
from schedules.store import changed
from schedules.timing import (
    Cron,
    Every,
    InvalidTiming,
    next_run_at,
    normalized_cron,
    parse_cron,
    timing_of,
)
from workflows.submit import TaskOptions

T = datetime(2026, 3, 10, 7, 7, 17, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "five fields"),
        ("* * * * * *", "five fields"),
        ("", "five fields"),
        ("61 * * * *", "minute 61 is not in 0-59"),
        ("5-70 * * * *", "minute 70 is not in 0-59"),
        ("* 24 * * *", "hour 24 is not in 0-23"),
        ("0 0 0 * *", "day_of_month 0 is not in 1-31"),
        ("0 0 * 13 *", "month_of_year 13 is not in 1-12"),
        ("0 0 * * 7", "day_of_week 7 is not in 0-6 \\(0 is Sunday\\)"),
        ("0 0 * * 1,007", "day_of_week 7 is not in 0-6"),
        ("*/0 * * * *", "minute step in '\\*/0' must be 1 or more"),
        ("0 0 * * mon-fri/0", "day_of_week step in 'mon-fri/0' must be 1 or more"),
        ("0 0 31 4 *", "never occurs"),
        ("0 0 * * funday", "day_of_week 'funday' must be '\\*', a number or a day"),
        ("0 0 * * monday", "day_of_week 'monday' must be"),
        # Names only where they mean something: Celery would read each of these as a number.
        ("tue * * * *", "minute 'tue' must be '\\*', a number or a range"),
        ("0 0 sat * *", "day_of_month 'sat' must be"),
        ("0 0 foo * *", "day_of_month 'foo' must be"),
        ("0 0 1 fri *", "month_of_year 'fri' must be '\\*', a number or a month"),
        ("0 0 * * jan", "day_of_week 'jan' must be"),
        ("* " * 150, "at most 200 characters"),
        # Shapes Celery's parser would misread or crash on: named, not guessed at.
        ("1,,2 * * * *", "minute '1,,2' must be"),
        ("- * * * *", "minute '-' must be"),
        ("*/-1 * * * *", "minute '\\*/-1' must be"),
        ("1-2-3 * * * *", "minute '1-2-3' must be"),
        ("*/1.5 * * * *", "minute '\\*/1.5' must be"),
        ("* * * * mon-", "day_of_week 'mon-' must be"),
        ("* * * * -1", "day_of_week '-1' must be"),
        ("*/99999999999999999999 * * * *", "must be '\\*', a number or a range"),
        ("5/10 * * * *", "minute '5/10' must be"),
    ],
)
def test_bad_cron_strings_say_why(expression: str, message: str) -> None:
    with pytest.raises(InvalidTiming, match=message):
        parse_cron(expression)


def test_cron_fields_are_minute_hour_day_month_weekday() -> None:
    cron = parse_cron("5 4 3 2 1")
    assert (cron.minute, cron.hour, cron.day_of_month) == ({5}, {4}, {3})
    assert (cron.month_of_year, cron.day_of_week) == ({2}, {1})
    named = parse_cron("0 0 * Feb-Apr,dec MON-wed,sat")
    assert (named.month_of_year, named.day_of_week) == ({2, 3, 4, 12}, {1, 2, 3, 6})
    # Ranges wrap around, as Celery reads them.
    wrapping = parse_cron("0 22-1 * * fri-mon")
    assert (wrapping.hour, wrapping.day_of_week) == ({22, 23, 0, 1}, {5, 6, 0, 1})
    assert normalized_cron("  */5   *  * * * ") == "*/5 * * * *"


def test_next_cron_time_counts_from_the_anchor() -> None:
    every_five = parse_cron("*/5 * * * *")
    assert next_run_at(every_five, T, T) == T.replace(minute=10, second=0)
    daily = parse_cron("0 3 * * *")
    assert next_run_at(daily, T, T) == datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    mondays = parse_cron("30 9 * * mon")
    assert next_run_at(mondays, T, T) == datetime(2026, 3, 16, 9, 30, tzinfo=UTC)


def test_next_interval_run_counts_from_the_anchor() -> None:
    every_minute = Every(60).schedule()
    assert next_run_at(every_minute, T, T + timedelta(seconds=20)) == T + timedelta(seconds=60)


def test_an_overdue_run_is_due_now_once() -> None:
    now = T + timedelta(hours=5)
    assert next_run_at(Every(60).schedule(), T, now) == now
    assert next_run_at(parse_cron("*/5 * * * *"), T, now) == now


def test_timing_round_trips_through_celery_schedules() -> None:
    assert timing_of(Every(90).schedule()) == Every(90)
    assert timing_of(Cron("0 */2 1 * sun").schedule()) == Cron("0 */2 1 * sun")
    assert isinstance(Cron("* * * * *").schedule(), crontab)
    assert isinstance(Every(1).schedule(), schedule)
    assert Every(60.0).as_json() == 60 and isinstance(Every(60.0).as_json(), int)
    assert Every(1.5).as_json() == 1.5


@pytest.mark.parametrize("seconds", [0, 0.5, 366 * 86_400 + 1])
def test_intervals_out_of_range_are_refused(seconds: float) -> None:
    with pytest.raises(InvalidTiming, match="between 1 and"):
        Every(seconds).schedule()


@pytest.mark.parametrize("name", ["nightly", "a", "A-1_b.c", "9" * 100])
def test_safe_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "a b", "a/b", "a:b", "ä", "x" * 101])
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        check_name(name)


def test_beat_settings_let_changes_take_effect_within_a_second() -> None:
    conf = celery_config(load_settings({}))
    assert conf["beat_max_loop_interval"] <= 1
    assert conf["redbeat_key_prefix"] == "sumflow:redbeat:"
    assert conf["redbeat_lock_timeout"] == 10
    assert "schedules.beat" in conf["imports"]  # the beat records runs
    assert "schedules.stale_runs" in conf["imports"]  # the worker drops a deleted one's
    assert (
        celery_config(load_settings({"BEAT_LOCK_TIMEOUT_SECONDS": "4"}))["redbeat_lock_timeout"]
        == 4
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCHEDULE_RUNS_KEPT": "0"}, "SCHEDULE_RUNS_KEPT must be between 1 and 10000"),
        ({"SCHEDULE_RUNS_KEPT": "many"}, "SCHEDULE_RUNS_KEPT must be an integer"),
        ({"BEAT_LOCK_TIMEOUT_SECONDS": "1"}, "BEAT_LOCK_TIMEOUT_SECONDS must be at least 3"),
    ],
)
def test_bad_schedule_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_changes_apply_to_the_spec_and_its_options() -> None:
    spec = ScheduleSpec("s", 1, 2, Every(60), options=TaskOptions(queue="default"))
    new = changed(spec, {"a": 5, "timing": Cron("0 3 * * *"), "queue": "priority"})
    assert (new.a, new.b, new.timing, new.options.queue) == (5, 2, Cron("0 3 * * *"), "priority")
    assert changed(spec, {}) == spec
    with pytest.raises(TypeError, match="cannot change name"):
        changed(spec, {"name": "t"})


@pytest.mark.parametrize(
    ("definition", "schedule_id"),
    [
        ('{"options": {"headers": {"sumflow_schedule_id": "abc"}}}', "abc"),
        (b'{"options": {"headers": {"sumflow_schedule_id": "abc"}}}', "abc"),
        ('{"options": {"headers": {"sumflow_schedule": "x"}}}', ""),  # an older sumflow's
        ('{"options": {"headers": {"sumflow_schedule_id": 5}}}', ""),
        ('{"options": {"headers": []}}', ""),
        ('{"options": null}', ""),
        ("[]", ""),
        ("not json", ""),
    ],
)
def test_a_runs_schedule_is_told_by_the_entrys_creation_id(
    definition: str | bytes, schedule_id: str
) -> None:
    """What the worker compares with a run's id header before it runs it (a run of a deleted
    or re-created schedule is dropped); anything sumflow did not write has no id."""
    assert schedule_id_of(definition) == schedule_id


def test_a_deleted_schedules_run_says_whether_it_ever_ran() -> None:
    assert deleted_message("often", 0) == "not run: its schedule 'often' was deleted"
    assert deleted_message("often", 1) == (
        "not retried after 1 failed attempt: its schedule 'often' was deleted"
    )
    assert deleted_message("often", 3).startswith("not retried after 3 failed attempts: ")


def test_a_beat_giving_up_names_the_url_the_time_and_the_reason() -> None:
    error = redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6481.")
    assert giving_up("redis://127.0.0.1:6481/0", error, 31.4) == (
        "beat: no Redis answers at redis://127.0.0.1:6481/0 after 31 s "
        "(Error 111 connecting to 127.0.0.1:6481.); giving up"
    )


def test_a_refused_password_is_not_told_as_no_redis_answering() -> None:
    error = redis.exceptions.AuthenticationError("invalid username-password pair")
    assert giving_up("redis://127.0.0.1:6481/0", error, 1.0) == (
        "beat: the Redis at redis://127.0.0.1:6481/0 refuses the credentials in REDIS_URL "
        "(invalid username-password pair); giving up after 1 s"
    )
