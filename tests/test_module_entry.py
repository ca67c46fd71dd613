"""``python -m rightsdesk`` is the ``rightsdesk`` command, run from whichever code is on the
path: a worktree or ``PYTHONPATH=src`` checkout gets its own code, not the installed one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_python_m_rightsdesk_answers_like_the_command() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "rightsdesk", "ask", "--json", "can police detain me for using"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["matches"][0]["id"] == "ii-7-arbitrary-arrest-detention"
