"""Signed knowledge-base bundles: the keys, building one, and checking one before use.

A bundle carries ``knowledge_base/`` and ``bot/`` from the organisation that curates the
content to the country teams that run a bot. Its format (version 1) is a gzip-compressed tar:

1. ``manifest.json``, first: UTF-8 JSON ::

       {"format": 1, "content_version": "kb-6b4d2a1d30", "created": "2025-06-01T12:00:00Z",
        "key": "<fingerprint of the signing key>",
        "files": [{"path": "knowledge_base/topics/arrest.yaml", "size": 5120,
                   "sha256": "<hex>"}, ...]}

   ``content_version`` is :attr:`KnowledgeBase.version` of the content; ``created`` (UTC,
   whole seconds) orders bundles, because that version is a hash with no order, and the
   bot's words (``bot/``) are not part of it; ``key`` only lets an error name the key.
2. ``manifest.sig``, second: the 64-byte Ed25519 signature of ``manifest.json``'s exact bytes.
3. Every file of the manifest, as a regular file under ``knowledge_base/`` or ``bot/``, and
   nothing else: no folders, links or devices.

:func:`verify_bundle` works in memory and checks the signature before it reads a single
file; :func:`unpack` then writes those same checked bytes to a new folder and validates them
with the checks of ``rightsdesk kb check``. Keys: the private key is a PKCS #8 PEM file
(mode 600); the public key is its 32 raw bytes in base64, one line an operator can paste
into ``RIGHTSDESK_KB_PUBLIC_KEY``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rightsdesk.content import check_content
from rightsdesk.knowledge_base import Problem

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
KB_FOLDER = "knowledge_base"
BOT_FOLDER = "bot"
MESSAGES_FILE = "messages.yaml"
PRIVATE_KEY_FILE = "kb-signing.key"
PUBLIC_KEY_FILE = "kb-signing.pub"
# The shipped content is about 4 MB in 440 files: these leave room to grow and stop a bundle
# (or a decompression bomb) from filling the memory or the disk of a small server.
MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 10_000
# Tar headers and padding around the files: at most about 1.5 KB a file.
MAX_TAR_OVERHEAD = 16 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
SIGNATURE_BYTES = 64
VERSION_PATTERN = re.compile(r"^kb-[0-9a-f]{10}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class BundleError(Exception):
    """A bundle cannot be built or used; the message is one sentence naming the file."""


class InvalidContent(BundleError):
    """The content fails the checks of ``rightsdesk kb check``."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(message)


class StaleBundle(BundleError):
    """The bundle is not newer than what is live or already installed (rollback protection)."""

    def __init__(self, message: str, *, same: bool) -> None:
        self.same = same  # the very bundle that is live: nothing to do rather than an attack
        super().__init__(message)


# -- keys ---------------------------------------------------------------------------------


