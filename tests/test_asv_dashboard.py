"""End to end: asv builds the performance dashboard from a quick run over recent commits, and a
headless Chromium renders it (benchmark names in the DOM, a flot graph drawn, a non-blank screenshot).

Works on a clean clone of this repository's HEAD in a temporary directory, with
the project's real asv.conf.json: a virtualenv with the pinned NumPy and Numba
from the package registry, a wheel of each commit built and installed with pip.
Only two small benchmarks run (TwoLayerNet's training step and its speedup),
over the last (up to) two commits. The published pages get their JavaScript
from the npm registry (benchmarks/offline_html.py), since CI has no CDN access.

Skipped, with the reason, where asv, git, npm or Chromium is missing.
"""
import collections
import functools
import http.server
import importlib.util
import itertools
import json
import re
import math
import os
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE = "dashboard-test"
# Both impls of TwoLayerNet's step, and its speedup: quick, and in every commit's suite.
BENCH_REGEX = r"^bench_training\.TrainingStep(Time\.time_step|Speedup\.track_speedup_training)\('TwoLayerNet'"
GRAPHED = "bench_training.TrainingStepTime.time_step"
SPEEDUP = "bench_training.TrainingStepSpeedup.track_speedup_training"
WINDOW = (1200, 800)


def _chromium():
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


CHROMIUM = _chromium()
pytestmark = [
    pytest.mark.slow,  # builds asv environments and drives Chromium
    pytest.mark.skipif(importlib.util.find_spec("asv") is None,
                       reason="asv is not installed (pip install asv)"),
    pytest.mark.skipif(CHROMIUM is None,
                       reason="Chromium not found at /usr/bin/chromium or on PATH "
                              "(Debian: apt-get install -y chromium)"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(shutil.which("npm") is None,
                       reason="npm not found: the offline dashboard takes its scripts from the npm registry"),
]


def _run(cmd, cwd, env, timeout):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"{' '.join(map(str, cmd))} exited {done.returncode}\n"
                                  f"--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-6000:]}")
    return done.stdout


def _asv_env(home):
    """The environment for asv: its machine file in a scratch HOME, the user's download caches kept."""
    env = dict(os.environ)
    cache_home = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    env.setdefault("PIP_CACHE_DIR", os.path.join(cache_home, "pip"))
    env.setdefault("npm_config_cache", os.path.join(os.path.expanduser("~"), ".npm"))
    env["HOME"] = str(home)  # asv machine writes ~/.asv-machine.json
    # Benchmarks must import the fastscratch each commit installs, not a checkout on PYTHONPATH.
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """Clone, asv machine/run/publish, offline assets; yields (html_dir, commits, results of HEAD)."""
    tmp = tmp_path_factory.mktemp("asv-dashboard")
    repo = tmp / "repo"
    _run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)], tmp, None, 120)
    # asv publish graphs the branch "main": make it name HEAD even in a detached checkout.
    _run(["git", "checkout", "--quiet", "-B", "main"], repo, None, 60)
    commits = _run(["git", "rev-list", "--max-count=2", "HEAD"], repo, None, 60).split()
    (tmp / "hashes.txt").write_text("\n".join(commits) + "\n")

    env = _asv_env(tmp / "home")
    (tmp / "home").mkdir()
    asv = [sys.executable, "-m", "asv"]
    _run(asv + ["machine", "--yes", "--machine", MACHINE], repo, env, 120)
    _run(asv + ["run", "--quick", "--show-stderr", "--machine", MACHINE, "--bench", BENCH_REGEX,
                f"HASHFILE:{tmp / 'hashes.txt'}"], repo, env, 900)
    _run(asv + ["publish"], repo, env, 300)
    html = repo / ".asv" / "html"
    _run([sys.executable, "-m", "benchmarks.offline_html", str(html)], repo, env, 600)

    head = [p for p in (repo / ".asv" / "results" / MACHINE).glob(commits[0][:8] + "-*.json")]
    assert len(head) == 1, f"expected one results file for HEAD {commits[0][:8]}, got {head}"
    yield html, commits, json.loads(head[0].read_text())


@pytest.fixture(scope="module")
def server(dashboard):
    """http://127.0.0.1:<free port>/ serving the published dashboard (asv's pages load JSON by XHR)."""
    html = dashboard[0]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _chromium_cmd(tmp_path, *args):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=10000", *args]


