"""A real Label Studio for the tests: installed once into a venv of its own, kept in a cache
and reused, started on 127.0.0.1 with a throwaway data directory.

The cache is ``$LABELGRAM_CACHE_DIR`` (default ``~/.cache/labelgram``; outside the repository,
so worktrees and CI runs share it). The first run installs ``label-studio`` from PyPI (about a
gigabyte) and migrates an empty database once, kept as a template; a server then starts in
seconds on a copy of it. Parallel runs wait on a file lock for the one install.

Regenerate the Label Studio exports under tests/data/ (see :func:`make_data`) with
``.venv/bin/python -m tests.labelstudio``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

VERSION = "1.23.2"
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
INSTALL_TIMEOUT = 1800  # seconds: a gigabyte of wheels on a slow CI network
START_TIMEOUT = 300  # seconds: Django and Label Studio's apps on a busy two-core machine
USER = "labelgram@example.com"
# Prediction validation on import (LabelInterface.validate_prediction): behind a flag that is
# off in 1.23 by default; on here, so a prediction that does not fit the config is refused.
VALIDATE_PREDICTIONS = "fflag_feat_utc_210_prediction_validation_15082025"
_LISTENING = re.compile(r"Starting development server at http://127\.0\.0\.1:(\d+)/")
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


class Unavailable(Exception):
    """Label Studio could not be installed or started (the message says what and where)."""


def cache_dir() -> Path:
    explicit = os.environ.get("LABELGRAM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labelgram"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: Label Studio reads many bare names (HOST, PORT, DEBUG, CI, …) that
    a CI machine may set, so only the basics are passed on, and every outbound call it would
    make (version check on PyPI, Sentry, analytics) is turned off."""
    env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
    env.update(
        PYTHONUNBUFFERED="1",
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_SENTRY_DSN="",
        LABEL_STUDIO_FRONTEND_SENTRY_DSN="",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        LABEL_STUDIO_FEATURE_FLAGS_OFFLINE="true",
    )
    env.update(extra)
    return env


def install(cache: Path | None = None) -> Path:
    """The folder of a ready Label Studio: its venv and a migrated empty database. Made the
    first time (under a lock: one install, any number of waiting runs), then reused."""
    cache = cache or cache_dir()
    home = cache / f"label-studio-{VERSION}-py{sys.version_info.major}{sys.version_info.minor}"
    ready = home / "ready"
    if ready.exists():
        return home
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / f"{home.name}.log"
    with (cache / f"{home.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if ready.exists():
            return home
        shutil.rmtree(home, ignore_errors=True)  # what a run that died half-way left
        venv = home / "venv"
        template = home / "template"
        template.mkdir(parents=True)
        with log.open("w") as out:
            steps: list[tuple[str, list[str], dict[str, str] | None]] = [
                ("create the venv", [sys.executable, "-m", "venv", str(venv)], None),
                (
                    f"pip install label-studio=={VERSION}",
                    [
                        str(venv / "bin" / "python"),
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        f"label-studio=={VERSION}",
                    ],
                    None,
                ),
                (
                    # `version` applies the migrations to the data dir's database and exits.
                    "migrate an empty database",
                    [str(venv / "bin" / "label-studio"), "version"],
                    _server_env(template),
                ),
            ]
            for what, command, env in steps:
                out.write(f"$ {' '.join(command)}\n")
                out.flush()
                try:
                    done = subprocess.run(  # noqa: S603 (our own fixed command)
                        command,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=template,
                        timeout=INSTALL_TIMEOUT,
                        check=False,
                    )
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise Unavailable(f"Label Studio: could not {what}: {exc}; log {log}") from exc
                if done.returncode != 0:
                    raise Unavailable(
                        f"Label Studio: could not {what} (exit {done.returncode}); "
                        f"log {log}, ending:\n{_tail(log)}"
                    )
        if not (template / "label_studio.sqlite3").exists():
            raise Unavailable(f"Label Studio made no database in {template}; log {log}")
        ready.write_text(f"label-studio {VERSION}\n")
    return home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running Label Studio with one user, who is the owner of its organisation."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, token: str, log: Path):
        self.process = process
        self.url = url
        self.token = token
        self.log = log

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=120
        )


