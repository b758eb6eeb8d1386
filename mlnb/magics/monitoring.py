"""``%drift`` and ``%monitor``: drift panels inline and monitors from the notebook."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from mlnb.errors import MlnbError
from mlnb.magics._args import HelpShown, MagicArgumentParser, parse

MONITOR_HELP = """%monitor status [NAME]          latest verdict, accuracy, thresholds, open alerts
%monitor history NAME           batches with drift share and metrics
%monitor create NAME --reference VAR [--target COL] [--model M] [--threshold accuracy=0.82 ...]
%monitor log NAME BATCH [--predictions VAR] [--labels VAR] [--when DATE]
%monitor panel NAME [--batch ID] [--widget]"""


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        if text == "learned":
            return text
        raise MlnbError(f"threshold value {text!r} is not a number (or 'learned').") from None


@magics_class
class MonitorMagics(Magics):
    """Drift panels and monitors."""

    def _ns_value(self, name: str, what: str) -> Any:
        ns = self.shell.user_ns
        if name not in ns:
            raise MlnbError(f"{what} {name!r} is not a variable in this notebook.")
        return ns[name]

    def _guard(self, func: Any, line: str) -> Any:
        try:
            return func(line)
        except HelpShown as shown:
            print(str(shown))
        except MlnbError as exc:
            raise UsageError(str(exc)) from None

    @line_magic
    def drift(self, line: str) -> Any:
        """%drift CURRENT --reference REF | --monitor NAME [--log] [--widget]

        Show a drift panel for the DataFrame CURRENT against a reference DataFrame or a
        stored monitor's profile (``--log`` also records it as a batch of that monitor)."""
        return self._guard(self._drift, line)

    def _drift(self, line: str) -> Any:
        from mlnb.monitoring.drift import drift as compute_drift
        from mlnb.monitoring.drift.panel import drift_widget
        from mlnb.monitoring.monitor import Monitor
        from mlnb.render.tables import Rendered

        p = MagicArgumentParser(prog="%drift")
        p.add_argument("current")
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--reference", default=None)
        group.add_argument("--monitor", default=None)
        p.add_argument("--log", action="store_true", help="record the batch in the monitor")
        p.add_argument("--widget", action="store_true", help="interactive panel (ipywidgets)")
        args = parse(p, line)
        current = self._ns_value(args.current, "current data")
        if args.reference is not None:
            report = compute_drift(self._ns_value(args.reference, "reference data"), current)
            return drift_widget(report) if args.widget else report
        monitor = Monitor.load(args.monitor)
        if args.log:
            result = monitor.log_batch(current)
            return monitor.widget() if args.widget else result
        report = monitor.score(current)
        if args.widget:
            return drift_widget(report, history=monitor.history())
        from mlnb.monitoring.drift.panel import render_panel

        return Rendered(
            render_panel(report, history=monitor.history() or None), report.summary_text()
        )

    @line_magic
    def monitor(self, line: str) -> Any:
        """%monitor status|history|create|log|panel ... (``%monitor help``)"""
        return self._guard(self._monitor, line)

    def _monitor(self, line: str) -> Any:
        from mlnb.monitoring.monitor import Monitor, list_monitors
        from mlnb.render.monitoring import history_view, monitors_view, status_view

        words = line.split(None, 1)
        if not words or words[0] in ("help", "-h", "--help"):
            print(MONITOR_HELP)
            return None
        cmd, rest = words[0], words[1] if len(words) > 1 else ""
        if cmd == "status":
            if not rest.strip():
                return monitors_view(list_monitors())
            return status_view(Monitor.load(rest.strip()).status())
        if cmd == "history":
            if not rest.strip():
                raise MlnbError("usage: %monitor history NAME")
            monitor = Monitor.load(rest.strip())
            return history_view(
                monitor.name, monitor.history(limit=None), monitor.threshold_lines()
            )
        if cmd == "create":
            p = MagicArgumentParser(prog="%monitor create")
            p.add_argument("name")
            p.add_argument("--reference", required=True)
            p.add_argument("--target", default=None)
            p.add_argument("--model", default=None)
            p.add_argument("--threshold", action="append", default=[], metavar="METRIC=VALUE")
            args = parse(p, rest)
            thresholds = {}
            for item in args.threshold:
                if "=" not in item:
                    raise MlnbError(
                        f"--threshold takes METRIC=VALUE (e.g. accuracy=0.82), got {item!r}."
                    )
                key, value = item.split("=", 1)
                thresholds[key.strip()] = _number(value.strip())
            monitor = Monitor(
                args.name,
                model=args.model,
                reference=self._ns_value(args.reference, "reference data"),
                target=args.target,
                thresholds=thresholds,
            )
            print(
                f"mlnb: monitor {monitor.name!r} fitted on {monitor.config['reference_rows']} rows, "
                f"{len(monitor.config['features'])} features"
            )
            return None
        if cmd == "log":
            p = MagicArgumentParser(prog="%monitor log")
            p.add_argument("name")
            p.add_argument("batch")
            p.add_argument("--predictions", default=None)
            p.add_argument("--labels", default=None)
            p.add_argument("--when", default=None)
            args = parse(p, rest)
            monitor = Monitor.load(args.name)
            return monitor.log_batch(
                self._ns_value(args.batch, "batch"),
                predictions=self._ns_value(args.predictions, "predictions")
                if args.predictions
                else None,
                labels=self._ns_value(args.labels, "labels") if args.labels else None,
                when=args.when,
            )
        if cmd == "panel":
            p = MagicArgumentParser(prog="%monitor panel")
            p.add_argument("name")
            p.add_argument("--batch", type=int, default=None)
            p.add_argument("--widget", action="store_true")
            args = parse(p, rest)
            monitor = Monitor.load(args.name)
            return monitor.widget() if args.widget else monitor.panel(args.batch)
        raise MlnbError(f"unknown %monitor command {cmd!r}; try %monitor help.")
