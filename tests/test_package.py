"""A real package (issue 18): the wheel carries everything `init`, `serve` and `migrate`
need. Built from the checkout, installed (not editable) into a fresh virtualenv with its
dependencies, and run from a directory that is not the checkout: `registry init` writes
the bootstrap password to a 0600 file only, `registry serve` answers `/readyz`, and its
API docs load nothing from an outside host.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310  (loopback, our own server)
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def test_the_wheel_installs_into_a_fresh_virtualenv_and_serves(tmp_path):
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("registry-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin/pip", "install", "-q", str(wheel)], check=True, capture_output=True)
    work.mkdir()
    where = subprocess.run(
        [venv / "bin/python", "-c", "import registry; print(registry.__file__)"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the installed package, not the checkout

    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {"REGISTRY_DATA_DIR": str(work / "data"), "REGISTRY_SCHEDULER_INTERVAL_S": "3600"}
    password_file = work / "bootstrap.txt"
    init = subprocess.run(
        [venv / "bin/registry", "init", "--password-file", str(password_file)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    username, password = password_file.read_text().split()
    assert username == "admin" and len(password) >= 12
    assert password not in init.stdout + init.stderr  # not in a log that captures the start
    again = subprocess.run(
        [venv / "bin/registry", "init", "--password-file", str(password_file)], cwd=work, env=env, capture_output=True
    )
    assert again.returncode == 2  # never over an existing file

    port = _free_port()
    server = subprocess.Popen(
        [venv / "bin/registry", "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.3)
            status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        assert '"database":"ok"' in body.replace(" ", "")
        status, page = _get(f"http://127.0.0.1:{port}/docs")
        assert status == 200
        assets = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', page)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        assert all(_get(f"http://127.0.0.1:{port}{a}")[0] == 200 for a in assets)
        token = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data=f"grant_type=password&username=admin&password={password}".encode(),
        )
        with urllib.request.urlopen(token, timeout=10) as r:  # noqa: S310
            assert r.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
