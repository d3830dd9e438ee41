"""A small Hugging Face Hub on loopback: just the endpoints `huggingface_hub` calls to create a repo,
upload a folder (preupload, LFS basic transfer, commit) and download files, plus gated and missing
repos. Tests point the library at it (HF_ENDPOINT) and then inspect what arrived.

It follows the Hub's HTTP contract as `huggingface_hub` reads it (status codes, `X-Error-Code`
headers, JSON bodies); it is not a reimplementation of the Hub's rules beyond what the tests need.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")  # the Hub's default .gitattributes sends these to LFS


@dataclass
class Repo:
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)  # commit messages, oldest first
    lfs_paths: set[str] = field(default_factory=set)


class FakeHub:
    """`with FakeHub(tokens={"tok": "alice"}) as hub:` ... `hub.url`, `hub.repos[("model", "alice/x")]`."""

    def __init__(self, tokens: dict[str, str] | None = None, orgs: dict[str, set[str]] | None = None):
        self.tokens = tokens or {}  # token -> user name
        self.orgs = orgs or {}  # org -> members
        self.repos: dict[tuple[str, str], Repo] = {}
        self.gated: set[str] = set()  # model ids that answer GatedRepo to everyone
        self.taken: dict[str, str] = {}  # repo id -> the type that holds the name (create_repo answers 409)
        self.lfs: dict[str, bytes] = {}  # oid -> bytes uploaded through the LFS basic transfer
        self.requests: list[str] = []  # "METHOD path", in order
        self._lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def user_of(self, auth: str | None) -> str | None:
        if not auth or not auth.startswith("Bearer "):
            return None
        return self.tokens.get(auth.removeprefix("Bearer ").strip())

    def can_write(self, user: str | None, namespace: str) -> bool:
        return user is not None and (namespace == user or user in self.orgs.get(namespace, set()))


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # --- plumbing ----------------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, code: str | None = None, **extra) -> None:
        headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
        self._send(status, {"error": message, **extra}, headers)

    def _route(self, routes) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.hub._lock:
            self.hub.requests.append(f"{self.command} {path}")
        for pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match:
                return handler(*match.groups())
        self._error(404, f"no route for {self.command} {path}")

    def do_GET(self):
        self._route([(r"/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?", self.repo_info),
                     (r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.resolve)])

    do_HEAD = do_GET

    def do_POST(self):
        self._route([(r"/api/repos/create", self.create_repo),
                     (r"/api/validate-yaml", self.validate_yaml),
                     (r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/preupload/([^/]+)", self.preupload),
                     (r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/commit/([^/]+)", self.commit),
                     (r"/(?:datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", self.lfs_batch),
                     (r"/lfs-verify", self.lfs_verify)])

    def do_PUT(self):
        self._route([(r"/lfs-upload/([0-9a-f]{64})", self.lfs_upload)])

    # --- endpoints ---------------------------------------------------------------------------------
    def create_repo(self):
        user = self.hub.user_of(self.headers.get("Authorization"))
        if user is None:
            return self._error(401, "Invalid credentials in Authorization header")
        payload = json.loads(self._body())
        namespace = payload.get("organization") or user
        repo_id, repo_type = f"{namespace}/{payload['name']}", payload.get("type") or "model"
        if not self.hub.can_write(user, namespace):
            return self._error(403, f"You don't have the rights to create a {repo_type} under the namespace \"{namespace}\"")
        # A 409 carries the existing repo's URL, which create_repo(exist_ok=True) returns.
        if (repo_type, repo_id) in self.hub.repos:
            return self._error(409, f"You already created this {repo_type} repo", url=f"{self.hub.url}/{repo_id}")
        if self.hub.taken.get(repo_id, repo_type) != repo_type:
            return self._error(409, f"A {self.hub.taken[repo_id]} repository named {repo_id} already exists",
                               url=f"{self.hub.url}/{self.hub.taken[repo_id]}s/{repo_id}")
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self.hub.repos[(repo_type, repo_id)] = Repo(repo_type, private)
        self._send(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def repo_info(self, repo_id):
        repo = self._readable("model", repo_id)
        if repo is not None:
            self._send(200, {"id": repo_id, "sha": _sha(repo), "private": repo.private, "siblings": [
                {"rfilename": name} for name in sorted(repo.files)]})

    def _readable(self, repo_type: str, repo_id: str) -> Repo | None:
        if repo_id in self.hub.gated:
            self._error(403, f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in.", "GatedRepo")
            return None
        repo = self.hub.repos.get((repo_type, repo_id))
        user = self.hub.user_of(self.headers.get("Authorization"))
        if repo is None or (repo.private and not self.hub.can_write(user, repo_id.split("/")[0])):
            self._error(404, "Repository not found", "RepoNotFound")
            return None
        return repo

    def resolve(self, repo_id, revision, filename):
        repo = self._readable("model", repo_id)
        if repo is None:
            return
        if filename not in repo.files:
            return self._error(404, "Entry not found", "EntryNotFound")
        content = repo.files[filename]
        etag = hashlib.sha256(content).hexdigest() if filename in repo.lfs_paths else _git_sha(content)
        self._send(200, raw=content, headers={"ETag": f'"{etag}"', "X-Repo-Commit": _sha(repo)})

    def validate_yaml(self):
        payload = json.loads(self._body())
        errors = []
        content = payload.get("content", "")
        if content.startswith("---"):
            import yaml

            try:
                yaml.safe_load(content.split("---")[1])
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML metadata: {err}"})
        self._send(400 if errors else 200, {"errors": errors, "warnings": []})

    def preupload(self, kind, repo_id, revision):
        repo = self._writable(kind, repo_id)
        if repo is None:
            return
        files = json.loads(self._body())["files"]
        modes = [{"path": f["path"], "shouldIgnore": False, "oid": None,
                  "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"} for f in files]
        self._send(200, {"files": modes, "commitOid": _sha(repo)})

    def _writable(self, kind: str, repo_id: str) -> Repo | None:
        user = self.hub.user_of(self.headers.get("Authorization"))
        repo = self.hub.repos.get((kind.rstrip("s"), repo_id))
        if repo is None:
            self._error(404, "Repository not found", "RepoNotFound")
            return None
        if not self.hub.can_write(user, repo_id.split("/")[0]):
            self._error(403, "You don't have write access to this repo")
            return None
        return repo

    def lfs_batch(self, repo_id):
        payload = json.loads(self._body())
        objects = [{"oid": o["oid"], "size": o["size"], "authenticated": True, "actions": {
            "upload": {"href": f"{self.hub.url}/lfs-upload/{o['oid']}"},
            "verify": {"href": f"{self.hub.url}/lfs-verify"}}} for o in payload["objects"]]
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, oid):
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            return self._error(400, "sha256 of the uploaded bytes does not match the oid")
        self.hub.lfs[oid] = data
        self._send(200, {})

    def lfs_verify(self):
        payload = json.loads(self._body())
        stored = self.hub.lfs.get(payload["oid"])
        if stored is None or len(stored) != payload["size"]:
            return self._error(404, "object not uploaded")
        self._send(200, {})

    def commit(self, kind, repo_id, revision):
        repo = self._writable(kind, repo_id)
        if repo is None:
            return
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "header":
                repo.commits.append(value["summary"])
            elif key == "file":
                repo.files[value["path"]] = base64.b64decode(value["content"])
                repo.lfs_paths.discard(value["path"])
            elif key == "lfsFile":
                if value["oid"] not in self.hub.lfs:
                    return self._error(422, f"LFS object {value['oid']} was never uploaded")
                repo.files[value["path"]] = self.hub.lfs[value["oid"]]
                repo.lfs_paths.add(value["path"])
        oid = _sha(repo)
        self._send(200, {"commitUrl": f"{self.hub.url}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None})


def _git_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _sha(repo: Repo) -> str:
    """A commit id that changes with every commit (40 hex digits, as the Hub's)."""
    return hashlib.sha1("\0".join(repo.commits).encode()).hexdigest()


def point_hub_at(monkeypatch, url: str, cache) -> None:
    """What HF_ENDPOINT=url does at import time, for a library already imported in this process:
    every Hub request goes to `url`, and downloads land in `cache` rather than the user's."""
    from huggingface_hub import constants, hf_api

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(hf_api.api, "endpoint", url)  # the module-level HfApi behind file_exists() & co.
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
