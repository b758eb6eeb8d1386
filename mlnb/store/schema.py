"""The registry schema: its version and the migrations that bring any older registry.db
forward. Never edit a released entry: append a new one."""

from __future__ import annotations

SCHEMA_VERSION = 2


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
    # 1 -> 2: runs may end as 'interrupted' (KeyboardInterrupt, a kernel interrupt or
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
]


def split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
