"""`kiln health`, the image's shell-free HEALTHCHECK probe: exit 0 only on HTTP 200; 1 (one line) when the server
answers anything else, refuses, or does not answer within --timeout; 2 (one line) for a malformed URL."""
import http.server
import socket
import subprocess
import threading
import time

import pytest


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/v2/health/ready" else 503
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def health(kiln_bin, *args):
    return subprocess.run([kiln_bin, "health", *args], capture_output=True, text=True, timeout=30)


def test_ready_is_exit_0(kiln_bin, server):
    r = health(kiln_bin, "--url", f"http://127.0.0.1:{server}/v2/health/ready")
    assert r.returncode == 0 and "answered HTTP 200" in r.stdout
    assert health(kiln_bin, "-q", "--url", f"http://localhost:{server}/v2/health/ready").stdout == ""


def test_not_ready_is_exit_1(kiln_bin, server):
    r = health(kiln_bin, "--url", f"http://127.0.0.1:{server}/v2/health/live-not")
    assert r.returncode == 1 and r.stderr.strip() == \
        f"kiln health: unhealthy: http://127.0.0.1:{server}/v2/health/live-not answered HTTP 503"


def test_refused_is_exit_1(kiln_bin):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = health(kiln_bin, "--url", f"http://127.0.0.1:{port}/")
    assert r.returncode == 1 and "cannot connect" in r.stderr and r.stderr.count("\n") == 1


def test_silent_server_times_out(kiln_bin):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)  # accepts (in the kernel) but never answers
    try:
        t0 = time.time()
        r = health(kiln_bin, "--timeout", "0.5", "--url", f"http://127.0.0.1:{s.getsockname()[1]}/v2/health/ready")
        assert r.returncode == 1 and "timed out" in r.stderr and time.time() - t0 < 5
    finally:
        s.close()


@pytest.mark.parametrize("url,message", [
    ("https://127.0.0.1:8000/", "URL must start with http://"),
    ("http://127.0.0.1:99999/", "bad port '99999'"),
    ("http://127.0.0.1:80a/", "bad port '80a'"),
    ("http://:8000/", "no host"),
    ("http://[::1/", "unterminated [IPv6] host"),
])
def test_bad_url_is_exit_2(kiln_bin, url, message):
    r = health(kiln_bin, "--url", url)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1