def _dump_dom(tmp_path, url):
    done = subprocess.run(_chromium_cmd(tmp_path, "--dump-dom", url), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_results_recorded_for_head(dashboard):
    _, commits, results = dashboard
    assert results["commit_hash"] == commits[0]
    columns = results["result_columns"]
    for name in (GRAPHED, SPEEDUP):
        assert name in results["results"], f"{name} did not run at HEAD"
        row = dict(zip(columns, results["results"][name]))
        # One value per parameter combination; only TwoLayerNet's were selected to run.
        combos = list(itertools.product(*row["params"]))
        ran = [v for combo, v in zip(combos, row["result"]) if "'TwoLayerNet'" in combo]
        expected = sum("'TwoLayerNet'" in combo for combo in combos)
        assert expected > 0 and len(ran) == expected and all(v is not None and math.isfinite(v) and v > 0
                                                             for v in ran), \
            f"{name} has no result for TwoLayerNet at HEAD: {row['result']}"


def test_dashboard_pages_published(dashboard):
    html, commits, _ = dashboard
    index = json.loads((html / "index.json").read_text())
    assert GRAPHED in index["benchmarks"] and SPEEDUP in index["benchmarks"]
    assert index["project"] == "fastscratch"
    graphs = list((html / "graphs").rglob(GRAPHED + ".json"))
    assert graphs, "asv publish wrote no graph data for " + GRAPHED
    # The branch graph has a point per commit that ran (older ones may predate a benchmark).
    points = json.loads(graphs[0].read_text())
    assert 1 <= len(points) <= len(commits)
    assert "https://cdnjs" not in (html / "index.html").read_text(), "CDN scripts not replaced"


def test_summary_page_lists_the_benchmarks(dashboard, server, tmp_path):
    dom = _dump_dom(tmp_path, server)
    assert "continental origin of swallow" not in dom, "the dashboard's scripts failed to load"
    assert "fastscratch" in dom
    for name in ("TrainingStepTime.time_step", "TrainingStepSpeedup.track_speedup_training"):
        assert name in dom, f"{name} missing from the benchmark grid"


def test_graph_page_draws_a_plot(dashboard, server, tmp_path):
    # Select TwoLayerNet's two series in the URL, as the page's parameter buttons do
    # (by default asv shows every network with the first impl only).
    url = server + "#" + GRAPHED + "?p-network=%27TwoLayerNet%27&p-impl=%27reference%27&p-impl=%27kernels%27"
    dom = _dump_dom(tmp_path, url)
    assert "continental origin of swallow" not in dom, "the dashboard's scripts failed to load"
    assert GRAPHED in dom
    # flot draws on a base canvas and writes its tick labels and legend as HTML.
    assert dom.count('class="flot-base"') >= 1, "no flot canvas: the graph was not drawn"
    assert "flot-tick-label" in dom, "the graph has no axis tick labels"
    for series in ("impl-reference; network-TwoLayerNet", "impl-kernels; network-TwoLayerNet"):
        assert series in dom, (f"legend entry {series!r} missing; the page's entries: "
                               f"{sorted(set(re.findall(r'impl-[a-z]+; network-[A-Za-z]+', dom)))}")

    shot = tmp_path / "graph.png"
    done = subprocess.run(_chromium_cmd(tmp_path, f"--window-size={WINDOW[0]},{WINDOW[1]}",
                                        f"--screenshot={shot}", url),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-3000:]
    pixels = decode_png(shot.read_bytes())
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    colours = collections.Counter(map(tuple, pixels.reshape(-1, pixels.shape[2])[:, :3].tolist()))
    most_common_share = colours.most_common(1)[0][1] / (WINDOW[0] * WINDOW[1])
    assert len(colours) > 32, f"screenshot has only {len(colours)} colours"
    assert most_common_share < 0.97, f"screenshot is {most_common_share:.1%} one colour"
    # The plotted points and legend swatches are saturated colours; page text and axes are grey.
    rgb = pixels[:, :, :3].astype(int)
    saturated = int(np.count_nonzero(rgb.max(axis=2) - rgb.min(axis=2) > 80))
    assert saturated > 200, f"only {saturated} saturated pixels: no coloured series drawn"


def decode_png(data):
    """Pixels of an 8-bit, non-interlaced grey/RGB/RGBA PNG as a uint8 array of shape (H, W, channels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour_type)
    assert depth == 8 and channels and not interlace, f"unsupported PNG layout {header}"
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: running sum along each channel, modulo 256
            row = (np.cumsum(line.reshape(width, channels).astype(np.int64), axis=0) % 256)
            row = row.astype(np.uint8).reshape(stride)
        elif kind == 2:  # Up
            row = line + prev
        elif kind in (3, 4):  # Average, Paeth: each byte depends on the one decoded before it
            row = _unfilter_sequential(kind, line.tolist(), prev.tolist(), channels)
        else:
            raise AssertionError(f"bad PNG filter type {kind}")
        out[y] = row
        prev = out[y]
    return out.reshape(height, width, channels)


def _unfilter_sequential(kind, line, prev, bpp):
    row = [0] * len(line)
    for i, value in enumerate(line):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        if kind == 3:
            row[i] = (value + (a + b) // 2) & 0xFF
        else:
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[i] = (value + pred) & 0xFF
    return np.array(row, np.uint8)
