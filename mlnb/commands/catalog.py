"""Every user command, declared once: the words, the arguments, the help, the surfaces and
the function that runs it. ``mlnb --help``, ``mlnb CMD --help``, ``%CMD?`` and
``%CMD --help`` are all generated from this table.

Standard library only (the CLI and ``%load_ext mlnb`` read it at start-up); the functions
live in the feature modules next to this one and are imported when a command runs.
"""

from __future__ import annotations

import argparse

from mlnb.commands.spec import CLI, MAGIC, Arg, Command, arg, command, one_of

# Same list as mlnb.store.runs.RUN_STATUSES (a test keeps them equal); repeated here so
# that parsing a command line does not open the storage layer.
RUN_STATUSES = ("running", "finished", "failed", "crashed", "interrupted")
STAGES = ["staging", "production", "archived"]
NOTEBOOK = frozenset({MAGIC})
COMMAND_LINE = frozenset({CLI})


def positive_int(text: str) -> int:
    """``--limit`` values: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid int value {text!r}: expected a whole number"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def run_status(text: str) -> str:
    """``--status`` values: one of the run statuses."""
    if text not in RUN_STATUSES:
        raise argparse.ArgumentTypeError(
            f"unknown run status {text!r} (invalid choice; choose one of {', '.join(RUN_STATUSES)})"
        )
    return text


def _limit(default: int | None, what: str) -> Arg:
    return arg(
        "--limit",
        "-n",
        type=positive_int,
        default=default,
        metavar="N",
        help=f"at most N {what}" + (f" (default {default})" if default else " (default: all)"),
    )


TRACKING = "mlnb.commands.tracking"
DATA = "mlnb.commands.data"
MODELS = "mlnb.commands.models"
MONITORING = "mlnb.commands.monitoring"
DRIFT = "mlnb.commands.drift"
ALERTS = "mlnb.commands.alerts"
PIPELINES = "mlnb.commands.pipelines"
SYNC = "mlnb.commands.sync"
BACKUP = "mlnb.commands.backup"
SERVING = "mlnb.commands.serving"

_TRACK_OPTIONS = (
    arg("--name", default="", help="run name"),
    arg("--experiment", "-e", default=None, help="experiment for this run"),
    arg("--params", default=None, metavar="A,B", help="comma-separated names to record as params"),
    arg(
        "--metrics", default=None, metavar="M,N", help="comma-separated names to record as metrics"
    ),
    arg("--no-data", action="store_true", help="do not version data"),
    arg("--no-models", action="store_true", help="do not save fitted models"),
)

_PIPELINE_DEFINITION = (
    arg("--schedule", default=None, help="cron expression, e.g. '0 3 * * *' or @daily"),
    arg("--timezone", "--tz", default="UTC", help="time zone of the schedule (default UTC)"),
    arg(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="parameter injected by papermill (repeatable; Python literal or string)",
    ),
    arg(
        "--on-new-data",
        action="append",
        default=[],
        metavar="PATH",
        help="run when this file or folder's content changes (repeatable)",
    ),
    arg(
        "--on-alert",
        default=None,
        metavar="MONITOR[:KINDS]",
        help="run when the monitor raises an alert (optionally only of these kinds)",
    ),
    arg("--gate", default=None, help="gate the candidate model must pass"),
    arg(
        "--promote-to",
        default=None,
        choices=["staging", "production"],
        help="stage the candidate moves to when it passes",
    ),
    arg("--model", default=None, help="registered model to gate (default: any)"),
    arg("--timeout", type=float, default=3600.0, help="seconds per attempt"),
    arg("--retries", type=int, default=0, help="extra attempts after a failure"),
    arg("--retry-delay", type=float, default=30.0, help="seconds before the first retry (doubles)"),
    arg("--max-concurrent", type=int, default=1, help="runs at a time (default 1)"),
    arg("--keep", type=int, default=20, help="output notebooks to keep (default 20)"),
    arg(
        "--catchup",
        choices=["once", "skip"],
        default="once",
        help="missed cron slots: one run for all of them (once) or none (skip)",
    ),
    arg("--kernel", default="python3", help="Jupyter kernel (default python3)"),
    arg(
        "--tag-parameters",
        action="store_true",
        help="tag the cell of literal assignments as 'parameters' if none is tagged",
    ),
    arg("--replace", action="store_true", help="redefine an existing pipeline (keeps history)"),
)

COMMANDS: list[Command] = [
    # -- the notebook session (%mlnb registry|experiment, %%track) ---------------------
    command(
        "registry",
        "show or switch the registry folder of this notebook",
        f"{TRACKING}:registry",
        arg("path", nargs="?", default=None, help="registry folder to use from now on"),
        surfaces=NOTEBOOK,
    ),
    command(
        "experiment",
        "show or set the experiment new runs belong to",
        f"{TRACKING}:experiment",
        arg("name", nargs="?", default=None, help="experiment name"),
        surfaces=NOTEBOOK,
    ),
    command(
        "track",
        "record what a cell does as a run (%%track), or every cell (%track on|off)",
        None,
        *_TRACK_OPTIONS,
        description="As a cell magic, %%track [options] runs the cell and records its params, "
        "the data it used, the models it fitted and its metrics as a run. As a line magic, "
        "%track on [options] tracks every following cell and %track off stops.",
        surfaces=NOTEBOOK,
        magic="track",
        by_surface=True,
    ),
    # -- tracking ------------------------------------------------------------------------
    command(
        "runs",
        "list runs (or compare some with --compare)",
        f"{TRACKING}:runs",
        arg("--experiment", "-e", default=None, help="only runs of this experiment"),
        arg(
            "--status",
            type=run_status,
            default=None,
            metavar="STATUS",
            help=f"only runs with this status: {', '.join(RUN_STATUSES)}",
        ),
        arg("--sort", default=None, help="metric or field to sort by (descending)"),
        arg("--asc", action="store_true", help="sort ascending"),
        _limit(50, "runs"),
        arg(
            "--compare",
            nargs="+",
            default=None,
            metavar="RUN",
            help="show these runs side by side instead (like `compare`)",
        ),
        magic="runs",
    ),
    command("show", "everything about one run", f"{TRACKING}:show", arg("run", help="run id")),
    command(
        "compare",
        "runs side by side",
        f"{TRACKING}:compare",
        arg("runs", nargs="+", metavar="RUN", help="run ids (at least two)"),
    ),
    command("experiments", "list experiments", f"{TRACKING}:experiments"),
    command(
        "status",
        "registry location and counts",
        f"{TRACKING}:status",
    ),
    command(
        "backup",
        "copy the registry (database and model files) to a new folder",
        f"{BACKUP}:backup",
        arg("path", help="folder to create for the copy (must not exist or be empty)"),
        description="A consistent copy made with SQLite's online backup API while notebooks "
        "and pipelines keep writing, plus the object store. Restore by pointing MLNB_HOME at "
        "the copy, or by copying it back over the registry folder once nothing runs.",
    ),
    # -- data versions -------------------------------------------------------------------
    command("data", "data versions: list, show, restore", default="list"),
    command("data list", "list data versions", f"{DATA}:list_versions", _limit(50, "versions")),
    command(
        "data show",
        "one data version and the runs that used it",
        f"{DATA}:show",
        arg("version", help="data version id (a prefix is enough)"),
    ),
    command(
        "data restore",
        "write a snapshot back to a path",
        f"{DATA}:restore",
        arg("version", help="data version id with a snapshot"),
        arg("path", help="file to write (never through a symbolic link)"),
        arg("--force", action="store_true", help="replace an existing file (its mode is kept)"),
    ),
    command(
        "dataversion",
        "record a data version of a notebook variable or a file",
        f"{DATA}:dataversion",
        arg("target", help="a variable name or a path"),
        arg("--name", default=None, help="name to record (default: the variable or file name)"),
        arg("--snapshot", action="store_true", help="keep a copy to restore later"),
        surfaces=NOTEBOOK,
        magic="dataversion",
    ),
    # -- model registry and gates --------------------------------------------------------
    command(
        "models",
        "list registered models (or one model's versions with NAME)",
        f"{MODELS}:models",
        arg("name", nargs="?", default=None, help="one model: versions, stages, history"),
        magic="models",
    ),
    command(
        "model",
        "one model: versions, stage history, gates, lineage",
        f"{MODELS}:model",
        arg("name", help="registered model name"),
    ),
    command(
        "register",
        "register a stored model as a new version",
        f"{MODELS}:register",
        arg("ref", help="runs:/RUN_ID/NAME, artifact:ID, or another model's NAME/VERSION"),
        arg("--name", required=True, help="registered model name"),
        arg("--stage", choices=["none", "staging"], default=None, help="initial stage"),
        arg("--alias", action="append", default=[], help="free alias(es), e.g. champion"),
        arg("--description", default="", help="free text stored with the version"),
    ),
    command(
        "register_model",
        "register a fitted model in the notebook as a new version",
        f"{MODELS}:register_model",
        arg("model", help="a variable holding a fitted model, or runs:/RUN/NAME"),
        arg("--name", required=True, help="registered model name, e.g. churn"),
        arg("--stage", choices=["none", "staging"], default=None, help="initial stage"),
        arg("--alias", action="append", default=[], help="free alias(es), e.g. champion"),
        arg("--description", default="", help="free text stored with the version"),
        arg("--X", dest="X", default=None, help="variable with the training inputs"),
        arg("--allow-pickle", action="store_true", help="store with pickle if skops cannot"),
        surfaces=NOTEBOOK,
        magic="register_model",
    ),
    command(
        "promote",
        "run a gate and promote a version if it passes",
        f"{MODELS}:promote",
        arg("name", help="registered model name (or NAME/VERSION)"),
        arg("version", nargs="?", default=None, help="version (default: latest)"),
        arg("--version", dest="version_option", default=None, metavar="N", help="same as VERSION"),
        arg("--to", default="production", choices=STAGES, help="target stage (default production)"),
        arg("--gate", default=None, help="gates.yaml:NAME, a gate file, or a name"),
        arg(
            "--holdout",
            default=None,
            help="CSV/parquet file or data version id (in a notebook also a variable)",
        ),
        arg("--target", default=None, help="target column of the holdout"),
        arg("--reason", default="", help="recorded with the stage change"),
        arg("--force", action="store_true", help="promote even if the gate fails"),
        epilog="Exits with status 1 when the version is not promoted.",
        magic="promote",
    ),
    command(
        "gate",
        "run a gate on a version without promoting it",
        f"{MODELS}:gate",
        arg("gate", help="gates.yaml:NAME, a gate file, or a name"),
        arg("ref", help="NAME, NAME/VERSION or NAME@ALIAS"),
        arg("--holdout", default=None, help="CSV/parquet file or data version id"),
        arg("--target", default=None, help="target column of the holdout"),
        arg("--no-record", action="store_true", help="do not store the result"),
        epilog="Exits with status 1 when the gate fails.",
    ),
    command(
        "rollback",
        "put the previous production version back",
        f"{MODELS}:rollback",
        arg("name", help="registered model name"),
        arg("--reason", default="", help="recorded with the stage change"),
        magic="rollback",
    ),
    command(
        "lineage",
        "artifact, run, notebook cell and data behind a version",
        f"{MODELS}:lineage",
        arg("ref", help="churn@3, churn/3, churn@production, churn@champion"),
        magic="lineage",
    ),
    command(
        "alias",
        "set (or --delete) a free alias such as champion",
        f"{MODELS}:alias",
        arg("name", help="registered model name"),
        arg("alias", help="alias, e.g. champion"),
        arg("version", nargs="?", default=None, help="version the alias points at"),
        arg("--delete", action="store_true", help="remove the alias"),
    ),
    # -- monitoring ----------------------------------------------------------------------
    command(
        "drift",
        "drift panel of a DataFrame against a reference DataFrame or a monitor",
        f"{DRIFT}:drift",
        arg("current", help="variable holding the current DataFrame"),
        one_of(
            arg("--reference", default=None, help="variable holding the reference DataFrame"),
            arg("--monitor", default=None, help="a stored monitor's reference profile"),
            required=True,
        ),
        arg("--log", action="store_true", help="record the batch in the monitor"),
        arg("--widget", action="store_true", help="interactive panel (ipywidgets)"),
        surfaces=NOTEBOOK,
        magic="drift",
    ),
    command(
        "monitor",
        "drift and accuracy monitors",
        default="list",
        magic="monitor",
        epilog="In a notebook also: create, log and panel.",
    ),
    command("monitor list", "all monitors", f"{MONITORING}:list_monitors"),
    command(
        "monitor status",
        "latest verdict, metrics and open alerts of a monitor (all monitors without NAME)",
        f"{MONITORING}:status",
        arg("name", nargs="?", default=None, help="monitor name"),
    ),
    command(
        "monitor history",
        "every batch of a monitor",
        f"{MONITORING}:history",
        arg("name", help="monitor name"),
        _limit(None, "batches"),
    ),
    command(
        "monitor create",
        "fit a monitor on a reference DataFrame",
        f"{MONITORING}:create",
        arg("name", help="monitor name"),
        arg("--reference", required=True, help="variable holding the reference DataFrame"),
        arg("--target", default=None, help="label column of the reference"),
        arg("--model", default=None, help="registered model the monitor watches"),
        arg(
            "--threshold",
            action="append",
            default=[],
            metavar="METRIC=VALUE",
            help="alert threshold, e.g. accuracy=0.82 or drift_share=learned (repeatable)",
        ),
        surfaces=NOTEBOOK,
    ),
    command(
        "monitor log",
        "score a batch against a monitor and store it",
        f"{MONITORING}:log",
        arg("name", help="monitor name"),
        arg("batch", help="variable holding the batch DataFrame"),
        arg("--predictions", default=None, help="variable holding the model's predictions"),
        arg("--labels", default=None, help="variable holding the true labels"),
        arg("--when", default=None, help="batch date (default: now)"),
        surfaces=NOTEBOOK,
    ),
    command(
        "monitor panel",
        "drift panel of a monitor's latest (or --batch) batch",
        f"{MONITORING}:panel",
        arg("name", help="monitor name"),
        arg("--batch", type=int, default=None, help="batch number: 1, 2, 3... (default: latest)"),
        arg("--widget", action="store_true", help="interactive panel (ipywidgets)"),
        surfaces=NOTEBOOK,
    ),
    command(
        "alerts",
        "alerts from monitors and pipelines",
        default="list",
    ),
    command(
        "alerts list",
        "list alerts (open ones by default)",
        f"{ALERTS}:list_alerts",
        arg("--all", action="store_true", help="include acknowledged and resolved"),
        arg("--monitor", default=None, help="only alerts of this monitor"),
        arg("--pipeline", default=None, help="only alerts of this pipeline"),
        _limit(50, "alerts"),
    ),
    command(
        "alerts ack",
        "acknowledge an alert",
        f"{ALERTS}:ack",
        arg("alert_id", type=int, help="alert id"),
    ),
    command(
        "alerts resolve",
        "resolve an alert",
        f"{ALERTS}:resolve",
        arg("alert_id", type=int, help="alert id"),
    ),
    # -- pipelines -----------------------------------------------------------------------
    command(
        "pipeline",
        "notebook pipelines: create, run, list, history...",
        default="list",
        magic="pipeline",
        description="A notebook as a scheduled, retrained pipeline (papermill).",
        epilog="Parameters go into the cell tagged 'parameters'. Keep `mlnb scheduler` "
        "running (or install the exported entry) for schedules, new-data and alert triggers.",
    ),
    command(
        "pipeline create",
        "turn a notebook into a pipeline",
        f"{PIPELINES}:create",
        arg("name", help="pipeline name"),
        arg(
            "notebook",
            nargs="?",
            default=None,
            help="notebook to run (in a notebook: this one by default)",
        ),
        arg(
            "--notebook",
            dest="notebook_option",
            default=None,
            metavar="PATH",
            help="same as NOTEBOOK",
        ),
        *_PIPELINE_DEFINITION,
        description="Store a pipeline that runs NOTEBOOK with papermill (parameters go into "
        "the cell tagged 'parameters') on a cron schedule, new data, a monitor alert, or "
        "by hand; optionally gate and promote the model it registers.",
        creates_registry=True,
    ),
    command(
        "pipeline run",
        "run a pipeline now and wait for it",
        f"{PIPELINES}:run",
        arg("name", help="pipeline name"),
        arg(
            "--param",
            "-p",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="parameter (repeatable)",
        ),
        arg("--reason", default="", help="why (recorded with the run)"),
        arg("--params-json", default=None, metavar="JSON", help="parameters as one JSON object"),
        arg("--trigger", default="manual", choices=("manual", "airflow"), help="recorded trigger"),
        arg(
            "--no-promote",
            action="store_true",
            help="skip the gate and promotion (run them later with `mlnb pipeline promote`)",
        ),
        arg("--no-retry", action="store_true", help="one attempt only (the caller retries)"),
        arg("--print-id", action="store_true", help="print only the pipeline run id (for scripts)"),
        description="Run the pipeline's notebook now in a fresh kernel and wait for it. "
        "Exits with status 1 unless the run finished.",
    ),
    command(
        "pipeline promote",
        "gate and promote the model of a run made with --no-promote",
        f"{PIPELINES}:promote",
        arg("name", help="pipeline name"),
        arg("run_id", type=int, help="pipeline run id"),
        description="Run the pipeline's gate on the model version that run RUN_ID registered "
        "and promote it when it passes. Exits 1 when the gate rejects it. Running it again "
        "prints the decision already recorded.",
    ),
    command("pipeline list", "list pipelines", f"{PIPELINES}:list_all"),
    command(
        "pipeline show",
        "a pipeline (or one of its runs)",
        f"{PIPELINES}:show",
        arg("name", help="pipeline name"),
        arg("run_id", nargs="?", type=int, help="show this run in full"),
        arg("--log", action="store_true", help="with a run: print its log too"),
    ),
    command(
        "pipeline history",
        "runs of a pipeline, newest first",
        f"{PIPELINES}:history",
        arg("name", help="pipeline name"),
        _limit(20, "runs"),
    ),
    command(
        "pipeline output",
        "path of a run's executed notebook (or its log)",
        f"{PIPELINES}:output",
        arg("run_id", type=int, help="pipeline run id"),
        arg("--log", action="store_true", help="print the run's log instead"),
    ),
    command(
        "pipeline pause",
        "stop automatic runs",
        f"{PIPELINES}:pause",
        arg("name", help="pipeline name"),
    ),
    command(
        "pipeline resume",
        "restart automatic runs (slots missed while paused do not run)",
        f"{PIPELINES}:resume",
        arg("name", help="pipeline name"),
    ),
    command(
        "pipeline delete",
        "delete a pipeline, its history and outputs",
        f"{PIPELINES}:delete",
        arg("name", help="pipeline name"),
        arg("--keep-outputs", action="store_true", help="leave the output notebooks"),
    ),
    command(
        "pipeline export",
        "print the crontab line, systemd unit or Airflow DAG to install",
        f"{PIPELINES}:export",
        arg("name", help="pipeline name"),
        one_of(
            arg(
                "--crontab",
                action="store_true",
                help="a crontab line running `mlnb scheduler --once`",
            ),
            arg("--systemd", action="store_true", help="a systemd service and timer"),
            arg(
                "--airflow",
                action="store_true",
                help="an Airflow DAG file (run + gate/promote tasks)",
            ),
            required=True,
        ),
    ),
    command(
        "scheduler",
        "run due pipelines (foreground; one per registry)",
        f"{PIPELINES}:scheduler",
        arg("--once", action="store_true", help="run what is due now, then exit"),
        arg("--poll", type=float, default=30.0, help="seconds between checks"),
        arg("--pipeline", action="append", default=None, help="only these pipelines (repeatable)"),
        description="Queue and run due pipeline runs: cron schedules (missed slots follow "
        "each pipeline's --catchup policy), new data, monitor alerts. Runs in the foreground "
        "until stopped; --once runs what is due now and exits (for cron).",
        surfaces=COMMAND_LINE,
        creates_registry=True,
    ),
    # -- serving -------------------------------------------------------------------------
    command(
        "serve",
        "serve a registered model over HTTP (MLflow's scoring formats), logged and monitored",
        f"{SERVING}:serve",
        arg(
            "ref",
            help="NAME@ALIAS (followed as the alias moves) or NAME/VERSION; in a notebook, "
            "the word stop stops the server started there",
        ),
        arg("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"),
        arg("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)"),
        arg("--workers", type=int, default=1, help="server processes (default 1)"),
        arg(
            "--token",
            default=None,
            help="required by every request (default $MLNB_SERVE_TOKEN); needed off loopback",
        ),
        arg("--monitor", default=None, help="monitor that scores the served traffic"),
        arg("--window-rows", type=int, default=500, help="rows per monitoring window"),
        arg(
            "--window-minutes",
            type=float,
            default=10.0,
            help="score a shorter window after this long (default 10)",
        ),
        arg("--max-p95-ms", type=float, default=None, help="alert when a window's p95 is above"),
        arg(
            "--max-error-rate",
            type=float,
            default=None,
            help="alert when a window's share of failed requests is above",
        ),
        arg("--max-body-mb", type=float, default=5.0, help="larger bodies get 413 (default 5)"),
        arg(
            "--queue-rows",
            type=int,
            default=200_000,
            help="rows the inference log may hold in memory before it drops (and alerts)",
        ),
        arg("--no-log", action="store_true", help="do not log requests (nothing to monitor)"),
        description="Serve a registered model with /invocations (MLflow's dataframe_split, "
        "dataframe_records, instances, inputs and CSV), /feedback, /ping, /health, /version, "
        "/metrics and /docs. Every answer is logged beside the registry for the monitor; "
        "the server swaps to the new version when the alias moves. In a notebook it runs in "
        "the background on a free port and `stop` stops it.",
        epilog="Binding to an address other than loopback requires --token.",
        magic="serve",
    ),
    command(
        "deployments",
        "model servers: list, status, stop",
        default="list",
    ),
    command(
        "deployments list",
        "running deployments (or every one with --all)",
        f"{SERVING}:list_deployments",
        arg("--model", default=None, help="only deployments of this model"),
        arg("--all", action="store_true", help="stopped and crashed ones too"),
    ),
    command(
        "deployments status",
        "one deployment: counters and monitoring windows",
        f"{SERVING}:status",
        arg("deployment_id", type=int, help="deployment id"),
    ),
    command(
        "deployments stop",
        "stop a running deployment (it flushes its log first)",
        f"{SERVING}:stop",
        arg("deployment_id", type=int, help="deployment id"),
    ),
    # -- sync ----------------------------------------------------------------------------
    command(
        "sync",
        "copy experiments, runs and model versions to an MLflow server",
        f"{SYNC}:sync",
        arg(
            "--to-mlflow",
            required=True,
            metavar="URI",
            help="tracking server, e.g. http://127.0.0.1:5000",
        ),
        arg(
            "--experiment",
            "-e",
            action="append",
            default=None,
            help="only this experiment (repeatable)",
        ),
        description="Copy experiments, runs (params, metric history, tags, data digests) and "
        "registered model versions with their stages and aliases to an MLflow tracking "
        "server; each version's model is uploaded as an MLflow sklearn model, so "
        "mlflow.sklearn.load_model('models:/NAME/N') loads it. Idempotent: a second sync "
        "copies nothing new; runs that changed since are topped up. Needs the MLflow client "
        "(pip install 'mlnb[mlflow]'); credentials come from MLFLOW_TRACKING_TOKEN or "
        "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD.",
    ),
    command(
        "import",
        "bring an MLflow server's runs and registered models into this registry",
        f"{SYNC}:import_runs",
        arg(
            "--from-mlflow",
            required=True,
            metavar="URI",
            help="tracking server, e.g. http://127.0.0.1:5000",
        ),
        arg(
            "--experiment",
            "-e",
            action="append",
            default=None,
            help="only this MLflow experiment (repeatable)",
        ),
        description="Import an MLflow server's experiments and runs (params, metric history, "
        "tags, times, status) and its registered model versions (scikit-learn models, with "
        "their stages and aliases) into the registry. Idempotent: a second import brings only "
        "what is new. Needs the MLflow client (pip install 'mlnb[mlflow]').",
        creates_registry=True,
    ),
]
