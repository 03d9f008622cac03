"""A FAKE Hugging Face Hub on loopback, for tests only. It is not the Hub and not a Hub implementation.

No Hub-compatible server that accepts pushes can be installed here (olah is read-only, KohakuHub needs
docker), so the publishing tests run the real ``huggingface_hub`` client and the real ``Trainer``
against this small HTTP server instead: they talk to it over TCP on 127.0.0.1 through ``HF_ENDPOINT``
or an ``endpoint=`` argument, with nothing in the client patched.

It speaks the subset of the Hub's HTTP API that huggingface_hub 2.4 uses to create a repo, push a folder
and download it again, read from the client's own code (hf_api.py, _commit_api.py, lfs.py,
file_download.py, _snapshot_download.py):

    POST /api/repos/create                               create_repo (409 + url when it exists)
    POST /api/validate-yaml                              README.md metadata check before a commit
    GET  /api/whoami-v2                                  whoami
    POST /api/models/{repo}/preupload/{rev}              regular or LFS, and the remote oid of each file
    POST /{repo}.git/info/lfs/objects/batch              LFS batch API (basic transfer)
    PUT  /lfs-upload/{oid}                               the "presigned" upload URL the batch hands out
    POST /{repo}.git/info/lfs/objects/verify             LFS verify action
    POST /api/models/{repo}/commit/{rev}                 NDJSON commit (file, lfsFile, deletedFile/Folder)
    GET  /api/models/{repo}[/revision/{rev}]             model_info / repo_info
    GET  /api/models/{repo}/tree/{rev}[/{path}]          list_repo_tree (recursive or not)
    POST /api/models/{repo}/paths-info/{rev}             get_paths_info
    HEAD|GET /{repo}/resolve/{rev}/{path}                file metadata headers and file download

Xet storage is not spoken: clients must run with ``HF_HUB_DISABLE_XET=1``, which makes huggingface_hub
take its plain LFS upload path (with hf_xet installed it otherwise always uploads through Xet), and
downloads take the plain HTTP path because no ``X-Xet-Hash`` header is ever sent.

Simplifications, stated so nobody mistakes this for the Hub: one branch (``main``); model repos only;
LFS files are served directly instead of through a CDN redirect; no rate limits, no pull requests.
Metadata validation is stricter than needed on purpose (metric values must be finite numbers).
Anything it does not know is answered 404 and recorded in ``unhandled``, so a test can assert that the
client never needed more than this.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

# The Hub's default .gitattributes: files matching these go through LFS, as do binary or large files.
LFS_PATTERNS = (
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.mlmodel", "*.model",
    "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth",
    "*.rar", "*.safetensors", "*.tar.*", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
)  # fmt: skip
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()
PIPELINE_TAGS = {"text-classification", "token-classification", "fill-mask", "feature-extraction"}
INVALID_TOKEN = "Invalid credentials in Authorization header"


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    @property
    def oid(self) -> str:
        """The git blob id: of the pointer file for LFS files, as git stores it."""
        return git_blob_oid(self.pointer if self.lfs else self.data)

    @property
    def remote_oid(self) -> str:
        """What preupload reports and the client compares with its local oid (sha256 for LFS, sha1 otherwise)."""
        return self.sha256 if self.lfs else git_blob_oid(self.data)


@dataclass
class Commit:
    oid: str
    title: str
    files: dict[str, StoredFile]
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[Commit] = field(default_factory=list)

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def at(self, revision: str) -> Commit | None:
        if revision == "main":
            return self.head
        return next((commit for commit in self.commits if commit.oid == revision), None)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def check_metadata(readme: str) -> list[str]:
    """Errors in a README's YAML metadata, checked the way the Hub rejects a bad model card."""
    if not readme.startswith("---"):
        return []
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme, re.S)
    if match is None:
        return ["the metadata block is not closed by a '---' line"]
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        return [f"metadata is not valid YAML: {error}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["metadata must be a mapping"]
    errors = []
    for key in ("license", "library_name", "pipeline_tag"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(f'"{key}" must be a string')
    if "pipeline_tag" in meta and meta["pipeline_tag"] not in PIPELINE_TAGS:
        errors.append(f'"pipeline_tag" {meta["pipeline_tag"]!r} is not a known pipeline')
    for key in ("tags", "datasets", "language", "base_model"):
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            errors.append(f'"{key}" must be a string or a list of strings')
    widget = meta.get("widget")
    if widget is not None and not (
        isinstance(widget, list) and all(isinstance(w, dict) and isinstance(w.get("text"), str) for w in widget)
    ):
        errors.append('"widget" must be a list of {text: ...} entries')
    errors += check_model_index(meta.get("model-index"))
    return errors


def check_model_index(model_index) -> list[str]:
    if model_index is None:
        return []
    if not isinstance(model_index, list):
        return ['"model-index" must be a list']
    errors = []
    for model in model_index:
        if not isinstance(model, dict) or not isinstance(model.get("name"), str):
            errors.append('"model-index" entries need a "name"')
            continue
        for result in model.get("results") or []:
            task, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append('"model-index" results need task.type')
            if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), str) for k in ("name", "type")):
                errors.append('"model-index" results need dataset.name and dataset.type')
            if not isinstance(metrics, list) or not metrics:
                errors.append('"model-index" results need a list of metrics')
                continue
            for metric in metrics:
                value = metric.get("value") if isinstance(metric, dict) else None
                if not isinstance(metric, dict) or not isinstance(metric.get("type"), str):
                    errors.append('"model-index" metrics need a "type"')
                elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    errors.append(f'"model-index" metric {metric["type"]!r} has value {value!r}, not a finite number')
    return errors


