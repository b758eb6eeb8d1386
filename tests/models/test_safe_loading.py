"""Loading registered models safely: the stored hash is checked first, skops types come from
the registry or the caller (never from the file), and pickle needs an explicit opt-in."""

from __future__ import annotations

import os
import pickle

import pytest
import skops.io as sio
from conftest import FEATURES

import mlnb
from mlnb.errors import IntegrityError, UnsafeModelError

MARKER_ENV = "MLNB_TEST_MARKER"


class Payload:
    """A type whose loading runs code: it writes a marker file when its state is set."""

    def __init__(self) -> None:
        self.armed = True

    def __setstate__(self, state):
        with open(os.environ[MARKER_ENV], "w") as f:
            f.write("code ran")
        self.__dict__.update(state)


class Reducer:
    """Unpickling this calls os.system via __reduce__, the classic pickle exploit."""

    def __reduce__(self):
        return (os.system, (f"echo pwned > {os.environ[MARKER_ENV]}",))


@pytest.fixture
def marker(tmp_path, monkeypatch):
    path = tmp_path / "marker.txt"
    monkeypatch.setenv(MARKER_ENV, str(path))
    return path


def register_raw(registry, data: bytes, fmt: str, name: str = "evil") -> mlnb.ModelVersion:
    """Store bytes with their correct hash and register them, as an attacker with write access
    to objects/ (or a shared registry) could."""
    digest = registry.objects.put_bytes(data)
    artifact_id = registry.models.add_artifact(
        {
            "name": name,
            "object_hash": digest,
            "format": fmt,
            "flavor": "python",
            "class_name": "x.Model",
            "signature": {},
            "trusted_types": [],
            "size": len(data),
        }
    )
    return mlnb.register_model(artifact_id, name)


def test_a_modified_artifact_is_refused(registry, train_frame, good_model):
    v = mlnb.register_model(good_model, "churn", X=train_frame[FEATURES])
    path = registry.objects.path_for(v.object_hash)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        mlnb.load_model("churn/1")
    gate = mlnb.Gate("g", [mlnb.checks.MinMetric("accuracy", 0.1)], target="churned")
    with pytest.raises(IntegrityError):
        mlnb.promote("churn", 1, gate=gate, holdout=train_frame)
    assert registry.models.production_version("churn") is None


def test_a_skops_file_with_an_untrusted_class_runs_no_code(registry, marker):
    data = sio.dumps({"model": Payload()})
    v = register_raw(registry, data, "skops")
    with pytest.raises(UnsafeModelError, match="not trusted.*Payload"):
        mlnb.load_model("evil@latest")
    with pytest.raises(UnsafeModelError):
        v.load()
    assert not marker.exists()
    # proof that the payload is live: trusting its type explicitly does run it
    untrusted = sio.get_untrusted_types(data=data)
    mlnb.load_model("evil/1", trusted=untrusted)
    assert marker.read_text() == "code ran"


def test_a_skops_file_naming_os_system_is_refused(registry, marker):
    data = sio.dumps({"run": os.system, "also": eval})
    register_raw(registry, data, "skops", name="evil2")
    with pytest.raises(UnsafeModelError) as err:
        mlnb.load_model("evil2/1")
    message = str(err.value)
    assert "system" in message and "eval" in message
    assert not marker.exists()


def test_a_pickle_payload_needs_the_explicit_opt_in(registry, marker):
    register_raw(registry, pickle.dumps(Reducer()), "pickle", name="pickled")
    with pytest.raises(UnsafeModelError, match="pickle runs arbitrary code"):
        mlnb.load_model("pickled/1")
    assert not marker.exists()
    mlnb.load_model("pickled/1", allow_pickle=True)
    assert marker.exists()


def test_trusted_types_come_from_the_registry_not_the_file(registry, train_frame, forest_model):
    v = mlnb.register_model(forest_model, "churn", X=train_frame[FEATURES])
    artifact = registry.models.artifact(v.artifact_id)
    assert artifact["format"] == "skops"
    loaded = mlnb.load_model("churn/1")
    assert (
        loaded.predict(train_frame[FEATURES]) == forest_model.predict(train_frame[FEATURES])
    ).all()


def test_a_large_modified_artifact_is_refused_before_anything_in_it_is_built(registry, marker):
    """Objects of several MB are hashed beside skops' parse: the hash must still be checked
    before any object in the file is built, even one whose type the registry trusts."""
    import numpy as np

    original = sio.dumps({"model": Payload(), "weights": np.zeros(1_000_000)})
    digest = registry.objects.put_bytes(original)
    artifact_id = registry.models.add_artifact(
        {
            "name": "big",
            "object_hash": digest,
            "format": "skops",
            "flavor": "python",
            "class_name": "x.Model",
            "signature": {},
            "trusted_types": sio.get_untrusted_types(data=original),
            "size": len(original),
        }
    )
    mlnb.register_model(artifact_id, "big")
    swapped = sio.dumps({"model": Payload(), "weights": np.ones(1_000_000)})
    assert len(swapped) >= registry.objects.BACKGROUND_HASH_BYTES
    registry.objects.path_for(digest).write_bytes(swapped)
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        mlnb.load_model("big/1")
    assert not marker.exists()
