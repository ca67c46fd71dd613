"""Hot reload: /reload and SIGHUP put checked content live, or keep the old one and say why."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from conftest import ROOT
from fake_bot_api import FakeBotAPI
from rightsdesk.config import Settings
from rightsdesk.desk import Asker, Desk, ReloadError
from telegram_harness import start_rightsdesk_run

II_7 = "part-2-standards/ii-7-arbitrary-arrest-detention.yaml"
NEW_PHRASING = "kapow zorbleflux raid question"
ADMIN = 999


def _copy(tmp_path: Path) -> Settings:
    shutil.copytree(ROOT / "knowledge_base", tmp_path / "knowledge_base")
    shutil.copytree(ROOT / "bot", tmp_path / "bot")
    return Settings.from_env({"RIGHTSDESK_ADMINS": str(ADMIN)}, root=tmp_path)


def _add_phrasing(kb_dir: Path) -> None:
    path = kb_dir / II_7
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("questions:\n  en:\n", f"questions:\n  en:\n    - {NEW_PHRASING}\n", 1),
        encoding="utf-8",
    )


def _break(kb_dir: Path) -> None:
    path = kb_dir / II_7
    path.write_text(path.read_text(encoding="utf-8") + "\n  : [unclosed\n", encoding="utf-8")


@pytest.fixture(scope="module")
def desk_and_settings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Desk, Settings]:
    settings = _copy(tmp_path_factory.mktemp("content"))
    return Desk.load(settings), settings


def test_a_good_reload_puts_the_new_content_live(desk_and_settings) -> None:
    desk, settings = desk_and_settings
    asker = Asker(id=1)
    assert desk.answer(NEW_PHRASING, asker)[0].decision != "answer"
    before = desk.version
    _add_phrasing(settings.kb_dir)
    version = desk.reload()
    assert version != before and desk.version == version
    result, _ = desk.answer(NEW_PHRASING, asker)
    assert result.best is not None and result.best.entry.ref == "II.7"


def test_a_broken_file_keeps_the_old_content_and_names_file_and_line(desk_and_settings) -> None:
    desk, settings = desk_and_settings
    live = desk.version
    _break(settings.kb_dir)
    with pytest.raises(ReloadError) as raised:
        desk.reload()
    assert "ii-7-arbitrary-arrest-detention.yaml:" in str(raised.value)
    assert desk.version == live
    result, _ = desk.answer("can police detain someone just for using drugs", Asker(id=1))
    assert result.best is not None and result.best.entry.ref == "II.7"  # still serving


def test_admin_reload_command_reports_the_version_or_the_problem(desk_and_settings) -> None:
    desk, settings = desk_and_settings
    admin, stranger = Asker(id=ADMIN), Asker(id=5)
    failed = desk.command("reload", admin).blocks[0].text
    assert "Reload failed" in failed and desk.version in failed and ".yaml:" in failed
    unknown = desk.command("nosuchcommand", stranger).blocks[0].text
    assert desk.command("reload", stranger).blocks[0].text == unknown  # admins only
    shutil.copy(ROOT / "knowledge_base" / II_7, settings.kb_dir / II_7)
    done = desk.command("reload", admin).blocks[0].text
    assert done.startswith("Reloaded") and desk.version in done


def test_sighup_reloads_a_running_bot_and_tells_the_admin(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    settings = _copy(tmp_path)
    log = tmp_path / "bot.log"
    process = start_rightsdesk_run(
        fake_bot_api,
        tmp_path,
        log,
        RIGHTSDESK_ADMINS=str(ADMIN),
        RIGHTSDESK_KB=str(settings.kb_dir),
        RIGHTSDESK_MESSAGES=str(settings.messages_path),
    )
    try:
        fake_bot_api.send_text(4242, NEW_PHRASING)
        [first] = fake_bot_api.wait_for("sendMessage", count=1, timeout=60)
        assert "II.7" not in first.params["text"]
        _break(settings.kb_dir)
        process.send_signal(signal.SIGHUP)
        [failed] = fake_bot_api.wait_for(
            "sendMessage", count=1, predicate=lambda c: c.params["chat_id"] == ADMIN, timeout=60
        )
        assert "Reload failed" in failed.params["text"] and ".yaml:" in failed.params["text"]
        shutil.copy(ROOT / "knowledge_base" / II_7, settings.kb_dir / II_7)
        _add_phrasing(settings.kb_dir)
        process.send_signal(signal.SIGHUP)
        admin_texts = fake_bot_api.wait_for(
            "sendMessage", count=2, predicate=lambda c: c.params["chat_id"] == ADMIN, timeout=60
        )
        assert admin_texts[1].params["text"].startswith("Reloaded")
        fake_bot_api.send_text(4243, NEW_PHRASING)
        answer = fake_bot_api.wait_for(
            "sendMessage", count=1, predicate=lambda c: c.params["chat_id"] == 4243, timeout=30
        )[0]
        assert "II.7" in answer.params["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text(errors="replace")[-2000:]


def test_a_signed_update_is_pulled_installed_and_announced_to_the_admin(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    import base64
    import threading

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from bundle_factory import copy_content, raw_public
    from rightsdesk.kb_bundle import build_bundle
    from test_kb_updates import Served, _Handler, _Server

    kb_dir, messages_path = copy_content(tmp_path / "published")
    _add_phrasing(kb_dir)
    key = Ed25519PrivateKey.generate()
    build_bundle(kb_dir, messages_path, key, tmp_path / "kb.tar.gz")
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.served = Served(body=(tmp_path / "kb.tar.gz").read_bytes())
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    live = _copy(tmp_path / "live")
    log = tmp_path / "bot.log"
    process = start_rightsdesk_run(
        fake_bot_api,
        tmp_path,
        log,
        RIGHTSDESK_DB=str(tmp_path / "data" / "bot.db"),
        RIGHTSDESK_ADMINS=str(ADMIN),
        RIGHTSDESK_KB=str(live.kb_dir),
        RIGHTSDESK_MESSAGES=str(live.messages_path),
        RIGHTSDESK_KB_URL=f"http://127.0.0.1:{httpd.server_address[1]}/kb.tar.gz",
        RIGHTSDESK_KB_PUBLIC_KEY=base64.b64encode(raw_public(key)).decode(),
    )
    try:
        [told] = fake_bot_api.wait_for(
            "sendMessage", count=1, predicate=lambda c: c.params["chat_id"] == ADMIN, timeout=90
        )
        assert told.params["text"].startswith("Knowledge base update installed")
        fake_bot_api.send_text(4244, NEW_PHRASING)
        [answer] = fake_bot_api.wait_for(
            "sendMessage", count=1, predicate=lambda c: c.params["chat_id"] == 4244, timeout=30
        )
        assert "II.7" in answer.params["text"]  # the bundle's new phrasing is live
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        httpd.shutdown()
        httpd.server_close()
    assert process.returncode == 0, log.read_text(errors="replace")[-2000:]
    assert (live.kb_dir / II_7).read_text(encoding="utf-8").count(NEW_PHRASING) == 0