@contextlib.contextmanager
def running(home: Path, data_dir: Path) -> Iterator[Server]:
    """Start Label Studio on a free port with ``data_dir`` (a copy of the migrated template);
    wait for its health endpoint; stop it afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(home / "template" / "label_studio.sqlite3", data_dir / "label_studio.sqlite3")
    token = secrets.token_hex(20)  # a legacy API token (40 characters at most)
    port = _free_port()
    log = data_dir / "server.log"
    env = _server_env(
        data_dir,
        LABEL_STUDIO_USERNAME=USER,
        LABEL_STUDIO_PASSWORD=secrets.token_urlsafe(12),
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        **{VALIDATE_PREDICTIONS: "true"},
    )
    command = [
        str(home / "venv" / "bin" / "label-studio"),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enable-legacy-api-token",
    ]
    with log.open("wb") as out:
        try:
            process = subprocess.Popen(  # noqa: S603 (our own fixed command)
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=data_dir,
                start_new_session=True,  # its own process group, stopped as one
            )
        except OSError as exc:
            raise Unavailable(f"Label Studio did not start: {exc}") from exc
    try:
        url = _wait_until_up(process, log, token)
        yield Server(process, url, token, log)
    finally:
        _stop(process)


def _wait_until_up(process: subprocess.Popen[bytes], log: Path, token: str) -> str:
    """The server's URL once /health/ answers and the token is accepted (it may take another
    port if the one given was taken meanwhile: the log says which)."""
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=5) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise Unavailable(
                    f"Label Studio exited with {process.returncode} while starting; "
                    f"log {log}, ending:\n{_tail(log)}"
                )
            found = _LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
            if found:
                url = f"http://127.0.0.1:{found[1]}"
                try:
                    health = http.get(f"{url}/health/")
                    if health.status_code == 200 and health.json().get("status") == "UP":
                        me = http.get(
                            f"{url}/api/current-user/whoami",
                            headers={"Authorization": f"Token {token}"},
                        )
                        if me.status_code == 200 and me.json().get("email") == USER:
                            return url
                except (httpx.HTTPError, ValueError):
                    pass  # not answering yet
            time.sleep(0.2)  # polling a condition, with a deadline
    raise Unavailable(
        f"Label Studio was not up after {START_TIMEOUT} s; log {log}, ending:\n{_tail(log)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


_BUILD_REGIONS = """
import json, sys
from label_studio_sdk.label_interface import LabelInterface
out = []
for config, control, label in json.load(sys.stdin):
    region = LabelInterface(config).get_control(control).label(label).to_json()
    region = json.loads(region) if isinstance(region, str) else region
    region.pop("id", None)
    out.append(region)
json.dump(out, sys.stdout)
"""


def regions(home: Path, wanted: list[tuple[str, str, Any]]) -> list[dict[str, Any]]:
    """The results Label Studio's own SDK builds for ``(labeling config, control, label)``:
    what an annotation made in Label Studio itself holds."""
    done = subprocess.run(  # noqa: S603 (our own fixed command)
        [str(home / "venv" / "bin" / "python"), "-c", _BUILD_REGIONS],
        input=json.dumps(wanted),
        capture_output=True,
        text=True,
        env=_server_env(home / "template"),
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise Unavailable(f"Label Studio's SDK failed: {done.stderr[-2000:]}")
    return list(json.loads(done.stdout))


# ------------------------------------------------------------------------------------------
# The Label Studio exports kept under tests/data/


SENTIMENT_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>"""

SENTIMENT_TASKS: list[dict[str, Any]] = [
    {
        "data": {"text": "The screen is bright and sharp", "source": "shop"},
        "predictions": [
            {
                "model_version": "sentiment-v1",
                "score": 0.91,
                "result": [
                    {
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Positive"]},
                    }
                ],
            }
        ],
        "annotations": [
            {
                "result": [
                    {
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Positive"]},
                    }
                ],
                "ground_truth": False,
            }
        ],
    },
    {
        "data": {"text": "电池一天就没电了", "source": "forum"},
        "predictions": [
            {
                "model_version": "sentiment-v1",
                "score": 0.62,
                "result": [
                    {
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["Negative"]},
                    }
                ],
            }
        ],
    },
    {"data": {"text": "Arrived on Tuesday", "source": "shop"}},
]


async def make_data(server: Server) -> dict[str, bytes]:
    """Label Studio's two JSON exports of a small sentiment project (three tasks, two with a
    prediction, one annotated): the default one (``GET /api/projects/{id}/export``, predictions
    listed by id) and a snapshot with the predictions in full (``POST .../exports`` with
    ``predictions.only_id = false``). File name -> bytes, as Label Studio sent them."""
    async with server.client() as api:
        made = await api.post(
            "/api/projects", json={"title": "Sentiment", "label_config": SENTIMENT_CONFIG}
        )
        made.raise_for_status()
        project = made.json()["id"]
        (
            await api.post(f"/api/projects/{project}/import", json=SENTIMENT_TASKS)
        ).raise_for_status()
        default = await api.get(
            f"/api/projects/{project}/export",
            params={"exportType": "JSON", "download_all_tasks": "true"},
        )
        default.raise_for_status()
        snapshot = await api.post(
            f"/api/projects/{project}/exports",
            json={
                "title": "full predictions",
                "serialization_options": {"predictions": {"only_id": False}},
            },
        )
        snapshot.raise_for_status()
        export_id = snapshot.json()["id"]
        full = await api.get(
            f"/api/projects/{project}/exports/{export_id}/download", params={"exportType": "JSON"}
        )
        full.raise_for_status()
    return {
        "labelstudio-export.json": default.content,
        "labelstudio-export-full.json": full.content,
    }


def _main() -> None:
    import asyncio
    import tempfile

    home = install()
    with tempfile.TemporaryDirectory() as folder, running(home, Path(folder)) as server:
        files = asyncio.run(make_data(server))
    DATA.mkdir(exist_ok=True)
    for name, body in files.items():
        (DATA / name).write_bytes(body)
        sys.stderr.write(f"wrote tests/data/{name} ({len(body)} bytes)\n")


if __name__ == "__main__":
    _main()
