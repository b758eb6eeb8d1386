"""Worker for the concurrent-promotion test (a small module so spawned processes start fast)."""

from __future__ import annotations


def race_promote(home: str, version: int, gate, barrier, queue) -> None:
    import mlnb
    from mlnb.store.registry import Registry

    reg = Registry(home)
    barrier.wait()
    try:
        result = mlnb.promote("churn", version, gate=gate, reason=f"racer {version}", registry=reg)
        queue.put(
            (version, "promoted" if result.promoted else "gate failed", result.previous_production)
        )
    except Exception as exc:  # reported to the parent, which asserts on it
        queue.put((version, type(exc).__name__, str(exc)))
    finally:
        reg.close()
