"""The registry schema: its version and the migrations that bring any older registry.db
forward. Never edit a released entry: append a new one."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 6


def _change_triggers(feature: str, table: str, update_of: str = "") -> str:
    """Triggers that bump ``changes.n`` of ``feature`` on any insert, update or delete of
    ``table`` (``update_of``: only updates of these columns, so heartbeats do not count)."""
    bump = f"UPDATE changes SET n = n + 1 WHERE feature = '{feature}'"
    update = f"UPDATE OF {update_of}" if update_of else "UPDATE"
    return "\n".join(
        f"CREATE TRIGGER changes_{table}_{event.split()[0].lower()} AFTER {event} ON {table} "
        f"BEGIN {bump}; END;"
        for event in ("INSERT", update, "DELETE")
    )


# The tables each sidebar-visible feature watches (frozen with migration 1 -> 2: a later
# migration that adds a table adds its own triggers). Params, metrics and tags, written most
# often, have no trigger: the token reads their largest rowid instead (an O(log n) read).
_RUN_COLUMNS = (
    "uuid, experiment_id, name, status, source, started_at, ended_at, pid, host, user, "
    "notebook_path, cell_source, execution_count, git_commit, git_dirty, python_version, "
    "packages, error, pipeline_run_id"
)
_PIPELINE_RUN_COLUMNS = (
    "pipeline_id, trigger, reason, due_key, status, attempt, started_at, ended_at, pid, host, "
    "output_path, log, error, failing_cell, details"
)
_WATCHED = [
    ("runs", "runs", _RUN_COLUMNS),
    ("runs", "experiments", ""),
    ("runs", "run_data", ""),
    ("data", "data_versions", ""),
    ("models", "model_artifacts", ""),
    ("models", "registered_models", ""),
    ("models", "model_versions", ""),
    ("models", "model_aliases", ""),
    ("models", "gate_results", ""),
    ("models", "stage_transitions", ""),
    ("monitors", "monitors", ""),
    ("monitors", "monitor_batches", ""),
    ("alerts", "alerts", ""),
    ("pipelines", "pipelines", ""),
    ("pipelines", "pipeline_runs", _PIPELINE_RUN_COLUMNS),
]


MIGRATIONS: list[str] = [
    # 0 -> 1: the whole first schema.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        name TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('running','finished','failed','crashed')),
        source TEXT NOT NULL DEFAULT 'script',
        started_at REAL NOT NULL,
        ended_at REAL,
        heartbeat_at REAL NOT NULL,
        pid INTEGER,
        host TEXT,
        user TEXT,
        notebook_path TEXT,
        cell_source TEXT,
        execution_count INTEGER,
        git_commit TEXT,
        git_dirty INTEGER,
        python_version TEXT,
        packages TEXT,
        error TEXT,
        pipeline_run_id INTEGER
    );
    CREATE INDEX runs_experiment ON runs(experiment_id, started_at);
    CREATE INDEX runs_status ON runs(status);

    CREATE TABLE params (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );

    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER NOT NULL DEFAULT 0,
        timestamp REAL NOT NULL
    );
    CREATE INDEX metrics_run_key ON metrics(run_id, key, step);

    CREATE TABLE tags (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    );

    CREATE TABLE data_versions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        schema TEXT NOT NULL DEFAULT '{}',
        n_rows INTEGER,
        n_cols INTEGER,
        nbytes INTEGER,
        source_path TEXT,
        snapshot TEXT,
        created_at REAL NOT NULL
    );

    CREATE TABLE run_data (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        data_version_id TEXT NOT NULL REFERENCES data_versions(id),
        role TEXT NOT NULL CHECK (role IN ('input','output')),
        name TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, data_version_id, role, name)
    );
    CREATE INDEX run_data_version ON run_data(data_version_id);

    CREATE TABLE model_artifacts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        name TEXT NOT NULL,
        object_hash TEXT NOT NULL,
        format TEXT NOT NULL,
        flavor TEXT NOT NULL,
        class_name TEXT NOT NULL,
        signature TEXT NOT NULL DEFAULT '{}',
        trusted_types TEXT NOT NULL DEFAULT '[]',
        size INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX model_artifacts_run ON model_artifacts(run_id);

    CREATE TABLE registered_models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );

    CREATE TABLE model_versions (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES registered_models(id),
        version INTEGER NOT NULL,
        artifact_id INTEGER NOT NULL REFERENCES model_artifacts(id),
        run_id INTEGER REFERENCES runs(id),
        stage TEXT NOT NULL DEFAULT 'none'
            CHECK (stage IN ('none','staging','production','archived')),
        description TEXT NOT NULL DEFAULT '',
        created_by TEXT,
        created_at REAL NOT NULL,
        UNIQUE (model_id, version)
    );
    CREATE UNIQUE INDEX one_production_version ON model_versions(model_id)
        WHERE stage = 'production';

    CREATE TABLE model_aliases (
        model_id INTEGER NOT NULL REFERENCES registered_models(id),
        alias TEXT NOT NULL,
        version_id INTEGER NOT NULL REFERENCES model_versions(id),
        updated_at REAL NOT NULL,
        PRIMARY KEY (model_id, alias)
    );

    CREATE TABLE gate_results (
        id INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES model_versions(id),
        gate TEXT NOT NULL,
        passed INTEGER NOT NULL,
        checks TEXT NOT NULL,
        baseline_version_id INTEGER REFERENCES model_versions(id),
        holdout_data_version TEXT,
        created_at REAL NOT NULL
    );

    CREATE TABLE stage_transitions (
        id INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES model_versions(id),
        from_stage TEXT NOT NULL,
        to_stage TEXT NOT NULL,
        user TEXT,
        reason TEXT NOT NULL DEFAULT '',
        gate_result_id INTEGER REFERENCES gate_results(id),
        created_at REAL NOT NULL
    );
    CREATE INDEX stage_transitions_version ON stage_transitions(version_id);

    CREATE TABLE monitors (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        model_name TEXT,
        target TEXT,
        profile TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE monitor_batches (
        id INTEGER PRIMARY KEY,
        monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        batch_at REAL NOT NULL,
        n_rows INTEGER NOT NULL,
        n_drifted INTEGER NOT NULL,
        n_columns INTEGER NOT NULL,
        dataset_drift INTEGER NOT NULL,
        report TEXT NOT NULL,
        metrics TEXT NOT NULL DEFAULT '{}',
        predictions TEXT,
        data_version_id TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX monitor_batches_monitor ON monitor_batches(monitor_id, batch_at);

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        monitor_id INTEGER REFERENCES monitors(id) ON DELETE SET NULL,
        pipeline_id INTEGER,
        batch_id INTEGER,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL DEFAULT 'warning',
        message TEXT NOT NULL,
        evidence TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open','acknowledged','resolved')),
        handled_by TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX alerts_status ON alerts(status, created_at);

    CREATE TABLE pipelines (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        notebook_path TEXT NOT NULL,
        config TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','paused')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE pipeline_runs (
        id INTEGER PRIMARY KEY,
        pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        due_key TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('queued','running','finished','failed','crashed','skipped')),
        attempt INTEGER NOT NULL DEFAULT 1,
        started_at REAL,
        ended_at REAL,
        heartbeat_at REAL,
        pid INTEGER,
        host TEXT,
        output_path TEXT,
        log TEXT NOT NULL DEFAULT '',
        error TEXT,
        failing_cell INTEGER,
        details TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        UNIQUE (pipeline_id, due_key)
    );
    CREATE INDEX pipeline_runs_pipeline ON pipeline_runs(pipeline_id, created_at);

    CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY,
        inode INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        digest TEXT NOT NULL
    );
    """,
    # 1 -> 2: sorted run listings and the change token without table scans.
    """
    CREATE TABLE latest_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    INSERT INTO latest_metrics(run_id, key, value, step)
        SELECT run_id, key, value, step FROM (
            SELECT run_id, key, value, step, ROW_NUMBER() OVER (
                PARTITION BY run_id, key ORDER BY step DESC, id DESC) AS newest
            FROM metrics)
        WHERE newest = 1;
    CREATE INDEX latest_metrics_sort ON latest_metrics(key, value, run_id);
    CREATE TRIGGER metrics_latest AFTER INSERT ON metrics BEGIN
        INSERT INTO latest_metrics(run_id, key, value, step)
            VALUES (NEW.run_id, NEW.key, NEW.value, NEW.step)
            ON CONFLICT(run_id, key) DO UPDATE
            SET value = excluded.value, step = excluded.step
            WHERE excluded.step >= latest_metrics.step;
    END;
    CREATE INDEX params_sort ON params(key, CAST(value AS REAL), run_id)
        WHERE value GLOB '[0-9]*' OR value GLOB '-[0-9]*';
    ALTER TABLE experiments ADD COLUMN n_runs INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE experiments ADD COLUMN last_run_at REAL;
    UPDATE experiments SET
        n_runs = (SELECT COUNT(*) FROM runs WHERE experiment_id = experiments.id),
        last_run_at = (SELECT MAX(started_at) FROM runs WHERE experiment_id = experiments.id);
    CREATE TRIGGER experiments_count_insert AFTER INSERT ON runs BEGIN
        UPDATE experiments SET n_runs = n_runs + 1,
            last_run_at = MAX(COALESCE(last_run_at, NEW.started_at), NEW.started_at)
        WHERE id = NEW.experiment_id;
    END;
    CREATE TRIGGER experiments_count_delete AFTER DELETE ON runs BEGIN
        UPDATE experiments SET n_runs = n_runs - 1,
            last_run_at = (SELECT MAX(started_at) FROM runs WHERE experiment_id = OLD.experiment_id)
        WHERE id = OLD.experiment_id;
    END;
    CREATE TRIGGER experiments_count_update AFTER UPDATE OF experiment_id, started_at ON runs
    BEGIN
        UPDATE experiments SET
            n_runs = n_runs - (OLD.experiment_id IS NOT NEW.experiment_id),
            last_run_at = (SELECT MAX(started_at) FROM runs WHERE experiment_id = OLD.experiment_id)
        WHERE id = OLD.experiment_id;
        UPDATE experiments SET
            n_runs = n_runs + (OLD.experiment_id IS NOT NEW.experiment_id),
            last_run_at = (SELECT MAX(started_at) FROM runs WHERE experiment_id = NEW.experiment_id)
        WHERE id = NEW.experiment_id;
    END;

    CREATE INDEX runs_started ON runs(started_at);

    CREATE TABLE changes (feature TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    INSERT INTO changes(feature) VALUES
        ('runs'), ('data'), ('models'), ('monitors'), ('alerts'), ('pipelines');
    """
    + "\n".join(_change_triggers(*watched) for watched in _WATCHED),
    # 2 -> 3: incidents (a breach that lasts several batches stays one alert row, extended in
    # place) and per-batch label coverage, label drift and label-free performance estimates.
    """
    ALTER TABLE alerts ADD COLUMN metric TEXT;
    ALTER TABLE alerts ADD COLUMN first_batch_id INTEGER;
    ALTER TABLE alerts ADD COLUMN last_batch_id INTEGER;
    ALTER TABLE alerts ADD COLUMN worst_value REAL;
    ALTER TABLE alerts ADD COLUMN breach_count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE alerts ADD COLUMN resolved_at REAL;
    CREATE INDEX alerts_incident ON alerts(monitor_id, metric, status);
    ALTER TABLE monitor_batches ADD COLUMN labels TEXT;
    ALTER TABLE monitor_batches ADD COLUMN estimates TEXT;
    """,
    # 3 -> 4: deployments (`mlnb serve`), their inference log and their monitoring windows.
    """
    CREATE TABLE deployments (
        id INTEGER PRIMARY KEY,
        model_name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER,
        url TEXT NOT NULL,
        bind_host TEXT NOT NULL,
        port INTEGER NOT NULL,
        pid INTEGER,
        host TEXT,
        status TEXT NOT NULL DEFAULT 'starting'
            CHECK (status IN ('starting','running','stopped','crashed')),
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        stopped_at REAL,
        requests INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        rows_logged INTEGER NOT NULL DEFAULT 0,
        rows_dropped INTEGER NOT NULL DEFAULT 0,
        req_per_min REAL NOT NULL DEFAULT 0,
        p95_ms REAL,
        config TEXT NOT NULL DEFAULT '{}',
        error TEXT
    );
    CREATE INDEX deployments_model ON deployments(model_name, status);

    CREATE TABLE inference_log (
        id INTEGER PRIMARY KEY,
        deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        request_id TEXT NOT NULL,
        row_index INTEGER NOT NULL DEFAULT 0,
        logged_at REAL NOT NULL,
        version INTEGER,
        features TEXT,
        prediction TEXT,
        probability REAL,
        latency_ms REAL NOT NULL,
        ok INTEGER NOT NULL DEFAULT 1,
        error TEXT,
        label TEXT,
        labelled_at REAL,
        window_id INTEGER
    );
    CREATE INDEX inference_log_deployment ON inference_log(deployment_id, id);
    CREATE INDEX inference_log_request ON inference_log(request_id, row_index);

    CREATE TABLE deployment_windows (
        id INTEGER PRIMARY KEY,
        deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        first_log_id INTEGER NOT NULL,
        last_log_id INTEGER NOT NULL,
        n_rows INTEGER NOT NULL,
        n_requests INTEGER NOT NULL,
        n_errors INTEGER NOT NULL,
        p95_ms REAL,
        batch_id INTEGER,
        realized INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX deployment_windows_deployment ON deployment_windows(deployment_id, id);
    """
    # The sidebar's Models card shows what is served: starting, stopping or swapping a
    # deployment moves the token; its heartbeat and request counters do not.
    + _change_triggers("models", "deployments", "model_name, alias, version, url, status, error"),
    # 4 -> 5: runs may end as 'interrupted' (KeyboardInterrupt, a kernel interrupt or
    # restart). SQLite cannot alter a CHECK constraint, and rebuilding `runs` would cascade
    # through its child tables, so the constraint text is rewritten in place, the documented
    # way for a change that only widens a constraint; RESET reloads the schema and the index
    # is rebuilt so that every open connection sees a new schema cookie.
    """
    PRAGMA writable_schema = ON;
    UPDATE sqlite_master
       SET sql = replace(sql, '''crashed'')', '''crashed'',''interrupted'')')
     WHERE type = 'table' AND name = 'runs' AND sql NOT LIKE '%interrupted%';
    PRAGMA writable_schema = RESET;
    DROP INDEX IF EXISTS runs_status;
    CREATE INDEX runs_status ON runs(status)
    """,
    # 5 -> 6: the inference log keeps one columnar record per request (features as
    # {"column": [values]}, predictions, probabilities and labels as arrays), written with
    # one encode and one INSERT instead of one per row. Rows logged before keep their ids
    # (so recorded windows still name them) as one-row records in the 'row' layout: their
    # features stay the JSON object they were written as and are read back as columns.
    """
    CREATE TABLE inference_requests (
        id INTEGER PRIMARY KEY,
        deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        request_id TEXT NOT NULL,
        row_offset INTEGER NOT NULL DEFAULT 0,
        n_rows INTEGER NOT NULL,
        logged_at REAL NOT NULL,
        version INTEGER,
        layout TEXT NOT NULL DEFAULT 'columns' CHECK (layout IN ('columns','row')),
        features TEXT,
        predictions TEXT,
        probabilities TEXT,
        latency_ms REAL NOT NULL,
        ok INTEGER NOT NULL DEFAULT 1,
        error TEXT,
        labels TEXT,
        n_labelled INTEGER NOT NULL DEFAULT 0,
        labelled_at REAL,
        window_id INTEGER
    );
    INSERT INTO inference_requests(id, deployment_id, request_id, row_offset, n_rows, logged_at,
        version, layout, features, predictions, probabilities, latency_ms, ok, error, labels,
        n_labelled, labelled_at, window_id)
    SELECT id, deployment_id, request_id, row_index, CASE WHEN ok THEN 1 ELSE 0 END, logged_at,
        version, 'row', features,
        CASE WHEN prediction IS NULL THEN NULL ELSE '[' || prediction || ']' END,
        CASE WHEN probability IS NULL THEN NULL ELSE json_array(probability) END,
        latency_ms, ok, error,
        CASE WHEN labelled_at IS NULL THEN NULL ELSE '[' || label || ']' END,
        CASE WHEN labelled_at IS NULL THEN 0 ELSE 1 END, labelled_at, window_id
    FROM inference_log;
    DROP TABLE inference_log;
    CREATE INDEX inference_requests_deployment ON inference_requests(deployment_id, id);
    CREATE INDEX inference_requests_request ON inference_requests(request_id)
    """,
]


def split_sql(script: str) -> list[str]:
    """The statements of a migration script; a trigger's body (``BEGIN ...; END``) stays whole."""
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip().rstrip(";").strip())
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip().rstrip(";").strip())
    return statements
