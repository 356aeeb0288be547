"""What a cluster's executors need to run the cohort: carepath's code and the Python packages it imports.

PySpark documents three ways to give executors their Python packages: a Conda environment (conda-pack), a
virtual environment (venv-pack) and a PEX. carepath ships a virtual environment, in venv-pack's layout, through
``spark.archives`` (unpacked as ``./environment`` in each executor's working directory), because:

- it is the environment the driver runs, exactly: the same installed wheels, nothing resolved again, no package
  index needed at run time (a PEX is built by resolving requirements from an index or a wheelhouse, and
  carepath's development install is not a wheel);
- only what an executor imports is packed: carepath's runtime dependencies, found from its installed metadata
  (a development venv is 1.1 GB, most of it Spark's own jars, which the cluster has, and browser test tools);
  venv-pack itself packs every file of the venv and refuses one with an editable install or a ``.pth`` file
  that runs code (setuptools' ``distutils-precedence.pth``), which is why the packing is done here, in its
  layout;
- carepath's own code goes apart, as a zip added to the executors' path (``SparkContext.addPyFile``), so that
  a change of code packs a few hundred kB, not the environment.

PySpark's own Python (``pyspark``, ``py4j``) is not packed: the executors put their Spark's
``python/lib/pyspark.zip`` first on their path, and it must be the driver's Spark version anyway.

Both archives are cached under ``VAR_DIR/cohort/ship`` by a digest of their content (each installed file's
hash as its distribution's ``RECORD`` states it; each source file's bytes), so a second run reuses them.

The executors' Python: by default the packed environment's own ``./environment/bin/python``, which, as with
venv-pack, links to the interpreter the venv was made from (the nodes need the same Python at the same path);
``COHORT_EXECUTOR_PYTHON`` names another (``python3.11``: any CPython of the driver's minor version on the
nodes), which then runs with the packed packages on its ``PYTHONPATH``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from app.cache import replace_atomically
from app.errors import CarepathError

#: Unpacked in each executor's working directory under this name (``spark.archives``' ``#name``).
ENVIRONMENT = "environment"
#: Distributions the executors take from their own Spark installation.
FROM_SPARK = frozenset({"pyspark", "py4j"})
#: Bumped when the archive's layout changes, so that older cached archives are not reused.
_LAYOUT = "1"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class ShipError(CarepathError):
    """The environment cannot be packed for the executors; the message says why and what to do."""

    title = "The cohort's environment cannot be shipped to the cluster"


@dataclass(frozen=True)
class Shipment:
    """The two archives and the Python the executors run."""

    environment: Path
    code: Path
    python: str
    #: The packed packages' folder, relative to an executor's working directory.
    site_packages: str

    def spark_config(self) -> dict[str, str]:
        """What the SparkSession is built with (the code zip is added once it runs: :meth:`add_code`)."""
        config = {"spark.archives": f"{self.environment}#{ENVIRONMENT}", "spark.pyspark.python": self.python}
        if not self.python.startswith(f"./{ENVIRONMENT}/"):
            config["spark.executorEnv.PYTHONPATH"] = self.site_packages
        return config

    def add_code(self, context: object) -> None:
        """Put carepath's code on the executors' path (``SparkContext.addPyFile``)."""
        context.addPyFile(str(self.code))  # type: ignore[attr-defined]


def prepare(cache: str | Path, executor_python: str = "") -> Shipment:
    """The archives for this interpreter's environment and carepath's code, packed into ``cache`` unless there
    already; ``executor_python`` as ``COHORT_EXECUTOR_PYTHON`` (empty: the environment's own)."""
    cache = Path(cache)
    prefix = venv_prefix()
    lib = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    environment = _environment_archive(prefix, lib, cache)
    code = _code_archive(cache)
    python = executor_python or f"./{ENVIRONMENT}/bin/python"
    return Shipment(environment, code, python, f"./{ENVIRONMENT}/{lib}")


def venv_prefix() -> Path:
    """The virtual environment this interpreter runs in (``sys.prefix``), or :class:`ShipError`."""
    if sys.prefix == sys.base_prefix or not (Path(sys.prefix) / "pyvenv.cfg").is_file():
        raise ShipError(f"carepath runs in {sys.prefix}, which is not a virtual environment, so there is nothing "
                        "to ship to the executors: install carepath in a venv (python -m venv), or install it on "
                        "every node and run with --no-ship")
    return Path(sys.prefix)


def runtime_distributions(root: str = "carepath") -> list[metadata.Distribution]:
    """``root`` and every installed distribution it requires, recursively, leaving out optional extras and what
    the executors' Spark provides (:data:`FROM_SPARK`)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = _normal(todo.pop())
        if name in found or name in FROM_SPARK:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name == _normal(root):
                raise ShipError(f"{root} is not installed in {sys.prefix}: install it there "
                                "(pip install -e .) so that its dependencies can be found") from None
            continue  # a requirement for another platform or Python: not installed, not needed here
        found[name] = dist
        for requirement in dist.requires or []:
            marker = requirement.partition(";")[2]
            if "extra" in marker:
                continue
            match = _NAME.match(requirement)
            if match:
                todo.append(match.group(1))
    return sorted(found.values(), key=lambda d: _normal(d.metadata["Name"]))


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _environment_archive(prefix: Path, lib: str, cache: Path) -> Path:
    """``environment-<digest>.tar.gz``: the venv's ``pyvenv.cfg`` and ``bin/python*`` links and, under ``lib``,
    the files of :func:`runtime_distributions` (carepath's own code left out: :func:`_code_archive`)."""
    members: list[tuple[str, Path]] = []
    digest = hashlib.sha256(f"layout {_LAYOUT}\n{sys.version}\n".encode())
    for name in ("pyvenv.cfg",):
        members.append((name, prefix / name))
        digest.update((prefix / name).read_bytes())
    for link in sorted((prefix / "bin").glob("python*")):
        members.append((f"bin/{link.name}", link))
        digest.update(f"{link.name} -> {os.readlink(link) if link.is_symlink() else 'file'}\n".encode())
    for dist in runtime_distributions():
        if _normal(dist.metadata["Name"]) == "carepath":
            continue
        record = dist.read_text("RECORD") or ""
        digest.update(f"{dist.metadata['Name']} {dist.version}\n{record}".encode())
        base = Path(str(dist.locate_file("")))
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            relative = os.path.relpath(path, base)
            if relative.startswith("..") or "__pycache__" in relative or not path.is_file():
                continue  # scripts in bin/, compiled caches (written again where they run)
            members.append((f"{lib}/{relative}", path))
    target = cache / f"environment-{digest.hexdigest()[:20]}.tar.gz"
    if not target.is_file():
        replace_atomically(target, lambda out: _tar(members, out))
    return target


def _code_archive(cache: Path) -> Path:
    """``carepath-<digest>.zip``: the ``app`` package this interpreter imports, as it is on disk now."""
    import app

    root = Path(app.__file__).resolve().parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".pyo"))
    # the packs' data tables the context layer reads beside the FHIR resources (the AAP 2017 BP table)
    files += sorted((root.parent / "packs").glob("*/tables/*.json"))
    digest = hashlib.sha256(f"layout {_LAYOUT}\n".encode())
    for path in files:
        digest.update(f"{path.relative_to(root.parent).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    target = cache / f"carepath-{digest.hexdigest()[:20]}.zip"
    if not target.is_file():
        def write(out: io.BufferedWriter) -> None:
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    archive.write(path, path.relative_to(root.parent).as_posix())
        replace_atomically(target, write)
    return target


def _tar(members: list[tuple[str, Path]], out: io.BufferedWriter) -> None:
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as archive:
        for name, path in members:
            archive.add(path, arcname=name, recursive=False)


