"""The package as the JupyterLab extension template's conventions and a package index expect
it: one version, a license, findable metadata, true dependency declarations, and make
targets that work where people run them."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import mlnb
import mlnb.server

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_JSON = json.loads((ROOT / "labextension" / "package.json").read_text())
PROJECT = PYPROJECT["project"]
# Import names that differ from their distribution's name.
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "yaml": "pyyaml", "IPython": "ipython"}


def declared(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def test_one_version_from_package_json():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"] == {
        "source": "nodejs", "path": "labextension/package.json"}  # fmt: skip
    assert mlnb.__version__ == importlib.metadata.version("mlnb") == PACKAGE_JSON["version"]
    assert mlnb.server.__version__ == mlnb.__version__  # `jupyter server extension list` shows it
    assert '__version__ = "' not in (ROOT / "mlnb" / "__init__.py").read_text()


def test_license_classifiers_urls_and_keywords():
    assert PROJECT["license"] == {"file": "LICENSE"}
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert PACKAGE_JSON["license"] == "BSD-3-Clause"
    classifiers = set(PROJECT["classifiers"])
    assert "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt" in classifiers
    assert "License :: OSI Approved :: BSD License" in classifiers
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(PROJECT["urls"])
    assert {"jupyterlab-extension", "mlops"} <= set(PROJECT["keywords"])


def test_labextension_paths_for_develop_mode():
    [entry] = mlnb._jupyter_labextension_paths()
    assert entry == {"src": "labextension", "dest": PACKAGE_JSON["name"]}
    assert PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"][
        "mlnb/labextension"] == f"share/jupyter/labextensions/{entry['dest']}"  # fmt: skip


def test_jupyterlab_is_an_extra_in_the_frontends_range_and_not_a_build_requirement():
    assert "jupyterlab" not in declared(PYPROJECT["build-system"]["requires"])
    assert "jupyterlab" not in declared(PROJECT["dependencies"])
    assert "jupyter-server" in declared(PROJECT["dependencies"])
    frontend = PACKAGE_JSON["dependencies"]["@jupyterlab/application"]  # "^4.6.0"
    major, minor = re.match(r"\^(\d+)\.(\d+)", frontend).groups()
    assert PROJECT["optional-dependencies"]["lab"] == [
        f"jupyterlab>={major}.{minor},<{int(major) + 1}"
    ]


def test_no_floor_is_a_yanked_release_or_too_old_for_the_code():
    floors = {re.split(r"[<>=]", r)[0]: r for r in PROJECT["dependencies"]}
    assert floors["scipy"] == "scipy>=1.11.1"  # 1.11.0 was yanked
    assert floors["xxhash"] == "xxhash>=3.4.1"  # 3.4.0 was yanked
    assert floors["scikit-learn"] == "scikit-learn>=1.4"  # scorers say their response from 1.4


def module_top_imports(under: str = "mlnb", skip: tuple[str, ...] = ("serving",)) -> set[str]:
    """Third-party top-level packages imported at module level in mlnb (``skip``: packages
    that belong to an optional extra, checked against it separately)."""
    found: set[str] = set()
    for path in (ROOT / under).rglob("*.py"):
        if "labextension" in path.parts or any(p in path.parts for p in skip):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {
        m for m in found if m not in sys.stdlib_module_names and m not in ("mlnb", "__future__")
    }


def test_every_module_level_import_is_a_declared_dependency():
    """tqdm came in through papermill without being declared; sqlite-utils was declared for
    one method. Whatever mlnb imports at module level, it declares."""
    runtime = declared(PROJECT["dependencies"])
    for module in sorted(module_top_imports()):
        dist = DISTRIBUTION_OF.get(module, module).lower().replace("_", "-")
        assert dist in runtime, f"mlnb imports {module} but does not declare {dist}"
    assert "tqdm" in runtime and "sqlite-utils" not in runtime


def test_the_serving_package_imports_only_the_core_and_its_extra():
    """`mlnb serve` needs the `serve` extra; nothing else in mlnb imports mlnb.serving's libraries."""
    allowed = declared(PROJECT["dependencies"]) | declared(
        PROJECT["optional-dependencies"]["serve"]
    )
    for module in sorted(module_top_imports("mlnb/serving", skip=())):
        dist = DISTRIBUTION_OF.get(module, module).lower().replace("_", "-")
        assert dist in allowed, (
            f"mlnb.serving imports {module} but neither core nor serve declare it"
        )


def test_make_lab_runs_as_root_without_a_browser_and_without_deprecated_options():
    out = subprocess.run(
        ["make", "-n", "-o", "install", "lab"], capture_output=True, text=True, cwd=ROOT,
        check=True,
    ).stdout  # fmt: skip
    assert "--no-browser" in out and "--ServerApp.root_dir=demo_notebooks" in out
    assert "--notebook-dir" not in out
    assert ("--allow-root" in out) == (os.getuid() == 0)


def test_ci_runs_the_wheel_check_and_the_lowest_versions():
    dry = subprocess.run(
        ["make", "-n", "-o", "install", "-o", "test-deps", "-o", "lint", "test", "test-lowest"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert "scripts/check_wheel.sh" in dry and "scripts/test_lowest.sh" in dry
    assert "make test-lowest" in (ROOT / ".ci" / "run").read_text()
    script = (ROOT / "scripts" / "test_lowest.sh").read_text()
    assert "--resolution lowest-direct" in script


def test_readme_works_on_a_package_index_page():
    readme = (ROOT / "README.md").read_text()
    assert "pip install mlnb" in readme and "make demo" in readme and "make test" in readme
    assert "### Tested versions" in readme
    for row in ("Python", "JupyterLab", "scikit-learn", "pandas"):
        assert re.search(rf"^\| {row} \|", readme, re.M), row
    relative = re.findall(r"\]\((?!https?://|#)([^)]+)\)", readme)
    assert relative == []  # relative links and images break on a package index page
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert "## Where code goes" in (ROOT / "CONTRIBUTING.md").read_text()
