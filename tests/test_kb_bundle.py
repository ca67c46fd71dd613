"""Signed bundles: keys, building, and every way a bundle is refused before it is used."""

from __future__ import annotations

import base64
import gzip
import io
import stat
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundle_factory import ROOT, Built, build, copy_content, raw_public, tar_bytes
from rightsdesk import kb_bundle
from rightsdesk.cli import main
from rightsdesk.content import check_content
from rightsdesk.kb_bundle import (
    BundleError,
    InvalidContent,
    StaleBundle,
    build_bundle,
    check_order,
    generate_keys,
    installed,
    load_private_key,
    unpack,
    verify_bundle,
)

BROKEN = "knowledge_base/topics/topic-drug-tests.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("bundle"))


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    assert main(["kb", "keygen", "--out", str(tmp_path / "keys")]) == 0
    private = tmp_path / "keys" / kb_bundle.PRIVATE_KEY_FILE
    public = tmp_path / "keys" / kb_bundle.PUBLIC_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    text = public.read_text().strip()
    assert len(text) == 44 and raw_public(load_private_key(private)) == base64.b64decode(text)
    # A second run must not replace the key the bots already trust.
    before = private.read_bytes()
    with pytest.raises(BundleError, match="already exists"):
        generate_keys(tmp_path / "keys")
    assert private.read_bytes() == before


def test_a_bundle_holds_every_file_and_unpacks_to_content_that_passes_the_check(
    built: Built, tmp_path: Path
) -> None:
    paths = {f.path for f in built.manifest.files}
    assert any(p.startswith("knowledge_base/translations/") for p in paths)
    assert "bot/messages.yaml" in paths and "bot/emergency/kinds.yaml" in paths
    assert built.files["bot/messages.yaml"] == (ROOT / "bot/messages.yaml").read_bytes()
    bundle = verify_bundle(built.data, built.public_key)
    folder = unpack(bundle, tmp_path / "kb-updates")
    assert folder.name == built.manifest.name
    found = check_content(folder / "knowledge_base", folder / "bot" / "messages.yaml")
    assert found.ok and found.kb is not None and found.kb.version == built.manifest.content_version
    assert [m.created for m in installed(tmp_path / "kb-updates")] == [built.manifest.created]
    assert not [p for p in (tmp_path / "kb-updates").iterdir() if p.name.startswith(".")]


def test_a_file_changed_after_signing_is_refused(built: Built) -> None:
    files = dict(built.files)
    files[BROKEN] = files[BROKEN].replace(b"police", b"p0lice", 1)
    tampered = built.doctored(files=files, listed=built.files)
    with pytest.raises(
        BundleError, match=f"{BROKEN} in the bundle was altered after it was signed"
    ):
        verify_bundle(tampered, built.public_key)


def test_a_bundle_signed_with_another_key_is_refused(built: Built) -> None:
    other = built.doctored(key=Ed25519PrivateKey.generate())
    with pytest.raises(BundleError, match="signed with another key"):
        verify_bundle(other, built.public_key)


