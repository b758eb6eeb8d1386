"""Data versions (fingerprints of frames, arrays, files), their links to runs and the
(inode, size, mtime) file-hash cache.

This module owns the SQL of its tables; it returns plain records (dicts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.store.connection import FeatureStore, dumps, loads, now, prefix_pattern
from mlnb.store.records import DataLinkRecord, DataVersionRecord, as_record


class DataStore(FeatureStore):
    """Data versions, their links to runs, and the file-hash cache."""

    def get(self, version_id: str) -> DataVersionRecord:
        """A data version (id or unique prefix) with the runs that used it."""
        d = self.row(version_id)
        d["runs"] = self.runs_using(d["id"])
        return d

    def record(self, version: dict[str, Any]) -> None:
        """Insert a data version once; a later sighting only fills in a missing snapshot."""
        with self.db.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO data_versions(id, kind, name, schema, n_rows, n_cols, "
                "nbytes, source_path, snapshot, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    version["id"],
                    version["kind"],
                    version.get("name", ""),
                    dumps(version.get("schema", {})),
                    version.get("n_rows"),
                    version.get("n_cols"),
                    version.get("nbytes"),
                    version.get("source_path"),
                    version.get("snapshot"),
                    now(),
                ),
            )
            if version.get("snapshot"):
                c.execute(
                    "UPDATE data_versions SET snapshot = ? WHERE id = ? AND snapshot IS NULL",
                    (version["snapshot"], version["id"]),
                )

    def link(self, run_id: int, links: Sequence[tuple[str, str, str]]) -> None:
        """Link ``(data_version_id, role, name)`` triples to a run."""
        if not links:
            return
        with self.db.transaction() as c:
            c.executemany(
                "INSERT OR IGNORE INTO run_data(run_id, data_version_id, role, name) "
                "VALUES (?, ?, ?, ?)",
                [(run_id, d, role, name) for d, role, name in links],
            )

    def row(self, version_id: str) -> DataVersionRecord:
        """A data version by id or unique prefix (NotFoundError if none)."""
        rows = self.db.query(
            "SELECT * FROM data_versions WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 2",
            (version_id, prefix_pattern(version_id)),
        )
        exact = [r for r in rows if r["id"] == version_id]
        if exact:
            rows = exact
        if not rows:
            raise NotFoundError(f"no data version {version_id!r}; list them with `mlnb data`.")
        if len(rows) > 1:
            raise ValidationError(
                f"data version prefix {version_id!r} is ambiguous; give more characters."
            )
        out = dict(rows[0])
        out["schema"] = loads(out["schema"], {})
        return as_record(DataVersionRecord, out)

    def find(self, limit: int | None = None) -> list[DataVersionRecord]:
        """Data versions, newest first, with how many runs used each."""
        lim = f"LIMIT {int(limit)}" if limit else ""
        rows = self.db.query(
            "SELECT d.*, COUNT(DISTINCT rd.run_id) AS n_runs, "
            "GROUP_CONCAT(DISTINCT rd.name) AS names FROM data_versions d "
            "LEFT JOIN run_data rd ON rd.data_version_id = d.id "
            f"GROUP BY d.id ORDER BY d.created_at DESC {lim}"
        )
        out = []
        for r in rows:
            d = dict(r)
            d["schema"] = loads(d["schema"], {})
            out.append(as_record(DataVersionRecord, d))
        return out

    def of_run(self, run_id: int) -> list[DataLinkRecord]:
        """The data versions a run read (input) or wrote (output)."""
        rows = self.db.query(
            "SELECT rd.role, rd.name, d.id, d.kind, d.n_rows, d.n_cols, d.source_path, d.snapshot "
            "FROM run_data rd JOIN data_versions d ON d.id = rd.data_version_id "
            "WHERE rd.run_id = ? ORDER BY rd.role, rd.name",
            (run_id,),
        )
        return [as_record(DataLinkRecord, r) for r in rows]

    def runs_using(self, version_id: str) -> list[dict[str, Any]]:
        """The runs that read or wrote a data version."""
        rows = self.db.query(
            "SELECT rd.run_id, rd.role, rd.name FROM run_data rd WHERE rd.data_version_id = ? "
            "ORDER BY rd.run_id",
            (version_id,),
        )
        return [dict(r) for r in rows]

    def cached_file_hash(self, path: str, inode: int, size: int, mtime_ns: int) -> str | None:
        """A file's digest if its (inode, size, mtime) are unchanged since it was hashed."""
        row = self.db.query_one(
            "SELECT digest FROM file_hashes WHERE path = ? AND inode = ? AND size = ? "
            "AND mtime_ns = ?",
            (path, inode, size, mtime_ns),
        )
        return None if row is None else str(row[0])

    def store_file_hash(self, path: str, inode: int, size: int, mtime_ns: int, digest: str) -> None:
        """Remember a file's digest under its (inode, size, mtime)."""
        with self.db.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO file_hashes(path, inode, size, mtime_ns, digest) "
                "VALUES (?, ?, ?, ?, ?)",
                (path, inode, size, mtime_ns, digest),
            )