def generate_keys(folder: Path) -> tuple[Path, Path]:
    """Write a new key pair into ``folder``; return the private and the public key's paths."""
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    for path in (private_path, public_path):
        if path.exists():
            raise BundleError(f"{path} already exists; move it away first (keys are not replaced).")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created with mode 600, so the key is never readable by others, not even for a moment.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_text(public_key_text(key.public_key()) + "\n", encoding="ascii")
    return private_path, public_path


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise BundleError(f"Cannot read the signing key {path}: {error.strerror}.") from error
    except (ValueError, TypeError) as error:
        raise BundleError(
            f"{path} is not a private key written by `rightsdesk kb keygen`."
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 key; make one with `rightsdesk kb keygen`.")
    return key


def fingerprint(public_key: bytes) -> str:
    """A short name for a public key (its raw 32 bytes), to tell keys apart in messages."""
    return hashlib.sha256(public_key).hexdigest()[:16]


# -- the manifest -------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    content_version: str
    created: datetime
    key: str
    files: tuple[FileEntry, ...]

    @property
    def name(self) -> str:
        """The bundle's folder name: when it was made, then what it holds."""
        return f"{self.created:%Y%m%dT%H%M%SZ}-{self.content_version}"

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "content_version": self.content_version,
            "created": self.created.strftime(CREATED_FORMAT),
            "key": self.key,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }
        return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse a manifest; raise ValueError saying what is wrong."""
        document = json.loads(data.decode("utf-8"))
        if not isinstance(document, dict):
            raise ValueError("it is not a JSON object")
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')!r} is not {FORMAT}")
        version = document.get("content_version")
        if not isinstance(version, str) or not VERSION_PATTERN.match(version):
            raise ValueError(f"content_version {version!r} is not like kb-0123456789")
        created = datetime.strptime(str(document.get("created")), CREATED_FORMAT)
        files = document.get("files")
        if not isinstance(files, list) or not files:
            raise ValueError("files is not a list of files")
        entries: list[FileEntry] = []
        for item in files:
            if not isinstance(item, dict):
                raise ValueError("a file is not a JSON object")
            path, size, digest = item.get("path"), item.get("size"), item.get("sha256")
            if not isinstance(path, str) or not isinstance(size, int) or size < 0:
                raise ValueError(f"file {path!r} has no valid path and size")
            if not isinstance(digest, str) or not SHA256_PATTERN.match(digest):
                raise ValueError(f"file {path} has no valid sha256")
            _check_member_path(path)
            entries.append(FileEntry(path, size, digest))
        if len({e.path for e in entries}) != len(entries):
            raise ValueError("a file is listed twice")
        return cls(version, created.replace(tzinfo=UTC), str(document.get("key")), tuple(entries))


def _check_member_path(path: str) -> None:
    parts = PurePosixPath(path).parts
    if (
        "\\" in path
        or path.startswith("/")
        or len(parts) < 2
        or parts[0] not in (KB_FOLDER, BOT_FOLDER)
        or any(part in ("", ".", "..") for part in parts)
        or PurePosixPath(*parts).as_posix() != path
    ):
        raise ValueError(f"path {path!r} is not a plain path under {KB_FOLDER}/ or {BOT_FOLDER}/")


# -- building -----------------------------------------------------------------------------


def build_bundle(
    kb_dir: Path,
    messages_path: Path,
    key: Ed25519PrivateKey,
    out: Path,
    *,
    now: datetime | None = None,
) -> Manifest:
    """Check the content, then write it with a signed manifest to ``out``; return the manifest.

    Raise :class:`InvalidContent` when ``rightsdesk kb check`` would reject the content.
    """
    found = check_content(kb_dir, messages_path)
    if not found.ok or found.kb is None:
        first = f"; the first: {found.problems[0]}" if found.problems else ""
        raise InvalidContent(
            f"Not bundled: the content has {len(found.problems)} problem(s){first}.",
            found.problems,
        )
    contents: dict[str, bytes] = {}
    for folder, root in ((KB_FOLDER, kb_dir), (BOT_FOLDER, messages_path.parent)):
        contents.update(_read_folder(folder, root))
    total = sum(len(data) for data in contents.values())
    if total > MAX_BYTES or len(contents) > MAX_FILES:
        raise BundleError(
            f"Not bundled: {len(contents)} files of {total} bytes in all; a bot accepts at most"
            f" {MAX_FILES} files and {MAX_BYTES} bytes."
        )
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    manifest = Manifest(
        found.kb.version,
        created,
        fingerprint(public),
        tuple(
            FileEntry(path, len(data), hashlib.sha256(data).hexdigest())
            for path, data in sorted(contents.items())
        ),
    )
    manifest_bytes = manifest.to_json()
    members = {MANIFEST: manifest_bytes, SIGNATURE: key.sign(manifest_bytes)}
    write_tar(out, members | dict(sorted(contents.items())), mtime=created)
    return manifest


def _read_folder(name: str, root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        raise BundleError(f"Not bundled: {root} is not a folder.")
    contents: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        # Editor backups, .DS_Store, caches: not content, and never shipped.
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if path.is_symlink():
            raise BundleError(f"Not bundled: {path} is a link; bundles hold only plain files.")
        if path.is_file():
            contents[f"{name}/{relative.as_posix()}"] = path.read_bytes()
    return contents


def write_tar(out: Path, members: Mapping[str, bytes], *, mtime: datetime) -> None:
    """Write ``members`` (name -> bytes, in order) as a gzip tar; through a temporary file, so
    a half-written bundle never sits at ``out``."""
    partial = out.with_name(f".{out.name}.partial")
    stamp = int(mtime.timestamp())
    # GzipFile itself, not tarfile's "w:gz": that would record the temporary file's name.
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=stamp) as packed,
        tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, stamp
            tar.addfile(info, io.BytesIO(data))
    partial.replace(out)


# -- checking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A bundle whose signature and every file were checked; nothing written anywhere yet."""

    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes
    files: Mapping[str, bytes]


