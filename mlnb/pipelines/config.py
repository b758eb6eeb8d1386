"""What a pipeline is configured to do, validated once when it is created.

The config is stored as JSON in ``pipelines.config``; :class:`PipelineConfig` reads it back
with defaults for anything an older registry did not store.
"""

from __future__ import annotations

import ast
import datetime as dt
import keyword
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from mlnb.errors import MlnbError, ValidationError

CATCHUP_POLICIES = ("once", "skip")
PROMOTION_STAGES = ("staging", "production")
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
NAME_PATTERN = re.compile(r"^[^\W_][\w.-]{0,99}$")  # letters of any script, digits, _ . -


@dataclass
class PipelineConfig:
    """Everything a pipeline needs besides its name and notebook.

    ``catchup`` says what happens to cron slots missed while no scheduler ran: ``"once"``
    runs one run for all of them, ``"skip"`` records them as skipped and waits for the next.
    """

    schedule: str | None = None
    timezone: str = "UTC"
    catchup: str = "once"
    misfire_grace_seconds: float = 300.0
    params: dict[str, Any] = field(default_factory=dict)
    on_new_data: list[str] = field(default_factory=list)
    data_baseline: dict[str, str] = field(default_factory=dict)
    on_alert: str | None = None
    alert_kinds: list[str] = field(default_factory=list)
    alert_after_id: int = 0
    gate: str | None = None
    promote_to: str | None = None
    model: str | None = None
    timeout_seconds: float = 3600.0
    retries: int = 0
    retry_delay_seconds: float = 30.0
    max_concurrent: int = 1
    keep_outputs: int = 20
    kernel: str = "python3"
    schedule_anchor: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> PipelineConfig:
        """Check every field; raises ValidationError naming the option that is wrong."""
        if self.schedule is not None:
            self.schedule = validate_cron(self.schedule)
        zone(self.timezone)
        if self.catchup not in CATCHUP_POLICIES:
            raise ValidationError(
                f"--catchup must be 'once' (one run for all missed slots) or 'skip', "
                f"got {self.catchup!r}."
            )
        if self.promote_to is not None and self.promote_to not in PROMOTION_STAGES:
            raise ValidationError(
                f"--promote-to must be one of {', '.join(PROMOTION_STAGES)}, got {self.promote_to!r}."
            )
        if self.gate and not self.promote_to:
            raise ValidationError(
                f"--gate {self.gate} needs --promote-to STAGE (e.g. --promote-to production): "
                "the gate decides whether the run's candidate model moves to that stage."
            )
        check_duration("--timeout", self.timeout_seconds)
        check_duration("--retry-delay", self.retry_delay_seconds)
        check_duration("misfire grace", self.misfire_grace_seconds)
        _check_whole("--retries", self.retries, minimum=0)
        _check_whole("--max-concurrent", self.max_concurrent, minimum=1)
        _check_whole("--keep", self.keep_outputs, minimum=1)
        if not self.kernel or not isinstance(self.kernel, str):
            raise ValidationError(f"--kernel must name a Jupyter kernel, got {self.kernel!r}.")
        validate_params(self.params)
        return self

    @property
    def triggers(self) -> list[str]:
        """The automatic triggers this pipeline has (manual runs are always possible)."""
        out = []
        if self.schedule:
            out.append("schedule")
        if self.on_new_data:
            out.append("new_data")
        if self.on_alert:
            out.append("alert")
        return out


def validate_pipeline_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError(
            f"pipeline name {name!r} is not valid: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (e.g. churn-train)."
        )
    return name


