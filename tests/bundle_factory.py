"""Bundles for the tests: a real one of a copy of the shipped content, and doctored ones.

A doctored bundle is signed properly (or deliberately not), so a test can show that each
check refuses what only that check would catch.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rightsdesk.kb_bundle import (
    MANIFEST,
    SIGNATURE,
    FileEntry,
    Manifest,
    build_bundle,
    fingerprint,
    verify_bundle,
)

ROOT = Path(__file__).resolve().parents[1]


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def copy_content(folder: Path) -> tuple[Path, Path]:
    """A copy of the shipped knowledge_base/ and bot/; returns (kb_dir, messages_path)."""
    shutil.copytree(ROOT / "knowledge_base", folder / "knowledge_base")
    shutil.copytree(ROOT / "bot", folder / "bot")
    return folder / "knowledge_base", folder / "bot" / "messages.yaml"


@dataclass(frozen=True)
class Built:
    """A real bundle and what went into it."""

    data: bytes
    key: Ed25519PrivateKey
    manifest: Manifest
    files: Mapping[str, bytes]

    @property
    def public_key(self) -> bytes:
        return raw_public(self.key)

    def doctored(
        self,
        *,
        files: Mapping[str, bytes] | None = None,
        listed: Mapping[str, bytes] | None = None,
        created: datetime | None = None,
        key: Ed25519PrivateKey | None = None,
        extra: Iterable[tarfile.TarInfo] = (),
    ) -> bytes:
        """A bundle holding ``files`` whose signed manifest lists ``listed`` (default: the same
        files), made at ``created`` and signed with ``key``; ``extra`` entries are appended to
        the tar without being listed."""
        files = dict(self.files if files is None else files)
        listed = files if listed is None else listed
        key = key or self.key
        manifest = replace(
            self.manifest,
            created=created or self.manifest.created,
            key=fingerprint(raw_public(key)),
            files=tuple(
                FileEntry(p, len(d), hashlib.sha256(d).hexdigest())
                for p, d in sorted(listed.items())
            ),
        )
        manifest_bytes = manifest.to_json()
        return tar_bytes(
            {MANIFEST: manifest_bytes, SIGNATURE: key.sign(manifest_bytes), **files}, extra
        )


def tar_bytes(members: Mapping[str, bytes], extra: Iterable[tarfile.TarInfo] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return out.getvalue()


def build(folder: Path, *, now: datetime | None = None) -> Built:
    """Build a real bundle of a fresh copy of the shipped content under ``folder``."""
    kb_dir, messages_path = copy_content(folder / "content")
    key = Ed25519PrivateKey.generate()
    out = folder / "kb.tar.gz"
    manifest = build_bundle(kb_dir, messages_path, key, out, now=now)
    data = out.read_bytes()
    return Built(data, key, manifest, verify_bundle(data, raw_public(key)).files)


def an_hour_before(built: Built) -> datetime:
    return built.manifest.created - timedelta(hours=1)