def verify_bundle(data: bytes, public_key: bytes) -> Bundle:
    """Check the signature against ``public_key`` (32 raw bytes), then every file.

    Works in memory. Raise :class:`BundleError` on anything off: too large, not a gzip tar,
    a bad or foreign signature, a file missing, extra, altered, a link, device or a path
    outside the two content folders.
    """
    if len(data) > MAX_BYTES:
        raise BundleError(f"The bundle is {len(data)} bytes, over the limit of {MAX_BYTES}.")
    try:
        unpacked = _gunzip(data, MAX_BYTES + MAX_TAR_OVERHEAD)
        with tarfile.open(fileobj=io.BytesIO(unpacked), mode="r:") as tar:
            return _verify(tar, public_key)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BundleError(
            f"The bundle is not a complete gzip tar (truncated or garbled): {error}."
        ) from error


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes: tarfile itself would read a header of any size
    into memory before a single check, and a small gzip can unpack to gigabytes."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    unpacked = inflater.decompress(data, limit + 1)
    if len(unpacked) > limit:
        raise BundleError(f"The bundle unpacks to more than {limit} bytes; refused.")
    if not inflater.eof:
        raise BundleError("The bundle is not a complete gzip tar (truncated or garbled).")
    return unpacked


def _verify(tar: tarfile.TarFile, public_key: bytes) -> Bundle:
    manifest_bytes = _small_member(tar, MANIFEST, MAX_MANIFEST_BYTES)
    signature = _small_member(tar, SIGNATURE, SIGNATURE_BYTES)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, manifest_bytes)
    except InvalidSignature:
        raise BundleError(_signature_problem(manifest_bytes, public_key)) from None
    try:
        manifest = Manifest.from_json(manifest_bytes)
    except ValueError as error:
        # Signed, yet unreadable: a bundler of another version, or a bug; never an attacker.
        raise BundleError(f"The bundle's {MANIFEST} is signed but not valid: {error}.") from None
    expected = {f.path: f for f in manifest.files}
    if sum(f.size for f in manifest.files) > MAX_BYTES:
        raise BundleError(f"The bundle's files add up to more than {MAX_BYTES} bytes.")
    files: dict[str, bytes] = {}
    count = 0
    # tar.next(), not iteration: iterating starts again at the first member.
    while (member := tar.next()) is not None:
        count += 1
        if count > MAX_FILES:
            raise BundleError(f"The bundle holds more than {MAX_FILES} files.")
        try:
            _check_member_path(member.name)
            # The standard library's own rules too, in case a tar trick slips past ours.
            tarfile.data_filter(member, "/bundle")
        except (ValueError, tarfile.FilterError) as error:
            raise BundleError(f"The bundle holds a refused entry: {error}.") from None
        if not member.isfile():
            raise BundleError(f"The bundle holds {member.name!r}, which is not a plain file.")
        entry = expected.get(member.name)
        if entry is None or member.name in files:
            raise BundleError(
                f"The bundle holds {member.name!r}, which its manifest does not list."
            )
        if member.size != entry.size:
            raise BundleError(f"{member.name} in the bundle is not the size its manifest says.")
        content = _read(tar, member)
        if hashlib.sha256(content).hexdigest() != entry.sha256:
            raise BundleError(f"{member.name} in the bundle was altered after it was signed.")
        files[member.name] = content
    missing = sorted(set(expected) - set(files))
    if missing:
        raise BundleError(f"The bundle lacks {missing[0]} (and {len(missing) - 1} more files).")
    return Bundle(manifest, manifest_bytes, signature, files)


def _small_member(tar: tarfile.TarFile, name: str, limit: int) -> bytes:
    member = tar.next()
    if member is None or member.name != name or not member.isfile() or member.size > limit:
        raise BundleError(f"The bundle does not start with {MANIFEST} and {SIGNATURE}.")
    return _read(tar, member)


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = tar.extractfile(member)
    if stream is None:
        raise BundleError(f"{member.name} in the bundle cannot be read.")
    with stream:
        return stream.read()