def validate_cron(expr: str) -> str:
    """A five-field cron expression or an @macro, normalised; errors say which field is wrong."""
    from croniter import CroniterBadDateError, croniter

    text = " ".join(str(expr).split())
    fields = CRON_MACROS.get(text.lower(), text).split()
    if len(fields) != 5:
        raise ValidationError(
            f"invalid cron schedule {expr!r}: expected 5 fields 'minute hour day-of-month month "
            "day-of-week' (e.g. '0 3 * * *' for 03:00 every day) or @hourly/@daily/@weekly/"
            f"@monthly, got {len(fields)} field(s)."
        )
    names = ("minute", "hour", "day-of-month", "month", "day-of-week")
    for i, name in enumerate(names):
        probe = ["*"] * 5
        probe[i] = fields[i]
        if not croniter.is_valid(" ".join(probe)):
            raise ValidationError(
                f"invalid cron schedule {expr!r}: the {name} field {fields[i]!r} is not valid "
                f"(allowed: {_CRON_RANGES[name]})."
            )
    if not croniter.is_valid(" ".join(fields)):
        raise ValidationError(f"invalid cron schedule {expr!r}.")
    try:  # valid fields can still name a day that never comes (31 February)
        croniter(" ".join(fields), dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).get_next(dt.datetime)
    except (CroniterBadDateError, ValueError):
        raise ValidationError(
            f"the cron schedule {expr!r} never fires (no such date, e.g. 31 February); "
            "check the day-of-month and month fields."
        ) from None
    return text


_CRON_RANGES = {
    "minute": "0-59, lists, ranges, */N",
    "hour": "0-23, lists, ranges, */N",
    "day-of-month": "1-31",
    "month": "1-12 or jan-dec",
    "day-of-week": "0-6 (Sunday=0) or sun-sat",
}


def zone(name: str) -> dt.tzinfo:
    """The ``zoneinfo`` time zone called ``name``; an unknown name is a ValidationError."""
    import zoneinfo

    if name in ("UTC", "utc", "Z"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {name!r} for --timezone; use an IANA name such as UTC, "
            "Europe/Berlin or America/New_York."
        ) from None


def cron_slots(
    expr: str, tz: str, after: dt.datetime, until: dt.datetime, limit: int = 10_000
) -> list[dt.datetime]:
    """Cron due times in ``(after, until]``, in the pipeline's time zone (at most ``limit``,
    the newest kept)."""
    slots: list[dt.datetime] = []
    for slot in iter_cron(expr, tz, after):
        if slot > until:
            break
        slots.append(slot)
        if len(slots) > limit:
            slots.pop(0)
    return slots


CATCHUP_COUNT_LIMIT = 100  # missed slots counted one by one; beyond it "100+"


@dataclass
class MissedSlots:
    """The cron slots in ``(after, until]`` without listing them: the first, the latest and
    how many (exact up to CATCHUP_COUNT_LIMIT, else ``more`` is set)."""

    first: dt.datetime
    latest: dt.datetime
    count: int
    more: bool

    def describe(self) -> str:
        return f"{self.count}+" if self.more else str(self.count)


def missed_slots(
    expr: str, tz: str, after: dt.datetime, until: dt.datetime, limit: int = CATCHUP_COUNT_LIMIT
) -> MissedSlots | None:
    """The slots due in ``(after, until]`` in a time bounded whatever the downtime (a minute
    schedule down for a month has 43,200 of them): the latest is found by stepping back from
    ``until``, then confirmed stepping forward as :func:`cron_slots` does."""
    first = next_due(expr, tz, after)
    if first > until:
        return None
    latest = first
    for slot in iter_cron(expr, tz, max(after, _stepping_start(expr, tz, after, until))):
        if slot > until:
            break
        latest = max(latest, slot)
    count = 0
    for slot in iter_cron(expr, tz, after):
        if slot > latest or count > limit:
            break
        count += 1
    return MissedSlots(first, latest, min(count, limit), count > limit)


def _stepping_start(expr: str, tz: str, after: dt.datetime, until: dt.datetime) -> dt.datetime:
    """A time before the latest slot in ``(after, until]`` and close to it. croniter stepping
    back across a spring-forward gap can land after ``until`` (03:07 EDT back to "02:59 EST"):
    then it steps back from earlier probes, and at worst from ``after`` (every slot, correct)."""
    probe = until
    for _ in range(4):
        start = _two_slots_before(expr, tz, probe)
        if start < until:
            return start
        probe -= dt.timedelta(hours=3)
    return after


def _two_slots_before(expr: str, tz: str, when: dt.datetime) -> dt.datetime:
    from croniter import croniter

    fields = CRON_MACROS.get(expr.lower(), expr)
    back = croniter(fields, when.astimezone(zone(tz)) + dt.timedelta(seconds=1))
    back.get_prev(dt.datetime)
    earlier: dt.datetime = back.get_prev(dt.datetime)
    return earlier - dt.timedelta(minutes=1)


