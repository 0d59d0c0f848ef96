"""IVR prompts: every text has a recording pjsua2 can play, made from that text
(docs/pjsua2.md "Prompts"); the words D-4 strings together; S-4 languages."""

from __future__ import annotations

import hashlib
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import prompts
from ivr.prompts import LANGUAGES, PROMPTS, language_order, prompt_path, read_manifest, say_digits, say_hex

REPOSITORY_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
RECORDINGS = [(name, language) for name in PROMPTS for language in sorted(PROMPTS[name])]

# Other modules play these by name: renaming one breaks them.
NAMES_IN_USE = """welcome main_menu enter_extension enter_user_id enter_pin invalid_credentials
invalid_entry try_again too_many_attempts locked forgot_pin choose_phone for_model mac_ending press
more_phones repeat_hint losses_intro lines_to_kem confirm migrated_restart provisioned_restart
no_old_phone old_phone_registered dn_in_several_partitions not_a_new_phone not_allowed phone_limit
owned_by_other being_migrated already_migrated no_user unknown_caller not_a_candidate error no_input goodbye star pound""".split()


def wav_format(path: Path) -> tuple[int, int, int, int, float]:
    """(format tag, channels, sample rate, bits per sample, seconds) from the RIFF chunks."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", f"{path} is not RIFF/WAVE"
    fmt = data_size = None
    position = 12
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[position + 8:position + 24])
        elif chunk == b"data":
            data_size = size
        position += 8 + size + (size & 1)
    assert fmt is not None and data_size is not None, f"{path} lacks a fmt or data chunk"
    tag, channels, rate, byte_rate, _align, bits = fmt
    return tag, channels, rate, bits, data_size / byte_rate


def assert_playable(path: Path) -> None:
    tag, channels, rate, bits, seconds = wav_format(path)
    assert (tag, channels, rate, bits) == (1, 1, 8000, 16), f"{path}: PCM 16-bit mono 8 kHz expected"
    assert 0.2 <= seconds <= 15, f"{path}: {seconds:.2f} s"


def test_every_prompt_has_a_text_in_every_language():
    for name, texts in PROMPTS.items():
        assert set(texts) == set(LANGUAGES), name
        assert all(text.strip() for text in texts.values()), name


def test_names_in_use_exist_with_their_english_text():
    assert set(NAMES_IN_USE) | {f"digit_{d}" for d in "0123456789"} | {f"letter_{x}" for x in "abcdef"} <= set(PROMPTS)
    assert PROMPTS["invalid_credentials"]["en"] == "The extension or PIN is not valid."
    assert PROMPTS["main_menu"]["en"] == "To provision this new phone for yourself, press 1. To replace an existing phone, press 2."
    assert [PROMPTS[f"digit_{d}"]["en"] for d in "079"] == ["zero", "seven", "nine"]
    assert [PROMPTS[f"letter_{x}"]["en"] for x in "af"] == ["A", "F"]


@pytest.fixture(scope="module")
def manifest() -> dict[tuple[str, str], dict]:
    entries = read_manifest(REPOSITORY_PROMPTS)["prompt"]
    return {(e["name"], e["language"]): e for e in entries}


@pytest.mark.parametrize("name,language", RECORDINGS)
def test_recording_plays_and_was_made_from_its_text(name, language, manifest):
    path = prompt_path(language, name, REPOSITORY_PROMPTS)
    assert_playable(path)
    entry = manifest.get((name, language))
    assert entry is not None, f"{language}/{name} is not in manifest.toml: run python -m ivr.prompts --generate"
    text = PROMPTS[name][language]
    assert entry["text"] == text, f"{language}/{name} changed without re-recording: python -m ivr.prompts --generate --name {name}"
    assert shlex.split(entry["espeak"])[-1] == prompts.spoken(language, text)  # a respelling changed too
    assert entry["file"] == f"{language}/{name}.wav"
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), f"{path} replaced without updating the manifest"
    assert abs(entry["duration_ms"] - wav_format(path)[4] * 1000) <= 1


def test_no_stale_recordings(manifest):
    assert set(manifest) == set(RECORDINGS)
    on_disk = {(p.stem, p.parent.name) for p in REPOSITORY_PROMPTS.glob("*/*.wav")}
    assert on_disk == set(RECORDINGS)


def test_d4_model_and_mac_are_read_digit_by_digit():
    assert say_digits("7965") == ["digit_7", "digit_9", "digit_6", "digit_5"]
    assert say_hex("A1B2") == ["letter_a", "digit_1", "letter_b", "digit_2"]
    assert say_hex("0fE9") == ["digit_0", "letter_f", "letter_e", "digit_9"]
    assert set(say_digits("0123456789") + say_hex("ABCDEF")) <= set(PROMPTS)


@pytest.mark.parametrize("text", ["", "79a5", " 7965", "7965\n", "-1", "1.5", "٧٩", "²"])
def test_say_digits_refuses_anything_but_digits(text):
    with pytest.raises(ValueError):
        say_digits(text)


@pytest.mark.parametrize("text", ["", "A1G2", "A1:B2", "a b", "0x1F", "A1B2\n", "ａ"])
def test_say_hex_refuses_anything_but_hex(text):
    with pytest.raises(ValueError):
        say_hex(text)


@pytest.mark.parametrize("preferred,expected", [
    (["de", "fr"], ["de", "fr"]),
    (["it", "fr", "en"], ["fr", "en"]),
    (["fr-CA", "FR", "de_DE"], ["fr", "de"]),
    (["it"], ["en"]),
    ([], ["en"]),
])
def test_s4_language_order(preferred, expected):
    assert language_order(preferred) == expected


def test_prompt_path_refuses_unknown_names_and_languages():
    with pytest.raises(KeyError):
        prompt_path("en", "no_such_prompt")
    with pytest.raises(KeyError):
        prompt_path("it", "welcome")


def test_prompt_path_directory_argument_then_environment_then_repository(monkeypatch, tmp_path):
    monkeypatch.delenv(prompts.ENV_DIR, raising=False)
    assert prompt_path("fr", "welcome") == REPOSITORY_PROMPTS / "fr" / "welcome.wav"
    monkeypatch.setenv(prompts.ENV_DIR, str(tmp_path))
    assert prompt_path("fr", "welcome") == tmp_path / "fr" / "welcome.wav"
    assert prompt_path("fr", "welcome", "/srv/prompts") == Path("/srv/prompts/fr/welcome.wav")


def test_no_pjsua2_or_twisted_import():
    code = "import sys, ivr.prompts; print(sorted({m.split('.')[0] for m in sys.modules} & {'pjsua2', 'twisted'}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_regenerate_one_prompt(tmp_path):
    assert prompts.main(["--generate", "--out", str(tmp_path), "--name", "goodbye", "--name", "star", "--language", "de"]) == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "de", "de/goodbye.wav", "de/star.wav", "manifest.toml"]  # no scratch files left behind
    assert_playable(tmp_path / "de" / "goodbye.wav")

    # Re-recording one prompt keeps the others in the manifest.
    assert prompts.generate(tmp_path, languages=("de",), names=["star"]) == [tmp_path / "de" / "star.wav"]
    fresh = read_manifest(tmp_path)
    assert [(e["name"], e["text"]) for e in fresh["prompt"]] == [("star", "Stern"), ("goodbye", "Auf Wiederhören.")]

    # Same tools, same text: the same bytes (sox -R), so re-recording leaves git clean.
    committed = read_manifest(REPOSITORY_PROMPTS)
    if fresh["tools"] == committed["tools"]:
        assert (tmp_path / "de" / "goodbye.wav").read_bytes() == (REPOSITORY_PROMPTS / "de" / "goodbye.wav").read_bytes()
