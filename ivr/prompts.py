"""The IVR's prompts: their texts, where their recordings are, how they are made.

Texts are data in ``prompts.toml`` beside this module, one per prompt name and
language (S-4: the IVR speaks the configured languages, in preference order).
Recordings are ``prompts/<language>/<name>.wav`` at the repository root, or
under ``$PHONE_MIGRATION_PROMPTS_DIR`` for an installed package: 16-bit PCM,
mono, 8 kHz, the format pjsua2 plays without resampling (docs/pjsua2.md,
"Prompts"). ``python -m ivr.prompts --generate`` records them with espeak-ng and
sox and writes ``manifest.toml`` beside them: text, length and the exact
commands, so any one can be re-recorded or replaced by a studio recording.

No pjsua2 and no Twisted here: the SIP adapter only plays the paths it is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
import wave
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_DATA = tomllib.loads(Path(__file__).with_name("prompts.toml").read_text(encoding="utf-8"))

PROMPTS: dict[str, dict[str, str]] = _DATA["prompts"]
SPOKEN: dict[str, dict[str, str]] = _DATA["spoken"]
LANGUAGES = ("en", "fr", "de")
VOICES = {"en": "en-us", "fr": "fr-fr", "de": "de"}  # espeak-ng 1.51 voice names
ENV_DIR = "PHONE_MIGRATION_PROMPTS_DIR"
MANIFEST = "manifest.toml"
TRAILING_SILENCE = "0.15"  # seconds, so a prompt followed by digits doesn't sound cut off

_REPOSITORY_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def language_order(preferred: Iterable[str]) -> list[str]:
    """S-4: the configured prompt languages that have recordings, best first.

    Regional tags count as their language ("fr-CA", "de_DE"); unknown ones are
    skipped; with nothing left, English. The IVR speaks the first.
    """
    order: list[str] = []
    for tag in preferred:
        language = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
        if language in LANGUAGES and language not in order:
            order.append(language)
    return order or ["en"]


def prompts_dir(directory: Path | str | None = None) -> Path:
    """Where recordings live: the argument, else $PHONE_MIGRATION_PROMPTS_DIR, else <repository>/prompts."""
    if directory is not None:
        return Path(directory)
    override = os.environ.get(ENV_DIR)
    return Path(override) if override else _REPOSITORY_PROMPTS


def prompt_path(language: str, name: str, directory: Path | str | None = None) -> Path:
    """The WAV of one prompt; KeyError for a name or language with no text."""
    if name not in PROMPTS:
        raise KeyError(f"no prompt named {name!r}")
    if language not in PROMPTS[name]:
        raise KeyError(f"prompt {name!r} has no {language!r} text")
    return prompts_dir(directory) / language / f"{name}.wav"


def say_digits(text: str) -> list[str]:
    """D-4: "7965" -> the prompts for seven, nine, six, five."""
    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(f"not a string of digits: {text!r}")
    return [f"digit_{c}" for c in text]


def say_hex(text: str) -> list[str]:
    """D-4: the end of a MAC address, "A1B2" -> A, one, B, two."""
    if not re.fullmatch(r"[0-9A-Fa-f]+", text):
        raise ValueError(f"not a hexadecimal string: {text!r}")
    return [f"digit_{c}" if c.isdigit() else f"letter_{c.lower()}" for c in text]


def spoken(language: str, text: str) -> str:
    """The text as espeak-ng is given it: whole words respelled per [spoken.<language>]."""
    words = SPOKEN.get(language, {})
    if not words:
        return text
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.sub(rf"\b({alternatives})\b", lambda m: words[m.group(1)], text)


def commands(language: str, name: str) -> tuple[list[str], list[str]]:
    """The espeak-ng and sox commands that record one prompt, run in the prompts directory."""
    file = f"{language}/{name}.wav"
    # -z drops espeak-ng's 300 ms end-of-sentence pause: digits strung together
    # (D-4) would otherwise crawl; the pad below adds a shorter one back.
    espeak = ["espeak-ng", "-z", "-v", VOICES[language], "-w", "tmp.wav", spoken(language, PROMPTS[name][language])]
    # -R seeds sox's dither, so re-recording an unchanged text gives the same bytes.
    # rate before gain: normalise the peak of what is played, not of the 22 kHz original.
    sox = ["sox", "-R", "tmp.wav", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", file,
           "rate", "8000", "gain", "-n", "-3", "pad", "0", TRAILING_SILENCE]
    return espeak, sox


def generate(out_dir: Path, languages: Sequence[str] = LANGUAGES, names: Iterable[str] | None = None) -> list[Path]:
    """Record prompts into out_dir/<language>/<name>.wav and rewrite out_dir/manifest.toml.

    Entries of prompts not recorded this time stay in the manifest; entries of
    prompts that no longer exist are dropped. Returns the WAVs written.
    """
    out_dir = Path(out_dir)
    wanted = list(PROMPTS) if names is None else list(names)
    for name in wanted:
        if name not in PROMPTS:
            raise KeyError(f"no prompt named {name!r}")  # before anything is recorded
    for language in languages:
        if language not in VOICES:
            raise KeyError(f"no espeak-ng voice for language {language!r}")
    jobs = [(name, language) for name in wanted for language in languages if language in PROMPTS[name]]
    entries = _read_manifest(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    versions = _tool_versions()
    # The scratch directory is inside out_dir so each finished WAV replaces the
    # old one atomically: a running IVR never opens a half-written file.
    with tempfile.TemporaryDirectory(prefix=".recording-", dir=out_dir) as scratch, ThreadPoolExecutor() as pool:
        recorded = list(pool.map(lambda job: _record(out_dir, Path(scratch), *job), jobs))
    for entry in recorded:
        entries[entry["name"], entry["language"]] = entry
    _write_manifest(out_dir, entries, versions)
    return [out_dir / entry["file"] for entry in recorded]


def _record(out_dir: Path, scratch: Path, name: str, language: str) -> dict[str, str | int]:
    espeak, sox = commands(language, name)
    work = scratch / f"{language}-{name}"
    (work / language).mkdir(parents=True)
    _run(espeak, work)
    _run(sox, work)
    target = out_dir / language / f"{name}.wav"
    target.parent.mkdir(exist_ok=True)
    os.replace(work / language / f"{name}.wav", target)
    with wave.open(str(target), "rb") as recording:
        duration_ms = round(recording.getnframes() * 1000 / recording.getframerate())
    return {
        "name": name,
        "language": language,
        "text": PROMPTS[name][language],
        "file": f"{language}/{name}.wav",
        "duration_ms": duration_ms,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "espeak": shlex.join(espeak),
        "sox": shlex.join(sox),
    }


def _run(command: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RuntimeError(f"{command[0]} is not installed (Debian: apt-get install -y espeak-ng sox)") from None
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _tool_versions() -> dict[str, str]:
    espeak = _run(["espeak-ng", "--version"], Path.cwd()).split("Data at:")[0]
    sox = _run(["sox", "--version"], Path.cwd()).removeprefix("sox:")
    return {"espeak_ng": " ".join(espeak.split()), "sox": " ".join(sox.split())}


def read_manifest(directory: Path | str | None = None) -> dict:
    """The manifest as written by generate(): {"tools": {...}, "prompt": [{...}, ...]}."""
    path = prompts_dir(directory) / MANIFEST
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _read_manifest(out_dir: Path) -> dict[tuple[str, str], dict]:
    return {(e["name"], e["language"]): e for e in read_manifest(out_dir).get("prompt", [])}


def _write_manifest(out_dir: Path, entries: dict[tuple[str, str], dict], versions: dict[str, str]) -> None:
    lines = [
        "# Written by `python -m ivr.prompts --generate`; do not edit by hand.",
        "# One [[prompt]] per recording. To re-record one by hand, run its espeak and",
        "# sox commands in this directory, then delete tmp.wav. `text` is what the",
        "# caller hears; the espeak command may respell words (ivr/prompts.toml [spoken]).",
        "",
        "[tools]",
        *(f"{key} = {_toml(value)}" for key, value in versions.items()),
    ]
    for name in PROMPTS:
        for language in LANGUAGES:
            entry = entries.get((name, language))
            if entry is not None and language in PROMPTS[name]:
                lines += ["", "[[prompt]]", *(f"{key} = {_toml(value)}" for key, value in entry.items())]
    temporary = out_dir / f".{MANIFEST}.tmp"
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temporary, out_dir / MANIFEST)


def _toml(value: str | int) -> str:
    # A JSON string is a valid TOML basic string: same quotes, same escapes.
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.prompts", description="Record the IVR prompts with espeak-ng and sox.")
    parser.add_argument("--generate", action="store_true", help="record the prompts and rewrite manifest.toml")
    parser.add_argument("--out", type=Path, help=f"prompts directory (default: ${ENV_DIR}, else <repository>/prompts)")
    parser.add_argument("--language", action="append", choices=LANGUAGES, help="only this language (repeatable)")
    parser.add_argument("--name", action="append", metavar="NAME", help="only this prompt (repeatable)")
    args = parser.parse_args(argv)
    if not args.generate:
        parser.print_help()
        return 2
    unknown = sorted(set(args.name or ()) - set(PROMPTS))
    if unknown:
        parser.error(f"unknown prompt names: {', '.join(unknown)}")
    out_dir = prompts_dir(args.out)
    try:
        written = generate(out_dir, tuple(args.language or LANGUAGES), args.name)
    except RuntimeError as exc:  # a tool missing or failing: one line, exit 4 as the server's CLI does
        print(f"error: {exc}", file=sys.stderr)
        return 4
    print(f"{len(written)} prompts recorded in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
