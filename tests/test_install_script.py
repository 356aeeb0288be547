"""scripts/install.sh: apt waits for a dpkg/apt lock held by another process instead of failing at once.

apt-get is replaced by a script on PATH that answers as apt does while another process holds the lock.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"


@pytest.fixture
def fake_apt(tmp_path):
    """An apt-get that fails with ``$FAKE_APT_FIRST`` (a message) for the first ``$FAKE_APT_FAILURES`` calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "apt-get"
    script.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {tmp_path}/calls
if [[ $(wc -l < {tmp_path}/calls) -le ${{FAKE_APT_FAILURES:-0}} ]]; then
  echo "$FAKE_APT_FIRST" >&2
  exit 100
fi
echo "installed"
""")
    script.chmod(0o755)
    return tmp_path


def _apt_get(fake_apt: Path, *, failures: int, message: str = LOCKED, wait: int = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{fake_apt / 'bin'}:{os.environ['PATH']}", "FAKE_APT_FAILURES": str(failures),
           "FAKE_APT_FIRST": message, "APT_LOCK_WAIT": str(wait), "APT_LOCK_POLL": "0"}
    return subprocess.run(["bash", "-c", "source scripts/install.sh && apt_get install -y -qq redis-server"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def _calls(fake_apt: Path) -> list[str]:
    path = fake_apt / "calls"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.skipif(os.geteuid() != 0, reason="runs apt-get directly only as root (else through sudo)")
def test_apt_get__waits_while_another_process_holds_the_lock(fake_apt):
    result = _apt_get(fake_apt, failures=2)
    assert result.returncode == 0, result.stderr
    calls = _calls(fake_apt)
    assert len(calls) == 3
    assert all(call.startswith("-o DPkg::Lock::Timeout=30 install -y -qq redis-server") for call in calls)
    assert "holds the package lock: waiting" in result.stdout and "installed" in result.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="runs apt-get directly only as root (else through sudo)")
def test_apt_get__gives_up_with_apts_message_when_the_wait_is_over(fake_apt):
    result = _apt_get(fake_apt, failures=99, wait=0)
    assert result.returncode == 100
    assert LOCKED in result.stderr and len(_calls(fake_apt)) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="runs apt-get directly only as root (else through sudo)")
def test_apt_get__other_failures_fail_at_once(fake_apt):
    result = _apt_get(fake_apt, failures=99, message="E: Unable to locate package redis-server")
    assert result.returncode == 100
    assert "Unable to locate package" in result.stderr and len(_calls(fake_apt)) == 1
