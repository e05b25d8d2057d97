"""A tiny stand-in for the Hub's HTTP API, enough for `HfApi.create_repo`, `create_branch` and
`upload_folder` (preupload, Git LFS basic transfer, NDJSON commit).

It records every request so tests can check what huggingface_hub sent: the real client code runs
unchanged and only the server end is local (HF_ENDPOINT=http://127.0.0.1:PORT).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict  # lower-case names
    body: bytes


@dataclass
class FakeHubState:
    requests: list[Recorded] = field(default_factory=list)
    repos: dict[str, dict] = field(default_factory=dict)        # repo_id -> create payload
    branches: list[tuple[str, str]] = field(default_factory=list)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> bytes
    commits: list[dict] = field(default_factory=list)            # {"repo", "revision", "header", "files"}


def _validate_card(content: str) -> tuple[int, dict]:
    """What the Hub checks in a model card's front matter: parseable YAML mapping, known field types."""
    import yaml

    if not content.startswith("---\n") or "\n---\n" not in content[4:]:
        return 200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]}
    try:
        meta = yaml.safe_load(content[4:content.index("\n---\n", 4)])
    except yaml.YAMLError as e:
        return 400, {"errors": [{"message": f"invalid YAML: {e}"}]}
    errors = []
    if not isinstance(meta, dict):
        errors.append({"message": "metadata must be a mapping"})
    else:
        for key in ("base_model", "datasets", "tags"):
            if key in meta and not (isinstance(meta[key], (str, list))):
                errors.append({"message": f"{key} must be a string or a list"})
        if "pipeline_tag" in meta and not isinstance(meta["pipeline_tag"], str):
            errors.append({"message": "pipeline_tag must be a string"})
    return (400 if errors else 200), {"errors": errors, "warnings": []}


def _handler(state: FakeHubState, lfs_min_size: int, deny: bool):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, payload=None):
            data = json.dumps(payload if payload is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> Recorded:
            rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self._body())
            state.requests.append(rec)
            return rec

        def do_POST(self):
            rec = self._record()
            if deny:
                return self._reply(403, {"error": "You don't have the rights to create a model under this namespace"})
            base = f"http://{self.headers['Host']}"
            path = rec.path.split("?")[0]
            if path == "/api/repos/create":
                payload = json.loads(rec.body)
                repo_id = f"{payload.get('organization')}/{payload['name']}"
                state.repos[repo_id] = payload
                return self._reply(200, {"url": f"{base}/{repo_id}", "name": repo_id, "id": repo_id})
            if path == "/api/validate-yaml":
                return self._reply(*_validate_card(json.loads(rec.body)["content"]))
            if m := re.fullmatch(r"/api/models/(.+)/branch/(.+)", path):
                state.branches.append((m.group(1), m.group(2)))
                return self._reply(200, {})
            if m := re.fullmatch(r"/api/models/(.+)/preupload/(.+)", path):
                files = json.loads(rec.body)["files"]
                return self._reply(200, {"files": [
                    {"path": f["path"], "uploadMode": "lfs" if f["size"] >= lfs_min_size else "regular",
                     "shouldIgnore": False} for f in files]})
            if m := re.fullmatch(r"/(.+)\.git/info/lfs/objects/batch", path):
                objects = json.loads(rec.body)["objects"]
                return self._reply(200, {"transfer": "basic", "objects": [
                    {"oid": o["oid"], "size": o["size"],
                     "actions": {"upload": {"href": f"{base}/lfs-storage/{o['oid']}"}}} for o in objects]})
            if m := re.fullmatch(r"/api/models/(.+)/commit/(.+)", path):
                lines = [json.loads(line) for line in rec.body.decode().splitlines() if line.strip()]
                header = next(x["value"] for x in lines if x["key"] == "header")
                files = {}
                for x in lines:
                    if x["key"] == "file":
                        files[x["value"]["path"]] = base64.b64decode(x["value"]["content"])
                    elif x["key"] == "lfsFile":
                        files[x["value"]["path"]] = state.lfs_objects.get(x["value"]["oid"], b"<missing lfs object>")
                state.commits.append({"repo": m.group(1), "revision": m.group(2), "header": header, "files": files})
                return self._reply(200, {"commitUrl": f"{base}/{m.group(1)}/commit/abc123",
                                         "commitOid": "abc123" + "0" * 34})
            return self._reply(404, {"error": f"fake hub: no route for POST {path}"})

        def do_PUT(self):
            rec = self._record()
            if m := re.fullmatch(r"/lfs-storage/([0-9a-f]{64})", rec.path):
                if hashlib.sha256(rec.body).hexdigest() != m.group(1):
                    return self._reply(400, {"error": "sha256 mismatch"})
                state.lfs_objects[m.group(1)] = rec.body
                return self._reply(200, {})
            return self._reply(404, {"error": f"fake hub: no route for PUT {rec.path}"})

        def do_GET(self):
            rec = self._record()
            return self._reply(404, {"error": f"fake hub: no route for GET {rec.path}"})

    return Handler


class FakeHub:
    """`with FakeHub() as hub:` serves on 127.0.0.1 (random port); `hub.endpoint`, `hub.state`.

    `deny=True` answers every POST with 403, like the Hub for a token without write access."""

    def __init__(self, lfs_min_size: int = 10_000, deny: bool = False):
        self.state = FakeHubState()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, lfs_min_size, deny))
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
