"""Argos model management: install from a loopback package index and from a file, upgrade,
remove, and clear one-line errors for bad input (aggregator/translate/models.py)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aggregator.config import TranslationSettings
from aggregator.errors import UserError
from aggregator.translate import models
from tests.argos_model import index_entry, package_argosmodel
from tests.loopback import Response

pytest_plugins = ["tests.argos_fixture"]
pytestmark = pytest.mark.usefixtures("no_network")


def serve_index(server, packages: dict[str, Path]) -> str:
    """Serve an Argos-format index.json listing `packages` (language → file) on loopback."""
    entries = []
    for language, path in packages.items():
        version = json.loads(_metadata(path))["package_version"]
        link = server.route(f"/models/{path.name}", body=path.read_bytes())
        entries.append(index_entry(language, version, link))
    return server.route("/index.json", body=json.dumps(entries))


def _metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as bundle:
        (name,) = [n for n in bundle.namelist() if n.endswith("/metadata.json")]
        return bundle.read(name)


class Bar:
    """Records what a download progress bar is told."""

    def __init__(self, language, entry):
        self.language, self.updates, self.closed = language, [], False

    def update(self, done, total):
        self.updates.append((done, total))

    def close(self):
        self.closed = True


def test_install_from_loopback_index_with_progress(server, tmp_path, argosmodel):
    index_url = serve_index(server, {"de": argosmodel})
    settings = TranslationSettings(models_dir=str(tmp_path / "models"), index_url=index_url)
    bars = []

    def progress(language, entry):
        bars.append(Bar(language, entry))
        return bars[-1]

    (model,) = models.install(settings, ["de"], [], progress=progress)
    assert (model.from_code, model.to_code, model.version) == ("de", "en", "1.0")
    assert model.model_id == "argos:de-en 1.0"
    assert models.installed(tmp_path / "models") == [model]
    assert (model.path / "model" / "model.bin").is_file()
    size = argosmodel.stat().st_size
    assert bars[0].updates[-1] == (size, size) and bars[0].closed
    assert len(server.hits(f"/models/{argosmodel.name}")) == 1
    assert not list((tmp_path / "models").glob(".download-*")), "download left behind"


def test_install_picks_the_newest_version_and_replaces_the_old(server, tmp_path, ct2_model):
    old = package_argosmodel(ct2_model, tmp_path / "v1", version="1.0")
    new = package_argosmodel(ct2_model, tmp_path / "v2", version="1.10")
    directory = tmp_path / "models"
    models.install_file(directory, old)
    entries = [
        index_entry("de", "1.9", server.route("/old.argosmodel", body=old.read_bytes())),
        index_entry("de", "1.10", server.route("/new.argosmodel", body=new.read_bytes())),
    ]
    index_url = server.route("/index.json", body=json.dumps(entries))
    models.install_from_index(directory, index_url, ["de"])
    assert [m.version for m in models.installed(directory)] == ["1.10"]
    assert not server.hits("/old.argosmodel")
    assert [p.name for p in directory.iterdir() if not p.name.startswith(".")] == [
        "translate-de_en"
    ]


def test_relative_links_resolve_against_the_index(server, tmp_path, argosmodel):
    server.route("/mirror/de.argosmodel", body=argosmodel.read_bytes())
    entries = [index_entry("de", "1.0", "de.argosmodel")]
    index_url = server.route("/mirror/index.json", body=json.dumps(entries))
    (model,) = models.install_from_index(tmp_path / "m", index_url, ["de"])
    assert model.from_code == "de"


def test_a_second_mirror_is_tried_when_the_first_fails(server, tmp_path, argosmodel):
    entry = index_entry("de", "1.0", server.url("/gone.argosmodel"))
    entry["links"].append(server.route("/ok.argosmodel", body=argosmodel.read_bytes()))
    index_url = server.route("/index.json", body=json.dumps([entry]))
    models.install_from_index(tmp_path / "m", index_url, ["de"])
    assert len(server.hits("/gone.argosmodel")) == 1


def test_install_from_file(tmp_path, argosmodel):
    settings = TranslationSettings(models_dir=str(tmp_path / "models"))
    (model,) = models.install(settings, [], [argosmodel])
    assert model.from_code == "de"
    assert models.find(tmp_path / "models", "de") == model


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("not-zip", r"not an Argos model \(an .argosmodel file is a zip archive\)"),
        ("no-metadata", "no readable metadata.json"),
        ("wrong-direction", "translates en→de; the aggregator needs models into English"),
        ("no-model", "no CTranslate2 model/model.bin"),
        ("two-roots", "expected one top-level folder"),
        ("escape", "expected one top-level folder"),
        ("bad-tokenizer", "argostranslate cannot load it"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_installed(tmp_path, argosmodel, problem, message):
    path = _broken(tmp_path, argosmodel, problem)
    directory = tmp_path / "models"
    with pytest.raises(UserError, match=message):
        models.install_file(directory, path)
    assert models.installed(directory) == []
    leftovers = list(directory.glob(".installing-*")) if directory.exists() else []
    assert leftovers == []


def _broken(tmp_path: Path, good: Path, problem: str) -> Path:
    path = tmp_path / f"{problem}.argosmodel"
    if problem == "not-zip":
        path.write_text("hello")
        return path
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            name = info.filename
            if problem == "no-metadata" and name.endswith("metadata.json"):
                continue
            if problem == "wrong-direction" and name.endswith("metadata.json"):
                meta = json.loads(data) | {"from_code": "en", "to_code": "de"}
                data = json.dumps(meta).encode()
            if problem == "no-model" and name.endswith("model.bin"):
                continue
            if problem == "bad-tokenizer" and name.endswith("sentencepiece.model"):
                data = b"garbage"
            out.writestr(name, data)
        if problem == "two-roots":
            out.writestr("other/file.txt", "x")
        if problem == "escape":
            out.writestr("../evil.txt", "x")
    return path


def test_a_failed_upgrade_keeps_the_installed_model(tmp_path, argosmodel):
    directory = tmp_path / "models"
    models.install_file(directory, argosmodel)
    with pytest.raises(UserError):
        models.install_file(directory, _broken(tmp_path, argosmodel, "bad-tokenizer"))
    assert [m.version for m in models.installed(directory)] == ["1.0"]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Response(b"nope", 404), "cannot fetch package index .*: HTTP 404 .*--file"),
        (Response(b"{not json"), "not an Argos package index \\(invalid JSON\\)"),
        (Response(b'{"a": 1}'), "expected a list of packages"),
    ],
)
def test_index_errors_are_one_line(server, tmp_path, route, message):
    server.routes["/index.json"] = route
    with pytest.raises(UserError, match=message):
        models.install_from_index(tmp_path / "m", server.url("/index.json"), ["de"])


def test_a_language_missing_from_the_index_names_what_is_there(server, tmp_path, argosmodel):
    index_url = serve_index(server, {"de": argosmodel})
    with pytest.raises(UserError, match="no ja→en model in the package index .* \\(it has: de\\)"):
        models.install_from_index(tmp_path / "m", index_url, ["de", "ja"])
    assert models.installed(tmp_path / "m") == [], "nothing is installed when one language fails"


def test_a_failed_download_installs_nothing(server, tmp_path):
    entries = [index_entry("de", "1.0", server.url("/missing.argosmodel"))]
    index_url = server.route("/index.json", body=json.dumps(entries))
    with pytest.raises(UserError, match="cannot download model .*HTTP 404"):
        models.install_from_index(tmp_path / "m", index_url, ["de"])
    assert not [p for p in (tmp_path / "m").iterdir()]


@pytest.mark.parametrize(
    ("languages", "message"),
    [(["xx"], "'xx' is not an ISO 639-1 language code"), (["en"], "English needs no model")],
)
def test_bad_language_codes(tmp_path, languages, message):
    with pytest.raises(UserError, match=message):
        models.install(TranslationSettings(models_dir=str(tmp_path)), languages, [])


def test_file_and_language_must_agree(tmp_path, argosmodel):
    settings = TranslationSettings(models_dir=str(tmp_path / "m"))
    with pytest.raises(UserError, match="ja: none of the files given translates from it"):
        models.install(settings, ["ja"], [argosmodel])
    assert models.install(settings, ["de"], [argosmodel])[0].from_code == "de"


def test_remove(tmp_path, argosmodel):
    directory = tmp_path / "models"
    models.install_file(directory, argosmodel)
    with pytest.raises(UserError, match="no Argos model installed for 'ja' \\(installed: de\\)"):
        models.remove(directory, ["de", "ja"])
    assert models.find(directory, "de") is not None, "checked before anything is removed"
    (removed,) = models.remove(directory, ["de"])
    assert removed.from_code == "de"
    assert models.installed(directory) == []
    assert not removed.path.exists()


def test_importing_argostranslate_leaves_the_home_folder_alone(tmp_path, argosmodel):
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "import sys; from pathlib import Path; from aggregator.translate import models;"
        "m = models.install_file(Path(sys.argv[1]), Path(sys.argv[2]));"
        "models.argos_package(Path(sys.argv[1])).Package(m.path)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(home)}
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "models"), str(argosmodel)],
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert list(home.rglob("*")) == []
    assert "XDG_DATA_HOME" not in os.environ