def iter_cron(expr: str, tz: str, after: dt.datetime) -> Iterator[dt.datetime]:
    from croniter import croniter

    fields = CRON_MACROS.get(expr.lower(), expr)
    it = croniter(fields, after.astimezone(zone(tz)))
    while True:
        yield it.get_next(dt.datetime)


def next_due(expr: str, tz: str, after: dt.datetime) -> dt.datetime:
    return next(iter_cron(expr, tz, after))


def parse_param(text: str) -> tuple[str, Any]:
    """``k=v`` to ``(k, value)``; the value is a Python literal when it parses as one
    (``0.1``, ``[1, 2]``, ``True``), else the string itself."""
    key, sep, raw = str(text).partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValidationError(
            f"--param expects NAME=VALUE (e.g. --param n_estimators=200), got {text!r}."
        )
    check_param_name(key, "--param")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = raw
    check_param_value(key, value)
    return key, value


def parse_params(items: Iterable[str] | None) -> dict[str, Any]:
    return dict(parse_param(item) for item in items or ())


def check_param_name(key: Any, where: str = "parameter") -> str:
    """A parameter name papermill can assign safely: a Python identifier, not a keyword.

    papermill writes ``name = value`` lines into the notebook, so any other key would be
    code run in the kernel (``'x = 1\\nimport os; os.system(...)\\nz'``)."""
    if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
        raise ValidationError(
            f"{where} name {key!r} is not a Python identifier (letters, digits and _, not "
            "starting with a digit, not a keyword such as 'class'); papermill assigns each "
            "parameter as a variable in the notebook, so rename it (e.g. learning_rate)."
        )
    return key


def check_param_value(key: str, value: Any) -> None:
    """Refuse numbers that are not finite anywhere in a value (``1e999`` parses as inf,
    which papermill writes as ``inf``, a NameError in the kernel)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(
            f"parameter {key} is {value!r}, not a finite number; give a finite value."
        )
    if isinstance(value, complex):
        check_param_value(key, value.real)
        check_param_value(key, value.imag)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_param_value(key, k)
            check_param_value(key, v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            check_param_value(key, v)


def validate_params(params: Any, where: str = "parameter") -> dict[str, Any]:
    """Check every name and value of a parameter mapping before it reaches papermill."""
    if not isinstance(params, dict):
        raise ValidationError(
            f"parameters must be a mapping of names to values, got {type(params).__name__}."
        )
    for key, value in params.items():
        check_param_name(key, where)
        check_param_value(key, value)
    return params


def parse_on_alert(text: str | None) -> tuple[str | None, list[str]]:
    """``MONITOR`` or ``MONITOR:kind1,kind2`` to ``(monitor, kinds)``."""
    if not text:
        return None, []
    monitor, _, kinds = str(text).partition(":")
    monitor = monitor.strip()
    if not monitor:
        raise ValidationError(
            f"--on-alert expects a monitor name, optionally with alert kinds "
            f"(e.g. churn or churn:accuracy_below_threshold,dataset_drift), got {text!r}."
        )
    return monitor, [k.strip() for k in kinds.split(",") if k.strip()]


def check_duration(option: str, value: Any) -> float:
    """A duration in seconds that is a finite number above zero (``nan`` would disable a
    timeout, ``inf`` would leave a retry queued forever)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValidationError(
            f"{option} must be a finite number of seconds above zero (e.g. 30), got {value!r}."
        )
    return float(value)


def _check_whole(option: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError(f"{option} must be a whole number >= {minimum}, got {value!r}.")


def require_posix() -> None:
    """Stop early, with the reason, where pipelines cannot run (Windows without WSL)."""
    if sys.platform == "win32":
        raise MlnbError(
            "mlnb pipelines and the scheduler run on POSIX systems only (Linux, macOS, or WSL "
            "on Windows): they lock the registry with fcntl.flock and stop runs by process "
            "group, which Windows lacks. Tracking, the model registry and monitoring work "
            "here; run pipelines under WSL or on a Linux/macOS machine."
        )
