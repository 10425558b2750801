"""The benchmark works: `python -m bench.run --quick` measures both bots and every tap is
recorded exactly once. Timings are not asserted (this machine may be busy)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(45)
def test_quick_benchmark_measures_both_bots_and_records_every_tap_once(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    # Its own process group, so the bots it starts can be killed whatever happens.
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.run", "--quick", "--json", str(figures)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
        left_behind = _group_alive(proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    assert proc.returncode == 0, output
    assert not left_behind, "the benchmark left processes running"
    (section,) = json.loads(figures.read_text())["results"].values()
    (run,) = section["runs"]
    assert set(run) == {"labelgram", "bare"}
    for name, result in run.items():
        assert result["errors"] == 0, (name, result["error_detail"], result["problems"], output)
        assert result["correct"], (name, result["problems"], output)
        assert result["taps_measured"] > 0, (name, output)
        assert result["p99_ms"] is not None, (name, output)
        assert result["taps_acked"] == result["taps_total"] > 0, (name, result)
    ours = run["labelgram"]
    assert ours["answers_in_db"] == ours["taps_acked"]  # every acknowledged tap, exactly once
    assert section["ratio"]["taps_per_s"] is not None
    assert "| Labelgram |" in output
    assert "ours / bare" in output
