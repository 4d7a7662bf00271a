"""Importing a module changes no process state; settings a library reads when it is loaded are
made where that library is first used (each check in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.argos_fixture"]

REPO = Path(__file__).resolve().parent.parent
SET_BY_US = ("OMP_WAIT_POLICY", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")

IMPORT_ALL = """
import importlib, json, os, pkgutil, sys
import aggregator

before = dict(os.environ)
imported, missing = [], []
for module in pkgutil.walk_packages(aggregator.__path__, "aggregator."):
    try:
        importlib.import_module(module.name)
    except ModuleNotFoundError as exc:
        # an optional extra that is not installed (its own tests cover it)
        if (exc.name or "").split(".")[0] == "aggregator":
            raise
        missing.append(module.name)
        continue
    imported.append(module.name)
after = dict(os.environ)
changed = {k: [before.get(k), after.get(k)] for k in before.keys() | after.keys()
           if before.get(k) != after.get(k)}
print(json.dumps({"imported": imported, "missing": missing, "changed": changed}))
"""

TRANSLATE = """
import os, sys
from pathlib import Path
from aggregator.config import TranslationSettings
from aggregator.translate import models
from aggregator.translate.argos import ArgosBackend

assert "OMP_WAIT_POLICY" not in os.environ or os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
directory = Path(sys.argv[1])
models.install_file(directory, Path(sys.argv[2]))
backend = ArgosBackend(TranslationSettings(), directory)
assert backend.translate(["Ein Erdbeben erschüttert den Süden."], "de")[0].strip()
print(os.environ.get("OMP_WAIT_POLICY"))
"""


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SET_BY_US}
    return {**env, **extra}


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_importing_every_module_leaves_the_environment_unchanged():
    result = json.loads(_python(IMPORT_ALL, env=_clean_environment()))
    assert len(result["imported"]) > 40, result  # every module was walked, not a few
    assert "aggregator.translate" in result["imported"]
    assert "aggregator.embed.models" in result["imported"]
    assert result["changed"] == {}


@pytest.mark.parametrize(("chosen", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_translation_sets_passive_openmp_waiting_when_it_starts(
    tmp_path, argosmodel, chosen, expected
):
    """CTranslate2's OpenMP reads OMP_WAIT_POLICY when ctranslate2 is loaded: the Argos backend
    sets it to PASSIVE then (a value the user chose wins)."""
    env = _clean_environment(**({"OMP_WAIT_POLICY": chosen} if chosen else {}))
    out = _python(TRANSLATE, str(tmp_path / "models"), str(argosmodel), env=env)
    assert out == expected