class FakeHub:
    """The fake Hub's state and HTTP server. ``with FakeHub(tokens={"hf_x": "alice"}) as hub: hub.url``."""

    def __init__(self, tokens: dict[str, str], port: int = 0) -> None:
        self.tokens = dict(tokens)
        self.port = port
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.unhandled: list[str] = []
        self.refuse: dict[str, int] = {}  # endpoint kind ("preupload", "lfs", "commit", "create") -> status
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        """Listen (again) on ``self.port``; state survives a stop/start, like a server that went down."""
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what tests read ---------------------------------------------------------------------------
    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        commit = self.repos[repo_id].at(revision)
        return {path: stored.data for path, stored in commit.files.items()}

    def lfs_paths(self, repo_id: str) -> set[str]:
        return {path for path, stored in self.repos[repo_id].head.files.items() if stored.lfs}

    def commit_titles(self, repo_id: str) -> list[str]:
        return [commit.title for commit in self.repos[repo_id].commits]

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, path, _ in self.requests if m == method and re.search(pattern, path))

    # --- request handling --------------------------------------------------------------------------
    def user(self, headers) -> str | None:
        auth = headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if token is None:
            return None
        if token not in self.tokens:
            raise HubError(401, INVALID_TOKEN)
        return self.tokens[token]

    def repo(self, repo_id: str, headers, write: bool = False) -> Repo:
        user = self.user(headers)
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and user != repo_id.split("/")[0]):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if write and user is None:
            raise HubError(401, INVALID_TOKEN)
        if write and user != repo_id.split("/")[0]:
            raise HubError(403, "You don't have the rights to write to this repo")
        return repo

    def refused(self, kind: str) -> None:
        if kind in self.refuse:
            status = self.refuse[kind]
            raise HubError(status, INVALID_TOKEN if status == 401 else "refused by the fake Hub (test setting)")

    def create_repo(self, body: dict, headers) -> dict:
        self.refused("create")
        user = self.user(headers)
        if user is None:
            raise HubError(401, INVALID_TOKEN)
        if body.get("type") not in (None, "model"):
            raise HubError(400, "the fake Hub only holds model repos")
        namespace = body.get("organization") or user
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a repo under {namespace}")
        repo_id = f"{namespace}/{body['name']}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:
            raise HubError(409, "You already created this model repo", headers={"url": url})
        private = body.get("private", body.get("visibility") == "private") or False
        repo = Repo(repo_id, private=bool(private))
        files = {".gitattributes": StoredFile(GITATTRIBUTES, lfs=False)}
        repo.commits.append(Commit(_commit_oid("", "initial commit", files), "initial commit", files, _now()))
        self.repos[repo_id] = repo
        return {"url": url, "name": repo_id, "id": repo_id}

    def preupload(self, repo_id: str, revision: str, body: dict, headers) -> dict:
        self.refused("preupload")
        repo = self.repo(repo_id, headers, write=True)
        commit = self._revision(repo, revision)
        answers = []
        for item in body["files"]:
            sample = base64.b64decode(item["sample"])
            path = item["path"]
            lfs = (
                any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in LFS_PATTERNS)
                or item["size"] >= LFS_MIN_SIZE
                or b"\0" in sample
            )
            existing = commit.files.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.remote_oid if existing else None,
                }
            )
        return {"files": answers, "commitOid": commit.oid}

    def lfs_batch(self, repo_id: str, body: dict, headers) -> dict:
        self.refused("lfs")
        self.repo(repo_id, headers, write=True)
        if body.get("operation") != "upload":
            raise HubError(400, "the fake Hub only accepts LFS uploads")
        objects = []
        for item in body["objects"]:
            oid, size = item["oid"], item["size"]
            entry: dict = {"oid": oid, "size": size}
            if oid not in self.lfs_objects:
                entry["authenticated"] = True
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{oid}?size={size}", "expires_in": 900},
                    "verify": {"href": f"{self.url}/{repo_id}.git/info/lfs/objects/verify", "header": {}},
                }
            objects.append(entry)
        return {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def lfs_upload(self, oid: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"uploaded content does not hash to {oid}")
        with self.lock:
            self.lfs_objects[oid] = data

    def lfs_verify(self, repo_id: str, body: dict, headers) -> dict:
        self.repo(repo_id, headers, write=True)
        data = self.lfs_objects.get(body["oid"])
        if data is None or len(data) != body["size"]:
            raise HubError(404, f"LFS object {body['oid']} was not uploaded")
        return {"message": "ok"}

    def commit(self, repo_id: str, revision: str, lines: list[dict], headers) -> dict:
        self.refused("commit")
        repo = self.repo(repo_id, headers, write=True)
        with self.lock:
            parent = self._revision(repo, revision)
            files = dict(parent.files)
            title = ""
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "header":
                    title = value["summary"]
                    if value.get("parentCommit") not in (None, parent.oid):
                        raise HubError(412, "parent commit is not the head of main")
                elif key == "file":
                    files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
                elif key == "lfsFile":
                    data = self.lfs_objects.get(value["oid"])
                    if data is None:
                        raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                    files[value["path"]] = StoredFile(data, lfs=True)
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {path: f for path, f in files.items() if not path.startswith(prefix)}
                else:
                    raise HubError(400, f"unknown commit operation {key!r}")
            if "README.md" in files:
                errors = check_metadata(files["README.md"].data.decode("utf-8"))
                if errors:
                    raise HubError(400, "Invalid metadata in README.md: " + "; ".join(errors))
            oid = _commit_oid(parent.oid, title, files)
            repo.commits.append(Commit(oid, title, files, _now()))
        return {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}

    def info(self, repo_id: str, revision: str, headers, blobs: bool) -> dict:
        repo = self.repo(repo_id, headers)
        commit = self._revision(repo, revision)
        meta = _card_metadata(commit.files.get("README.md"))
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path}
            if blobs:
                sibling.update(size=len(stored.data), blobId=stored.oid)
                if stored.lfs:
                    sibling["lfs"] = {"sha256": stored.sha256, "size": len(stored.data), "pointerSize": 134}
            siblings.append(sibling)
        return {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.commits[0].date,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "library_name": meta.get("library_name"),
            "pipeline_tag": meta.get("pipeline_tag"),
            "tags": list(meta.get("tags") or []),
            "cardData": meta or None,
            "siblings": siblings,
        }

    def tree(self, repo_id: str, revision: str, path: str, recursive: bool, headers) -> list[dict]:
        repo = self.repo(repo_id, headers)
        commit = self._revision(repo, revision)
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        entries: dict[str, dict] = {}
        for file_path, stored in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix) :]
            parts = rest.split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                folder = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "path": folder, "oid": _tree_oid(folder)})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                entries[file_path] = _file_entry(file_path, stored)
        if prefix and not entries:
            raise HubError(404, f"{path} does not exist", "EntryNotFound")
        return list(entries.values())

    def paths_info(self, repo_id: str, revision: str, paths: list[str], headers) -> list[dict]:
        commit = self._revision(self.repo(repo_id, headers), revision)
        found = []
        for path in paths:
            if path in commit.files:
                found.append(_file_entry(path, commit.files[path]))
            elif any(p.startswith(path.rstrip("/") + "/") for p in commit.files):
                found.append({"type": "directory", "path": path, "oid": _tree_oid(path)})
        return found

    def resolve(self, repo_id: str, revision: str, path: str, headers) -> tuple[Commit, StoredFile]:
        repo = self.repo(repo_id, headers)
        commit = self._revision(repo, revision)
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        return commit, stored

    def _revision(self, repo: Repo, revision: str) -> Commit:
        commit = repo.at(unquote(revision))
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _commit_oid(parent: str, title: str, files: dict[str, StoredFile]) -> str:
    listing = "".join(f"{path}:{stored.oid}\n" for path, stored in sorted(files.items()))
    return hashlib.sha1(f"{parent}\n{title}\n{listing}".encode()).hexdigest()


