"""A tiny but real Argos Translate package, built at test time.

Real Argos models cannot be downloaded here, so `build_ct2_model` makes one: a SentencePiece
model trained on a few sentences and a randomly initialised Marian model (a few kB of weights)
converted by CTranslate2's own converter; `package_argosmodel` zips it in the Argos package
layout. Its output is nonsense; tests check the plumbing, not the wording. Building takes a few
seconds (mostly importing torch), once per test session; re-zipping for other versions or
language pairs is cheap.

Used by the fixtures in tests/argos_fixture.py and by bench/bench_translate.py.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

CORPUS = [
    "Der Präsident hat ein neues Gesetz über das Klima angekündigt.",
    "Die Stadt Berlin empfängt die Olympischen Spiele im nächsten Sommer.",
    "Bauern protestieren gegen die steigenden Preise für Diesel und Dünger.",
    "Ein Erdbeben der Stärke sechs erschüttert den Süden des Landes.",
    "Die Regierung und die Opposition streiten über den Haushalt.",
    "Le président a annoncé une nouvelle loi sur le climat.",
    "東京で大きな地震が発生しました。",
    "Полиция задержала подозреваемого в Москве.",
]


def build_ct2_model(workdir: Path) -> Path:
    """SentencePiece + random Marian → CTranslate2 folder (with sentencepiece.model inside)."""
    import sentencepiece as spm
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    workdir.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20),
        model_prefix=str(workdir / "sp"),
        vocab_size=150,
        character_coverage=1.0,
        model_type="unigram",
        unk_id=1,
        eos_id=2,
        bos_id=-1,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_file=str(workdir / "sp.model"))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab: dict[str, int] = {}
    for piece in ["</s>", "<unk>", *pieces, "<pad>"]:
        vocab.setdefault(piece, len(vocab))
    marian = workdir / "marian"
    marian.mkdir(exist_ok=True)
    (marian / "vocab.json").write_text(json.dumps(vocab))
    for name in ("source.spm", "target.spm"):
        shutil.copy(workdir / "sp.model", marian / name)
    MarianTokenizer(
        str(marian / "source.spm"), str(marian / "target.spm"), str(marian / "vocab.json")
    ).save_pretrained(marian)
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        pad_token_id=vocab["<pad>"],
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
    )
    MarianMTModel(config).save_pretrained(marian)
    output = workdir / "ct2"
    TransformersConverter(str(marian)).convert(str(output), force=True)
    shutil.copy(workdir / "sp.model", output / "sentencepiece.model")
    return output


def package_argosmodel(
    ct2: Path,
    dest: Path,
    from_code: str = "de",
    to_code: str = "en",
    version: str = "1.0",
    corrupt: bool = False,
) -> Path:
    """Zip the model in Argos's layout: <root>/metadata.json, model/, sentencepiece.model."""
    root = f"translate-{from_code}_{to_code}-{version.replace('.', '_')}"
    path = dest / f"{root}.argosmodel"
    metadata = {
        "package_version": version,
        "argos_version": "1.0",
        "from_code": from_code,
        "from_name": from_code.upper(),
        "to_code": to_code,
        "to_name": "English",
        "type": "translate",
        "code": f"translate-{from_code}_{to_code}",
        "links": [],
    }
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr(f"{root}/metadata.json", json.dumps(metadata))
        bundle.writestr(f"{root}/README.md", "Test model built by tests/argos_fixture.py\n")
        bundle.write(ct2 / "sentencepiece.model", f"{root}/sentencepiece.model")
        for name in ("config.json", "shared_vocabulary.json"):
            bundle.write(ct2 / name, f"{root}/model/{name}")
        if corrupt:
            bundle.writestr(f"{root}/model/model.bin", b"not a CTranslate2 model")
        else:
            bundle.write(ct2 / "model.bin", f"{root}/model/model.bin")
    return path


def index_entry(from_code: str, version: str, link: str) -> dict:
    """One package in the format of Argos's real index.json."""
    return {
        "code": f"translate-{from_code}_en",
        "type": "translate",
        "package_version": version,
        "argos_version": "1.0",
        "from_code": from_code,
        "from_name": from_code.upper(),
        "to_code": "en",
        "to_name": "English",
        "links": [link],
    }