def _signature_problem(manifest_bytes: bytes, public_key: bytes) -> str:
    ours = fingerprint(public_key)
    try:
        # Unverified, so used only to choose the message, never trusted for anything else.
        theirs = json.loads(manifest_bytes).get("key")
    except (ValueError, AttributeError):
        theirs = None
    if isinstance(theirs, str) and theirs != ours:
        return (
            f"The bundle is signed with another key ({theirs[:16]}), not the configured one"
            f" ({ours}); refused."
        )
    return "The bundle's signature does not match its manifest: it was altered; refused."


# -- installing ---------------------------------------------------------------------------


def check_order(
    manifest: Manifest,
    *,
    live: datetime | None,
    newest: datetime | None,
    force: bool = False,
) -> None:
    """Raise :class:`StaleBundle` unless ``manifest`` is newer than the live bundle (made at
    ``live``) and no older than the newest ever installed here (``newest``).

    An old bundle is still validly signed, so replaying one would undo a correction: only
    ``force`` (an operator's decision) lets one in.
    """
    if force:
        return
    if live is not None and manifest.created == live:
        raise StaleBundle(f"Bundle {manifest.name} is the one already live.", same=True)
    for floor, what in ((live, "the live one"), (newest, "the newest installed here")):
        if floor is not None and manifest.created < floor:
            raise StaleBundle(
                f"Bundle {manifest.name} was made before {what}"
                f" ({floor.strftime(CREATED_FORMAT)}); refused as a rollback.",
                same=False,
            )


def installed(updates_dir: Path) -> list[Manifest]:
    """The manifests of the bundles unpacked under ``updates_dir``, oldest first."""
    found: list[Manifest] = []
    if not updates_dir.is_dir():
        return found
    for folder in updates_dir.iterdir():
        if folder.name.startswith("."):
            continue
        try:
            found.append(Manifest.from_json((folder / MANIFEST).read_bytes()))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda m: m.created)


def bundle_manifest(content_dir: Path) -> Manifest | None:
    """The manifest of an unpacked bundle folder, or None when it is not one."""
    try:
        return Manifest.from_json((content_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None


def unpack(bundle: Bundle, updates_dir: Path) -> Path:
    """Write a verified bundle to ``updates_dir/<name>/`` and validate it there.

    The folder holds ``manifest.json``, ``manifest.sig``, ``knowledge_base/`` and ``bot/``. It
    is built under a hidden name and renamed only once the content passes the checks of
    ``rightsdesk kb check``; on any problem nothing is left behind and :class:`InvalidContent`
    names the first bad file as it is named in the bundle.
    """
    updates_dir.mkdir(parents=True, exist_ok=True)
    incoming = updates_dir / f".incoming-{secrets.token_hex(4)}"
    incoming.mkdir()
    try:
        (incoming / MANIFEST).write_bytes(bundle.manifest_bytes)
        (incoming / SIGNATURE).write_bytes(bundle.signature)
        for name, data in bundle.files.items():
            target = incoming.joinpath(*PurePosixPath(name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as out:
                out.write(data)
        _validate(incoming, bundle.manifest)
        final = updates_dir / bundle.manifest.name
        if final.exists():
            # The same bundle unpacked before (then replaced by another, or the bot restarted
            # on its packaged content): the fresh copy, just checked, replaces it.
            shutil.rmtree(final)
        incoming.rename(final)
        return final
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise


def _validate(folder: Path, manifest: Manifest) -> None:
    found = check_content(folder / KB_FOLDER, folder / BOT_FOLDER / MESSAGES_FILE)
    if not found.ok or found.kb is None:
        shown = [_in_bundle(p, folder) for p in found.problems]
        first = f": {shown[0]}" if shown else ""
        raise InvalidContent(
            f"The bundle's content fails `rightsdesk kb check` with {len(shown)} problem(s){first}",
            found.problems,
        )
    if found.kb.version != manifest.content_version:
        raise InvalidContent(
            f"The bundle's content is version {found.kb.version}, not the"
            f" {manifest.content_version} its manifest says.",
            [],
        )


def _in_bundle(problem: Problem, folder: Path) -> str:
    try:
        path = problem.path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        path = str(problem.path)
    return f"{path}:{problem.line}: {problem.message}"