def _tree_oid(path: str) -> str:
    return hashlib.sha1(f"tree {path}".encode()).hexdigest()


def _file_entry(path: str, stored: StoredFile) -> dict:
    entry: dict = {"type": "file", "path": path, "size": len(stored.data), "oid": stored.oid}
    if stored.lfs:
        entry["lfs"] = {"oid": stored.sha256, "size": len(stored.data), "pointerSize": len(stored.pointer)}
    return entry


def _card_metadata(readme: StoredFile | None) -> dict:
    if readme is None:
        return {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme.data.decode("utf-8"), re.S)
    return (yaml.safe_load(match.group(1)) or {}) if match else {}


REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
ROUTES = [
    ("POST", re.compile(r"^/api/repos/create$"), "create"),
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate"),
    ("GET", re.compile(r"^/api/whoami-v2$"), "whoami"),
    ("POST", re.compile(rf"^/api/models/{REPO}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"^/api/models/{REPO}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("POST", re.compile(rf"^/api/models/{REPO}/paths-info/(?P<rev>[^/]+)$"), "paths_info"),
    ("GET", re.compile(rf"^/api/models/{REPO}/tree/(?P<rev>[^/]+)(?P<path>/.*)?$"), "tree"),
    ("GET", re.compile(rf"^/api/models/{REPO}(/revision/(?P<rev>[^/]+))?$"), "info"),
    ("POST", re.compile(rf"^/{REPO}\.git/info/lfs/objects/batch$"), "lfs_batch"),
    ("POST", re.compile(rf"^/{REPO}\.git/info/lfs/objects/verify$"), "lfs_verify"),
    ("PUT", re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$"), "lfs_upload"),
    ("GET", re.compile(rf"^/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ("HEAD", re.compile(rf"^/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
]


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet: the tests read hub.requests instead
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        body = self._body()
        hub = self.hub
        status = 500
        try:
            for route_method, pattern, name in ROUTES:
                match = pattern.match(path) if route_method == method else None
                if match:
                    status = self._route(name, method, match.groupdict(), query, body)
                    break
            else:
                hub.unhandled.append(f"{method} {self.path}")
                raise HubError(404, f"the fake Hub does not implement {method} {url.path}")
        except HubError as error:
            status = error.status
            payload = {"error": error.message}
            if "url" in error.headers:
                payload["url"] = error.headers["url"]
            headers = {"X-Error-Message": error.message, **{k: v for k, v in error.headers.items() if k != "url"}}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send(status, payload, headers, head=method == "HEAD")
        finally:
            with hub.lock:
                hub.requests.append((method, url.path, status))

    def _route(self, name: str, method: str, groups: dict, query: dict, body: bytes) -> int:
        hub = self.hub
        repo_id, rev = groups.get("repo"), groups.get("rev") or "main"
        if name == "create":
            with hub.lock:
                return self._send(200, hub.create_repo(json.loads(body), self.headers))
        if name == "validate":
            errors = check_metadata(json.loads(body)["content"])
            if errors:
                return self._send(400, {"errors": [{"message": e} for e in errors], "warnings": []})
            return self._send(200, {"errors": [], "warnings": []})
        if name == "whoami":
            user = hub.user(self.headers)
            if user is None:
                raise HubError(401, INVALID_TOKEN)
            role = {"displayName": "fake", "role": "write"}
            return self._send(200, {"type": "user", "name": user, "orgs": [], "auth": {"accessToken": role}})
        if name == "preupload":
            return self._send(200, hub.preupload(repo_id, rev, json.loads(body), self.headers))
        if name == "commit":
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            return self._send(200, hub.commit(repo_id, rev, lines, self.headers))
        if name == "paths_info":
            form = parse_qs(body.decode())
            return self._send(200, hub.paths_info(repo_id, rev, form.get("paths", []), self.headers))
        if name == "tree":
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._send(200, hub.tree(repo_id, rev, groups.get("path") or "", recursive, self.headers))
        if name == "info":
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            return self._send(200, hub.info(repo_id, rev, self.headers, blobs))
        if name == "lfs_batch":
            batch = hub.lfs_batch(repo_id, json.loads(body), self.headers)
            return self._send(200, batch, {"Content-Type": "application/vnd.git-lfs+json"})
        if name == "lfs_verify":
            return self._send(200, hub.lfs_verify(repo_id, json.loads(body), self.headers))
        if name == "lfs_upload":
            hub.lfs_upload(groups["oid"], body)
            return self._send(200, {})
        if name == "resolve":
            commit, stored = hub.resolve(repo_id, rev, groups["path"], self.headers)
            headers = {
                "X-Repo-Commit": commit.oid,
                "ETag": f'"{stored.oid}"',
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f"inline; filename*=UTF-8''{quote(groups['path'].rsplit('/', 1)[-1])}",
            }
            if stored.lfs:
                headers.update({"X-Linked-Etag": f'"{stored.sha256}"', "X-Linked-Size": str(len(stored.data))})
            return self._send_bytes(200, stored.data, headers, head=method == "HEAD")
        raise AssertionError(name)

    def _send(self, status: int, payload, headers: dict | None = None, head: bool = False) -> int:
        headers = {"Content-Type": "application/json", **(headers or {})}
        return self._send_bytes(status, json.dumps(payload).encode(), headers, head)

    def _send_bytes(self, status: int, data: bytes, headers: dict, head: bool = False) -> int:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)
        return status
