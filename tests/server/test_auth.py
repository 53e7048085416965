"""`--auth basic`: users, hashed passwords, tokens, per-experiment and per-model permissions, on
every endpoint; MLflow's client signs in with its usual environment variables."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
import requests

VIEW_NAMES = ["experiments", "runs", "metrics", "latest_metrics", "params", "param_conflicts", "tags", "inputs",
              "artifacts", "logged_models", "registered_models", "model_versions", "model_aliases", "registry_history",
              "events"]

API = "/api/2.0/mlflow"


class As:
    """Requests as one user (basic auth) or with a token."""

    def __init__(self, server, user: str | None = None, password: str | None = None, token: str | None = None) -> None:
        self.url = server.url
        self.kw: dict = {"timeout": 30}
        if user is not None:
            self.kw["auth"] = (user, password)
        if token is not None:
            self.kw["headers"] = {"Authorization": f"Bearer {token}"}

    def post(self, endpoint: str, body: dict, method: str = "POST") -> requests.Response:
        return requests.request(method, self.url + endpoint, json=body, **self.kw)

    def get(self, endpoint: str, **params) -> requests.Response:
        return requests.get(self.url + endpoint, params=params, **self.kw)


def _code(resp: requests.Response) -> tuple[int, str | None]:
    return resp.status_code, (resp.json().get("error_code") if resp.status_code != 200 else None)


@pytest.fixture
def secured(start_server, tmp_path):
    server = start_server(None, "", "--auth", "basic", "--default-permission", "NO_PERMISSIONS",
                          "--auth-db", str(tmp_path / "auth.db"), env={"TRACKLOG_ADMIN_PASSWORD": "s3cret"})
    admin = As(server, "admin", "s3cret")
    for name in ("alice", "bob"):
        assert admin.post(f"{API}/users/create", {"username": name, "password": f"{name}-pw"}).status_code == 200
    return server, admin, As(server, "alice", "alice-pw"), As(server, "bob", "bob-pw")


def test_every_endpoint_needs_credentials(secured) -> None:
    server, *_ = secured
    anonymous = As(server)
    for resp in (anonymous.get(f"{API}/experiments/get", experiment_id="0"),
                 anonymous.post(f"{API}/runs/search", {"experiment_ids": ["0"]}),
                 anonymous.get("/api/2.0/mlflow-artifacts/artifacts", path="0"),
                 anonymous.post("/api/2.0/tracklog/sql", {"query": "SELECT 1"}),
                 anonymous.get("/api/2.0/tracklog/runs/get", run_id="x"),
                 As(server, "alice", "wrong").get(f"{API}/experiments/get", experiment_id="0"),
                 As(server, token="tl_forged").get(f"{API}/experiments/get", experiment_id="0")):
        assert _code(resp) == (401, "UNAUTHENTICATED")
        assert resp.headers["www-authenticate"].startswith("Basic")
    assert requests.get(server.url + "/health", timeout=5).status_code == 200  # liveness stays open


def test_passwords_are_stored_hashed(secured, tmp_path) -> None:
    rows = sqlite3.connect(tmp_path / "auth.db").execute("SELECT username, password_hash FROM users").fetchall()
    assert {u for u, _ in rows} == {"admin", "alice", "bob"}
    assert all(h.startswith("scrypt$") and f"{u}-pw" not in h and "s3cret" not in h for u, h in rows)


def test_experiment_permissions(secured) -> None:
    server, admin, alice, bob = secured
    exp = alice.post(f"{API}/experiments/create", {"name": "alice-exp"}).json()["experiment_id"]
    run = alice.post(f"{API}/runs/create", {"experiment_id": exp}).json()["run"]["info"]
    assert _code(alice.post(f"{API}/runs/log-metric", {"run_id": run["run_id"], "key": "m", "value": 1, "timestamp": 1})) \
        == (200, None)
    # bob: nothing by default
    assert _code(bob.get(f"{API}/experiments/get", experiment_id=exp)) == (403, "PERMISSION_DENIED")
    assert _code(bob.get(f"{API}/runs/get", run_id=run["run_id"])) == (403, "PERMISSION_DENIED")
    assert bob.post(f"{API}/runs/search", {"experiment_ids": [exp]}).json() == {}
    assert bob.post(f"{API}/experiments/search", {}).json() == {}
    assert _code(bob.post(f"{API}/runs/create", {"experiment_id": exp})) == (403, "PERMISSION_DENIED")
    artifacts = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert alice.post("/api/2.0/mlflow-artifacts/artifacts/" + artifacts + "/a.txt", {}, method="PUT").status_code == 200
    assert _code(bob.get("/api/2.0/mlflow-artifacts/artifacts/" + artifacts + "/a.txt")) == (403, "PERMISSION_DENIED")
    # READ for bob: reads work, writes do not
    grant = {"experiment_id": exp, "username": "bob", "permission": "READ"}
    assert _code(bob.post(f"{API}/experiments/permissions/create", grant)) == (403, "PERMISSION_DENIED")
    assert alice.post(f"{API}/experiments/permissions/create", grant).status_code == 200
    assert bob.get(f"{API}/runs/get", run_id=run["run_id"]).status_code == 200
    assert [r["info"]["run_id"] for r in bob.post(f"{API}/runs/search", {"experiment_ids": [exp]}).json()["runs"]] \
        == [run["run_id"]]
    assert bob.get("/api/2.0/mlflow-artifacts/artifacts/" + artifacts + "/a.txt").status_code == 200
    assert _code(bob.post(f"{API}/runs/log-metric", {"run_id": run["run_id"], "key": "m", "value": 2, "timestamp": 1})) \
        == (403, "PERMISSION_DENIED")
    # EDIT: bob logs; deleting the run needs MANAGE
    assert alice.post(f"{API}/experiments/permissions/update", {**grant, "permission": "EDIT"}, method="PATCH").status_code == 200
    assert bob.post(f"{API}/runs/log-metric", {"run_id": run["run_id"], "key": "m", "value": 2, "timestamp": 1}).status_code == 200
    assert _code(bob.post(f"{API}/runs/delete", {"run_id": run["run_id"]})) == (403, "PERMISSION_DENIED")
    assert bob.get(f"{API}/experiments/permissions/get", experiment_id=exp, username="bob").json() \
        == {"experiment_permission": {"experiment_id": exp, "user_id": "bob", "permission": "EDIT"}}
    # SQL spans experiments: each user sees the rows of those they may read (the default here is NO_PERMISSIONS)
    query = {"query": "SELECT kind, actor FROM events WHERE kind IN ('ExperimentCreated', 'RunStarted') ORDER BY ts"}
    assert admin.post("/api/2.0/tracklog/sql", query).json()["rows"] == [["ExperimentCreated", "alice"], ["RunStarted", "alice"]]
    assert bob.post("/api/2.0/tracklog/sql", query).json()["rows"] == [["ExperimentCreated", "alice"], ["RunStarted", "alice"]]
    assert alice.post(f"{API}/experiments/permissions/delete", grant, method="DELETE").status_code == 200
    assert bob.post("/api/2.0/tracklog/sql", query).json()["rows"] == []


def test_model_permissions(secured) -> None:
    server, admin, alice, bob = secured
    assert alice.post(f"{API}/registered-models/create", {"name": "m"}).status_code == 200
    assert _code(bob.get(f"{API}/registered-models/get", name="m")) == (403, "PERMISSION_DENIED")
    assert bob.get(f"{API}/registered-models/search").json() == {}
    grant = {"name": "m", "username": "bob", "permission": "READ"}
    assert alice.post(f"{API}/registered-models/permissions/create", grant).status_code == 200
    assert bob.get(f"{API}/registered-models/get", name="m").status_code == 200
    assert _code(bob.post(f"{API}/registered-models/set-tag", {"name": "m", "key": "k", "value": "v"})) \
        == (403, "PERMISSION_DENIED")
    assert admin.post(f"{API}/registered-models/set-tag", {"name": "m", "key": "k", "value": "v"}).status_code == 200


def test_tokens(secured) -> None:
    server, admin, alice, bob = secured
    created = alice.post("/api/2.0/tracklog/tokens/create", {"name": "ci"}).json()
    assert created["name"] == "ci" and created["token"].startswith("tl_")
    with_token = As(server, token=created["token"])
    assert with_token.post(f"{API}/experiments/create", {"name": "via-token"}).status_code == 200
    assert [t["name"] for t in alice.get("/api/2.0/tracklog/tokens/list").json()["tokens"]] == ["ci"]
    assert alice.post("/api/2.0/tracklog/tokens/delete", {"name": "ci"}, method="DELETE").status_code == 200
    assert _code(with_token.get(f"{API}/experiments/get", experiment_id="0")) == (401, "UNAUTHENTICATED")


def test_users_are_managed_by_admins(secured) -> None:
    server, admin, alice, bob = secured
    assert _code(alice.post(f"{API}/users/create", {"username": "eve", "password": "x"})) == (403, "PERMISSION_DENIED")
    assert _code(admin.post(f"{API}/users/create", {"username": "bob", "password": "x"})) == (400, "RESOURCE_ALREADY_EXISTS")
    assert alice.get(f"{API}/users/get", username="alice").json()["user"]["is_admin"] is False
    assert _code(alice.get(f"{API}/users/get", username="bob")) == (403, "PERMISSION_DENIED")
    assert alice.post(f"{API}/users/update-password", {"username": "alice", "password": "new-pw"}, method="PATCH").status_code == 200
    assert _code(alice.get(f"{API}/experiments/get", experiment_id="0")) == (401, "UNAUTHENTICATED")
    assert As(server, "alice", "new-pw").get(f"{API}/users/get", username="alice").status_code == 200
    assert admin.post(f"{API}/users/delete", {"username": "bob"}, method="DELETE").status_code == 200
    assert _code(bob.get(f"{API}/users/get", username="bob")) == (401, "UNAUTHENTICATED")


def test_mlflow_client_signs_in(secured, mlflow_client_env, monkeypatch) -> None:
    server, *_ = secured
    mlflow = mlflow_client_env
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "alice-pw")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_experiment("signed-in")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.5)
    assert mlflow.MlflowClient().get_run(run.info.run_id).data.metrics == {"acc": 0.5}
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(mlflow.exceptions.MlflowException, match="UNAUTHENTICATED|401"):
        mlflow.MlflowClient().get_run(run.info.run_id)


def test_auth_needs_an_admin(start_server, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="TRACKLOG_ADMIN_PASSWORD"):
        start_server(None, "", "--auth", "basic", "--auth-db", str(tmp_path / "empty.db"),
                     env={"TRACKLOG_ADMIN_PASSWORD": ""})


@pytest.fixture
def readers(start_server, tmp_path):
    """Default READ; admin owns a "secret" experiment and model that bob is denied (NO_PERMISSIONS)."""
    server = start_server(None, "", "--auth", "basic", "--default-permission", "READ",
                          "--auth-db", str(tmp_path / "auth.db"), env={"TRACKLOG_ADMIN_PASSWORD": "s3cret"})
    admin = As(server, "admin", "s3cret")
    assert admin.post(f"{API}/users/create", {"username": "bob", "password": "bob-pw"}).status_code == 200
    ids = {}
    for name in ("public", "secret"):
        exp = admin.post(f"{API}/experiments/create", {"name": name}).json()["experiment_id"]
        run = admin.post(f"{API}/runs/create", {"experiment_id": exp, "run_name": f"{name}-run"}).json()["run"]["info"]
        admin.post(f"{API}/runs/log-batch", {"run_id": run["run_id"], "params": [{"key": f"{name}-param", "value": name}],
                                             "metrics": [{"key": f"{name}-metric", "value": 1, "timestamp": 1, "step": 0},
                                                         {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}],
                                             "tags": [{"key": "team", "value": name}]})
        path = run["artifact_uri"].removeprefix("mlflow-artifacts:/") + "/notes.txt"
        assert admin.post(f"/api/2.0/mlflow-artifacts/artifacts/{path}", {}, method="PUT").status_code == 200
        assert admin.post(f"{API}/registered-models/create", {"name": f"{name}-model"}).status_code == 200
        ids[name] = (exp, run["run_id"], path)
    deny = {"experiment_id": ids["secret"][0], "username": "bob", "permission": "NO_PERMISSIONS"}
    assert admin.post(f"{API}/experiments/permissions/create", deny).status_code == 200
    deny = {"name": "secret-model", "username": "bob", "permission": "NO_PERMISSIONS"}
    assert admin.post(f"{API}/registered-models/permissions/create", deny).status_code == 200
    return server, admin, As(server, "bob", "bob-pw"), ids


def _shows_secret(text: str, ids: dict) -> bool:
    exp, run, _ = ids["secret"]
    return any(s in text for s in (exp, run, "secret"))


def test_a_no_permissions_grant_wins_over_the_default_everywhere(readers) -> None:
    """REST, the UI's endpoints (both prefixes), SQL (every view), artifacts: bob sees the public
    experiment and nothing of the secret one; the admin sees both."""
    server, admin, bob, ids = readers
    exp, run, path = ids["secret"]
    public_exp, public_run, public_path = ids["public"]
    # REST and artifacts
    for resp in (bob.get(f"{API}/experiments/get", experiment_id=exp), bob.get(f"{API}/runs/get", run_id=run),
                 bob.get(f"{API}/metrics/get-history", run_id=run, metric_key="secret-metric"),
                 bob.get(f"{API}/artifacts/list", run_id=run), bob.get(f"{API}/registered-models/get", name="secret-model"),
                 bob.get(f"/api/2.0/mlflow-artifacts/artifacts/{path}"), bob.get("/get-artifact", run_uuid=run, path="notes.txt")):
        assert _code(resp) == (403, "PERMISSION_DENIED"), resp.text
    assert not _shows_secret(bob.post(f"{API}/experiments/search", {}).text, ids)
    assert not _shows_secret(bob.post(f"{API}/runs/search", {"experiment_ids": [exp, public_exp]}).text, ids)
    assert bob.get(f"/api/2.0/mlflow-artifacts/artifacts/{public_path}").status_code == 200
    # the UI's endpoints
    for prefix in ("/api/2.0/tracklog", "/ajax-api/2.0/tracklog"):
        fresh = {"fresh": True}  # fold what was just logged first
        answers = [
            bob.post(f"{prefix}/runs/table", {"experiment_ids": [exp, public_exp], **fresh}),
            bob.post(f"{prefix}/runs/table", {"run_ids": [run, public_run], "columns": ["metrics.`public-metric`"], **fresh}),
            bob.post(f"{prefix}/runs/groups", {"group_by": "tags.team", **fresh}),
            bob.post(f"{prefix}/runs/keys", {"experiment_ids": [exp, public_exp], **fresh}),
            bob.post(f"{prefix}/metrics/downsample", {"run_ids": [run, public_run], "keys": ["loss"],
                                                      **fresh}),
            bob.get(f"{prefix}/experiments/list", fresh="1"),
            bob.get(f"{prefix}/registry/models", fresh="1"),
        ]
        for resp in answers:
            assert resp.status_code == 200, resp.text
            assert not _shows_secret(resp.text, ids), resp.text
            assert "public" in resp.text or public_run in resp.text, resp.text
        assert bob.get(f"{prefix}/runs/get", run_id=run, fresh="1").status_code == 404
        assert bob.get(f"{prefix}/registry/model", name="secret-model", fresh="1").status_code == 404
        assert admin.get(f"{prefix}/runs/get", run_id=run, fresh="1").status_code == 200
    # SQL: every view, and time travel too
    for view in VIEW_NAMES:
        for extra in ({}, {"as_of": 10**13}):
            resp = bob.post("/api/2.0/tracklog/sql", {"query": f"SELECT * FROM {view}", **extra})
            assert resp.status_code == 200 and not _shows_secret(resp.text, ids), (view, resp.text)
    counts = "SELECT (SELECT count(*) FROM runs), (SELECT count(DISTINCT run_id) FROM metrics), (SELECT count(*) FROM registered_models)"
    assert bob.post("/api/2.0/tracklog/sql", {"query": counts}).json()["rows"] == [[1, 1, 1]]
    assert admin.post("/api/2.0/tracklog/sql", {"query": counts}).json()["rows"] == [[2, 2, 2]]


def test_the_event_stream_hides_what_a_grant_denies(readers) -> None:
    server, admin, bob, ids = readers
    got: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with requests.get(server.url + "/api/2.0/tracklog/events", stream=True, auth=bob.kw["auth"], timeout=30) as resp:
            for line in resp.iter_lines(decode_unicode=True):
                ready.set()
                if line.startswith("data: "):
                    got.extend(json.loads(line[6:]))
                    if any(e.get("key") == "done" for e in got):
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    for name in ("secret", "public"):
        _, run, _ = ids[name]
        admin.post(f"{API}/runs/log-metric", {"run_id": run, "key": f"{name}-live", "value": 2, "timestamp": 2, "step": 1})
        admin.post(f"{API}/runs/set-tag", {"run_id": run, "key": f"{name}-tag", "value": "x"})
        admin.post(f"{API}/registered-models/set-tag", {"name": f"{name}-model", "key": "k", "value": "v"})
    new = admin.post(f"{API}/runs/create", {"experiment_id": ids["secret"][0]}).json()["run"]["info"]["run_id"]
    admin.post(f"{API}/runs/log-metric", {"run_id": new, "key": "secret-new", "value": 1, "timestamp": 1})
    admin.post(f"{API}/runs/set-tag", {"run_id": ids["public"][1], "key": "done", "value": "1"})
    thread.join(20)
    assert not thread.is_alive(), got
    shown = json.dumps(got)
    assert "public-live" in shown and "public-tag" in shown and "public-model" in shown
    assert not _shows_secret(shown, ids) and new not in shown, shown


def test_deleted_models_take_their_grants_with_them(secured, tmp_path) -> None:
    """A registered model's grants are keyed by its name: deleting it removes them, so a new model
    of that name starts clean, and renaming onto a name an old model held works."""
    server, admin, alice, bob = secured
    assert alice.post(f"{API}/registered-models/create", {"name": "m"}).status_code == 200
    grant = {"name": "m", "username": "bob", "permission": "READ"}
    assert alice.post(f"{API}/registered-models/permissions/create", grant).status_code == 200
    assert alice.post(f"{API}/registered-models/delete", {"name": "m"}, method="DELETE").status_code == 200
    rows = sqlite3.connect(tmp_path / "auth.db").execute("SELECT username FROM grants WHERE ref = 'm'").fetchall()
    assert rows == []
    assert bob.post(f"{API}/registered-models/create", {"name": "m"}).status_code == 200
    assert _code(alice.get(f"{API}/registered-models/get", name="m")) == (403, "PERMISSION_DENIED")
    assert bob.get(f"{API}/registered-models/get", name="m").status_code == 200
    # renaming onto the name of a deleted model (whose creator was the same user)
    for name in ("a", "b"):
        assert alice.post(f"{API}/registered-models/create", {"name": name}).status_code == 200
    assert alice.post(f"{API}/registered-models/delete", {"name": "b"}, method="DELETE").status_code == 200
    resp = alice.post(f"{API}/registered-models/rename", {"name": "a", "new_name": "b"})
    assert resp.status_code == 200, resp.text
    assert alice.get(f"{API}/registered-models/get", name="b").status_code == 200
    assert _code(bob.get(f"{API}/registered-models/get", name="b")) == (403, "PERMISSION_DENIED")
    # grants left behind by an older server on a name go when a model takes the name
    sqlite3.connect(tmp_path / "auth.db", isolation_level=None).execute(
        "INSERT INTO grants VALUES ('model', 'c', 'bob', 'MANAGE')")
    assert alice.post(f"{API}/registered-models/create", {"name": "c"}).status_code == 200
    assert _code(bob.get(f"{API}/registered-models/get", name="c")) == (403, "PERMISSION_DENIED")
    # and nobody can grant on a name no model holds
    ghost = {"name": "ghost", "username": "bob", "permission": "MANAGE"}
    assert _code(admin.post(f"{API}/registered-models/permissions/create", ghost)) == (404, "RESOURCE_DOES_NOT_EXIST")
    ghost = {"experiment_id": "424242", "username": "bob", "permission": "MANAGE"}
    assert _code(admin.post(f"{API}/experiments/permissions/create", ghost)) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_an_unknown_user_costs_what_a_wrong_password_costs(tmp_path, monkeypatch) -> None:
    """No username enumeration: either way the answer is the same and exactly one scrypt runs,
    on a worker thread (never on the event loop)."""
    import base64
    import hashlib

    import anyio

    from tracklog.server.auth import Auth, AuthDB, hash_password
    from tracklog.server.errors import ApiError

    db = AuthDB(str(tmp_path / "auth.db"))
    db.run("INSERT INTO users VALUES ('alice', ?, 0)", (hash_password("right"),))
    calls: list[int] = []
    real = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        return real(*args, **kwargs)

    async def sign_in(auth, username: str) -> tuple[ApiError, int]:
        header = b"Basic " + base64.b64encode(f"{username}:wrong".encode())
        with pytest.raises(ApiError) as info:
            await auth.authenticate({"headers": [(b"authorization", header)], "client": ("10.0.0.1", 5)})
        return info.value, threading.get_ident()

    async def main() -> list[tuple[ApiError, int, list[int]]]:
        auth = Auth(db, max_failed_logins=0)
        monkeypatch.setattr(hashlib, "scrypt", counted)
        out = []
        for username in ("nobody", "alice"):
            calls.clear()
            error, loop_thread = await sign_in(auth, username)
            out.append((error, loop_thread, list(calls)))
        return out

    for error, loop_thread, hashed in anyio.run(main):
        assert (error.status, error.error_code, str(error)) == (401, "UNAUTHENTICATED", "Incorrect username or password")
        assert len(hashed) == 1 and hashed[0] != loop_thread


def test_failed_sign_ins_are_rate_limited(secured) -> None:
    server, admin, alice, bob = secured
    wrong = As(server, "alice", "guess")
    for _ in range(10):
        assert _code(wrong.get(f"{API}/experiments/get", experiment_id="0")) == (401, "UNAUTHENTICATED")
    for attempt in (wrong, As(server, "alice", "alice-pw")):  # blocked, even with the right password
        resp = attempt.get(f"{API}/experiments/get", experiment_id="0")
        assert _code(resp) == (429, "REQUEST_LIMIT_EXCEEDED"), resp.text
        assert int(resp.headers["Retry-After"]) > 0 and "Too many failed sign-ins" in resp.json()["message"]
    assert _code(As(server, "alice", "guess").post("/api/2.0/tracklog/sql", {"query": "SELECT 1"})) \
        == (429, "REQUEST_LIMIT_EXCEEDED")
    assert bob.get(f"{API}/experiments/get", experiment_id="0").status_code in (200, 403)  # others still sign in
    # a burst sent at once is counted as it arrives: past 5 x 10 from one address, the rest wait
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda i: As(server, f"guess-{i}", "x").get(f"{API}/experiments/get", experiment_id="0")
                              .status_code, range(60)))
    assert codes.count(401) <= 50 - 10 and codes.count(429) >= 60 - 40, codes


def test_a_login_flood_does_not_stall_the_server(start_server, tmp_path) -> None:
    """Forty sign-ins with unknown names and wrong passwords at once: /health answers within
    100 ms all along (hashing runs on worker threads, a core at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    server = start_server(None, "", "--auth", "basic", "--max-failed-logins", "0", "--auth-db", str(tmp_path / "auth.db"),
                          env={"TRACKLOG_ADMIN_PASSWORD": "s3cret"})
    done = threading.Event()
    latencies: list[float] = []

    def watch() -> None:
        import time

        while not done.is_set():
            started = time.monotonic()
            assert requests.get(server.url + "/health", timeout=5).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(40) as pool:
            codes = list(pool.map(lambda i: As(server, f"user-{i}", "nope").get(f"{API}/experiments/get",
                                                                            experiment_id="0").status_code, range(80)))
    finally:
        done.set()
        watcher.join()
    assert set(codes) == {401}
    assert len(latencies) > 10 and max(latencies) < 0.1, max(latencies)


def test_web_ui_endpoints_hold_permissions(secured) -> None:
    """GraphQL's root fields and MLflow's ajax endpoints check what their REST twins check."""
    server, admin, alice, bob = secured
    exp = alice.post(f"{API}/experiments/create", {"name": "alice-web"}).json()["experiment_id"]
    run_id = alice.post(f"{API}/runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"]
    query = {"query": f'{{ mlflowGetRun(input: {{runId: "{run_id}"}}) {{ run {{ info {{ runId }} }} }} }}'}
    assert alice.post("/graphql", query).json() == {"data": {"mlflowGetRun": {"run": {"info": {"runId": run_id}}}},
                                                    "errors": None}
    denied = bob.post("/graphql", query).json()
    assert denied["data"] == {"mlflowGetRun": None} and "permission" in denied["errors"][0].lower()
    searched = bob.post("/graphql", {"query": f'mutation {{ mlflowSearchRuns(input: {{experimentIds: ["{exp}"]}}) '
                                              '{ runs { info { runId } } } }'}).json()
    assert searched["data"]["mlflowSearchRuns"]["runs"] is None and searched["errors"] is None
    assert _code(bob.post("/ajax-api/2.0/mlflow/experiments/search-datasets", {"experiment_ids": [exp]})) \
        == (403, "PERMISSION_DENIED")
    upload = requests.post(server.url + "/ajax-api/2.0/mlflow/upload-artifact", params={"run_uuid": run_id, "path": "a"},
                           data="x", auth=("bob", "bob-pw"), timeout=30)
    assert _code(upload) == (403, "PERMISSION_DENIED")
    assert _code(As(server).post("/graphql", query)) == (401, "UNAUTHENTICATED")