def test_an_edited_manifest_fails_the_signature(built: Built) -> None:
    with tarfile.open(fileobj=io.BytesIO(built.data), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    members[kb_bundle.MANIFEST] = members[kb_bundle.MANIFEST].replace(b'"size": 1', b'"size": 2', 1)
    with pytest.raises(BundleError, match="signature does not match its manifest"):
        verify_bundle(tar_bytes(members), built.public_key)


def test_files_missing_or_unlisted_are_refused(built: Built) -> None:
    fewer = dict(built.files)
    del fewer["bot/referrals.yaml"]
    with pytest.raises(BundleError, match=r"lacks bot/referrals\.yaml"):
        verify_bundle(built.doctored(files=fewer, listed=built.files), built.public_key)
    more = dict(built.files) | {"bot/extra.yaml": b"x: 1\n"}
    with pytest.raises(BundleError, match=r"'bot/extra\.yaml', which its manifest does not list"):
        verify_bundle(built.doctored(files=more, listed=built.files), built.public_key)


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [
        ("../../evil.yaml", tarfile.REGTYPE, "refused entry"),
        ("/etc/evil.yaml", tarfile.REGTYPE, "refused entry"),
        ("bot/link.yaml", tarfile.SYMTYPE, "not a plain file"),
        ("bot/abs-link.yaml", tarfile.SYMTYPE, "refused entry"),
        ("bot/hard.yaml", tarfile.LNKTYPE, "not a plain file"),
        ("bot/../../../evil", tarfile.SYMTYPE, "refused entry"),
        ("bot/null", tarfile.CHRTYPE, "refused entry"),
        ("bot/folder", tarfile.DIRTYPE, "not a plain file"),
    ],
)
def test_entries_outside_the_content_or_not_plain_files_are_refused(
    built: Built, tmp_path: Path, name: str, kind: bytes, says: str
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = 4 if kind == tarfile.REGTYPE else 0
    # Links that stay inside the content pass the standard filter: only our own rule stops them.
    inside = {"bot/link.yaml": "messages.yaml", "bot/hard.yaml": "bot/messages.yaml"}
    info.linkname = inside.get(name, "/etc/passwd")
    with pytest.raises(BundleError, match=says):
        verify_bundle(built.doctored(extra=[info]), built.public_key)


def test_a_signed_manifest_listing_a_path_outside_the_content_is_refused(built: Built) -> None:
    evil = dict(built.files) | {"bot/../../evil.yaml": b"x"}
    with pytest.raises(BundleError, match="not a plain path under knowledge_base/ or bot/"):
        verify_bundle(built.doctored(files=built.files, listed=evil), built.public_key)


def test_garbage_truncated_and_oversized_bundles_are_refused(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    for data in (b"<html>Not found</html>", built.data[: len(built.data) // 2], b""):
        with pytest.raises(BundleError, match="not a complete gzip tar"):
            verify_bundle(data, built.public_key)
    monkeypatch.setattr(kb_bundle, "MAX_BYTES", len(built.data) - 1)
    with pytest.raises(BundleError, match="over the limit"):
        verify_bundle(built.data, built.public_key)
    # Small on the wire, large unpacked: the cap counts the unpacked size too.
    monkeypatch.setattr(kb_bundle, "MAX_BYTES", len(built.data) + 1)
    with pytest.raises(BundleError, match="add up to more than"):
        verify_bundle(built.data, built.public_key)
    # A gzip bomb is stopped while it is decompressed, before tarfile reads any of it.
    monkeypatch.setattr(kb_bundle, "MAX_TAR_OVERHEAD", 0)
    bomb = gzip.compress(b"\0" * (4 * len(built.data)))
    assert len(bomb) < len(built.data)
    with pytest.raises(BundleError, match="unpacks to more than"):
        verify_bundle(bomb, built.public_key)


def test_bundling_refuses_content_the_check_rejects_and_names_the_file(tmp_path: Path) -> None:
    kb_dir, messages_path = copy_content(tmp_path)
    (tmp_path / BROKEN).write_text("id: [unclosed\n")
    with pytest.raises(
        InvalidContent, match=r"topic-drug-tests\.yaml:\d+: invalid YAML"
    ) as refused:
        build_bundle(kb_dir, messages_path, Ed25519PrivateKey.generate(), tmp_path / "kb.tar.gz")
    assert refused.value.problems
    assert not (tmp_path / "kb.tar.gz").exists()


def test_unpacking_signed_but_invalid_content_leaves_nothing_behind(
    built: Built, tmp_path: Path
) -> None:
    files = dict(built.files) | {BROKEN: b"id: [unclosed\n"}
    bundle = verify_bundle(built.doctored(files=files), built.public_key)
    with pytest.raises(InvalidContent, match=rf"problem\(s\): {BROKEN}:\d+: invalid YAML"):
        unpack(bundle, tmp_path / "kb-updates")
    assert list((tmp_path / "kb-updates").iterdir()) == []


def test_an_older_bundle_is_refused_unless_forced(built: Built) -> None:
    made = built.manifest.created
    older = verify_bundle(built.doctored(created=made - timedelta(days=1)), built.public_key)
    with pytest.raises(StaleBundle, match="made before the newest installed here") as stale:
        check_order(older.manifest, live=None, newest=made)
    assert not stale.value.same
    with pytest.raises(StaleBundle, match="already live") as same:
        check_order(built.manifest, live=made, newest=made)
    assert same.value.same
    check_order(older.manifest, live=made, newest=made, force=True)
    # Installed before, but the bot restarted on its packaged content: installed again.
    check_order(built.manifest, live=None, newest=made)


def test_the_bundle_command_writes_a_bundle_the_public_key_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = generate_keys(tmp_path / "keys")
    out = tmp_path / "kb.tar.gz"
    assert main(["kb", "bundle", "--key", str(private), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    bundle = verify_bundle(out.read_bytes(), base64.b64decode(public.read_text()))
    assert f"bundle {bundle.manifest.name}, {len(bundle.files)} files" in printed
    assert bundle.manifest.content_version.startswith("kb-")
    assert main(["kb", "bundle", "--key", str(public), "-o", str(tmp_path / "x.tar.gz")]) == 1
    assert "is not a private key written by `rightsdesk kb keygen`" in capsys.readouterr().err
