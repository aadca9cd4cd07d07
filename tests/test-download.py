#!/usr/bin/python3
"""Tests of data/naclip-download-model against a local stand-in for the
Hugging Face Hub (no network needed): the Hub's headers (302 to a CDN with
X-Linked-Size / X-Linked-Etag for LFS files, the git blob id as ETag for
small files), HTTP Range resumption, checksum failures, re-runs and the
offline message. Prints TAP.

    test-download.py HELPER
"""

import hashlib
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading

HELPER = sys.argv[1]
REPOS = ("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16",
         "openai/clip-vit-large-patch14")

FILES = {
    "config.json": b'{"model_type": "clip"}\n',
    "merges.txt": b"#version: 0.2\n" + b"a b\n" * 1000,
    # LFS file: big enough for several 1 MiB reads.
    "model.safetensors": bytes(range(256)) * (3 * 4096 + 17),
}
LFS = {"model.safetensors"}


class Hub(http.server.BaseHTTPRequestHandler):
    # Set per test by the server object.
    def log_message(self, *args):
        pass

    def _file(self):
        for repo in REPOS:
            prefix = f"/{repo}/resolve/main/"
            if self.path.startswith(prefix):
                return self.path[len(prefix):], False
        if self.path.startswith("/cdn/"):
            return self.path[len("/cdn/"):], True
        return None, False

    def _announce(self, name):
        data = FILES[name]
        if name in LFS:
            self.send_response(302)
            self.send_header("Location", f"/cdn/{name}")
            self.send_header("X-Linked-Size", str(len(data)))
            sha = self.server.announced.get(name) or \
                hashlib.sha256(data).hexdigest()
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def do_HEAD(self):
        name, _ = self._file()
        self.server.log.append(("HEAD", self.path, None))
        if name not in FILES:
            self.send_error(404)
            return
        if self._announce(name):
            return
        data = FILES[name]
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        self.send_response(200)
        self.send_header("ETag", f'"{blob}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_GET(self):
        name, cdn = self._file()
        rng = self.headers.get("Range")
        self.server.log.append(("GET", self.path, rng))
        if name not in FILES:
            self.send_error(404)
            return
        if not cdn and self._announce(name):
            return
        data = self.server.served.get(name, FILES[name])
        start = 0
        if rng and self.server.ranges:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range",
                             f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


def start_hub(ranges=True, served=None, announced=None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    srv.log, srv.ranges = [], ranges
    srv.served, srv.announced = served or {}, announced or {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def run(endpoint, dest, *extra):
    # The stand-in listens on 127.0.0.1: never go through a proxy.
    env = dict(os.environ, no_proxy="127.0.0.1,localhost",
               NO_PROXY="127.0.0.1,localhost")
    return subprocess.run(
        [sys.executable, HELPER, "--dir", dest, "--endpoint", endpoint,
         "--timeout", "5", *extra],
        capture_output=True, text=True, timeout=120, env=env)


n = 0
failed = 0


def check(ok, what, detail=""):
    global n, failed
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {what}")
    if not ok:
        failed += 1
        for line in str(detail).splitlines():
            print(f"# {line}")


def files_ok(dest):
    for name, data in FILES.items():
        p = os.path.join(dest, name)
        if not os.path.exists(p) or open(p, "rb").read() != data:
            return False
    return not any(f.endswith(".part") for f in os.listdir(dest))


with tempfile.TemporaryDirectory() as tmp:
    # 1. Offline: nothing listens on the port.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    r = run(closed, os.path.join(tmp, "offline"))
    check(r.returncode == 3 and "cannot reach" in r.stderr
          and "naclip-download-model again" in r.stderr,
          "offline: exit status 3 and a message saying what to do",
          f"status {r.returncode}\n{r.stderr}")

    # 2. A full download, checked against the announced hashes.
    srv, url = start_hub()
    dest = os.path.join(tmp, "full")
    r = run(url, dest)
    sums = open(os.path.join(dest, "SHA256SUMS")).read() \
        if os.path.exists(os.path.join(dest, "SHA256SUMS")) else ""
    check(r.returncode == 0 and files_ok(dest)
          and "SHA-256 matches the Hub" in r.stdout
          and "git blob id matches the Hub" in r.stdout,
          "download: files complete, LFS hash and git blob ids checked",
          r.stdout + r.stderr)
    check(all(f"{hashlib.sha256(d).hexdigest()} {len(d)} {k}" in sums
              for k, d in FILES.items()),
          "SHA256SUMS records every file", sums)

    # 3. A second run downloads nothing.
    srv.log.clear()
    r = run(url, dest, "--verify")
    check(r.returncode == 0 and not any(m == "GET" for m, _, _ in srv.log)
          and r.stdout.count("present") == 3,
          "re-run: files present and verified, no GET", r.stdout + str(srv.log))

    # 4. A file that no longer matches SHA256SUMS is fetched again.
    with open(os.path.join(dest, "config.json"), "ab") as f:
        f.write(b" ")
    r = run(url, dest)
    check(r.returncode == 0 and files_ok(dest)
          and "does not match SHA256SUMS" in r.stderr,
          "a damaged file is downloaded again", r.stdout + r.stderr)
    srv.shutdown()

    # 5. Resume: half of the model is already in the part file.
    srv, url = start_hub()
    dest = os.path.join(tmp, "resume")
    os.makedirs(dest)
    half = len(FILES["model.safetensors"]) // 2
    with open(os.path.join(dest, ".model.safetensors.part"), "wb") as f:
        f.write(FILES["model.safetensors"][:half])
    r = run(url, dest)
    ranges = [rng for m, p, rng in srv.log
              if m == "GET" and p.startswith("/cdn/") and rng]
    check(r.returncode == 0 and files_ok(dest)
          and ranges == [f"bytes={half}-"],
          "resume: one Range request from the part file's size",
          f"{r.stdout}{r.stderr}{srv.log}")
    srv.shutdown()

    # 6. A server without Range support: the part file is restarted.
    srv, url = start_hub(ranges=False)
    dest = os.path.join(tmp, "norange")
    os.makedirs(dest)
    with open(os.path.join(dest, ".model.safetensors.part"), "wb") as f:
        f.write(b"\xff" * half)
    r = run(url, dest)
    check(r.returncode == 0 and files_ok(dest)
          and "does not resume" in r.stderr,
          "no Range support: starts again and succeeds", r.stdout + r.stderr)
    srv.shutdown()

    # 7. Corrupt content: the hash differs from the announced one.
    bad = bytearray(FILES["model.safetensors"])
    bad[1000] ^= 1
    srv, url = start_hub(served={"model.safetensors": bytes(bad)})
    dest = os.path.join(tmp, "corrupt")
    r = run(url, dest)
    check(r.returncode == 1 and "differs from the Hub's" in r.stderr
          and not os.path.exists(os.path.join(dest, "model.safetensors"))
          and not os.path.exists(
              os.path.join(dest, ".model.safetensors.part")),
          "corrupt download: exit 1, nothing left behind",
          f"status {r.returncode}\n{r.stderr}")
    srv.shutdown()

    # 8. A small file whose content differs from its git blob id.
    merges = bytearray(FILES["merges.txt"])
    merges[-2:-1] = b"c"
    srv, url = start_hub(served={"merges.txt": bytes(merges)})
    r = run(url, os.path.join(tmp, "blob"))
    check(r.returncode == 1 and "git blob id differs" in r.stderr,
          "small file with a wrong git blob id: exit 1", r.stderr)
    srv.shutdown()

    # 9. --print-dir follows XDG_DATA_HOME.
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(tmp, "xdg"))
    r = subprocess.run([sys.executable, HELPER, "--print-dir"],
                       capture_output=True, text=True, env=env)
    check(r.stdout.strip() == os.path.join(
        tmp, "xdg", "naclipseg", "models", "clip-vit-base-patch16"),
        "default directory is $XDG_DATA_HOME/naclipseg/models/"
        "clip-vit-base-patch16", r.stdout)

    # 10. --model picks the repository and the default directory; --list
    # gives each model's size and SHA-256 as the Hub announces them.
    srv, url = start_hub()
    r = subprocess.run(
        [sys.executable, HELPER, "--model", "clip-vit-base-patch32",
         "--endpoint", url, "--timeout", "5"],
        capture_output=True, text=True, timeout=120,
        env=dict(env, no_proxy="127.0.0.1", NO_PROXY="127.0.0.1"))
    dest = os.path.join(tmp, "xdg", "naclipseg", "models",
                        "clip-vit-base-patch32")
    check(r.returncode == 0 and files_ok(dest)
          and any(p.startswith("/openai/clip-vit-base-patch32/")
                  for _, p, _ in srv.log),
          "--model clip-vit-base-patch32: its repository, its directory",
          r.stdout + r.stderr)
    r = subprocess.run(
        [sys.executable, HELPER, "--list", "--endpoint", url, "--timeout",
         "5"], capture_output=True, text=True, timeout=120,
        env=dict(env, no_proxy="127.0.0.1", NO_PROXY="127.0.0.1"))
    data = FILES["model.safetensors"]
    announced = (f"model.safetensors: {len(data)} bytes, SHA-256 "
                 f"{hashlib.sha256(data).hexdigest()}")
    check(r.returncode == 0 and r.stdout.count(announced) == 3
          and all(repo in r.stdout for repo in REPOS)
          and "clip-vit-base-patch16 (default)" in r.stdout
          and f"downloaded, SHA-256 {hashlib.sha256(data).hexdigest()}"
          in r.stdout,
          "--list: three models, the Hub's size and SHA-256, what is here",
          r.stdout + r.stderr)
    srv.shutdown()
    r = subprocess.run([sys.executable, HELPER, "--list", "--endpoint",
                        closed, "--timeout", "5"], capture_output=True,
                       text=True, env=env)
    check(r.returncode == 0 and "about 1.71 GB" in r.stdout
          and "sizes are approximate" in r.stderr,
          "--list offline: approximate sizes, said so", r.stdout + r.stderr)

print(f"1..{n}")
sys.exit(1 if failed else 0)
