"""What a pipeline is configured to do, validated once when it is created.

The config is stored as JSON in ``pipelines.config``; :class:`PipelineConfig` reads it back
with defaults for anything an older registry did not store.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from mlnb.errors import ValidationError

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
        _check_positive("--timeout", self.timeout_seconds)
        _check_positive("--retry-delay", self.retry_delay_seconds, allow_zero=True)
        _check_whole("--retries", self.retries, minimum=0)
        _check_whole("--max-concurrent", self.max_concurrent, minimum=1)
        _check_whole("--keep", self.keep_outputs, minimum=1)
        if not self.kernel or not isinstance(self.kernel, str):
            raise ValidationError(f"--kernel must name a Jupyter kernel, got {self.kernel!r}.")
        for key in self.params:
            if not str(key).isidentifier():
                raise ValidationError(
                    f"parameter name {key!r} is not a Python identifier; papermill assigns "
                    "parameters as variables."
                )
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
    from croniter import croniter

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
    if not key.isidentifier():
        raise ValidationError(f"--param name {key!r} is not a Python identifier.")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = raw
    return key, value


def parse_params(items: Iterable[str] | None) -> dict[str, Any]:
    return dict(parse_param(item) for item in items or ())


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


def _check_positive(option: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(f"{option} must be a positive number of seconds, got {value!r}.")


def _check_whole(option: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError(f"{option} must be a whole number >= {minimum}, got {value!r}.")
