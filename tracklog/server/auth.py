"""Optional auth (``tracklog server --auth basic``): users, API tokens, per-resource permissions.

- Users sign in with HTTP basic auth (MLflow's ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``), or
  send an API token as a bearer token (``MLFLOW_TRACKING_TOKEN``). Passwords are stored as
  scrypt hashes with a per-user salt; tokens as SHA-256 (they are random, 256 bits). A verified
  password is remembered for a minute (as a hash of the pair) so a client logging metrics does
  not pay scrypt per request. An unknown username costs the same check as a wrong password; checks
  run off the event loop; repeated failures from one address are refused with 429
  (``--max-failed-logins``).
- Permissions, as MLflow's: READ, EDIT (READ and change), MANAGE (EDIT, delete and grant), per
  experiment (covering its runs, logged models and artifacts) and per registered model; where
  nobody granted anything, the server's default permission applies (READ unless configured).
  Whoever creates an experiment or a model may manage it. Admins may do everything; the first
  admin comes from ``TRACKLOG_ADMIN_USERNAME`` (default ``admin``) and
  ``TRACKLOG_ADMIN_PASSWORD``.
- SQL, the event stream and the UI's reads span experiments: every signed-in user may use them,
  and they show only the rows of experiments and models the user may read (`Auth.read_scope`;
  a NO_PERMISSIONS grant hides an experiment whatever the default permission).

Users, tokens and grants live in a small SQLite database beside the store (``<store>/_auth/``)
or under the local cache for a remote store (``--auth-db`` chooses); the event log never holds
credentials. MLflow's auth endpoints are served (``users/create``, ``users/get``,
``users/update-password``, ``users/update-admin``, ``users/delete``,
``experiments/permissions/{create,get,update,delete}``,
``registered-models/permissions/{create,get,update,delete}``), and
``/api/2.0/tracklog/tokens/{create,list,delete}`` for tokens.
"""

from __future__ import annotations

import base64
import binascii
import collections
import enum
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import msgspec

from eventlog.errors import ExperimentNotFoundError, InvalidInputError, NotFoundError
from eventlog.log import local_cache
from eventlog.storage import open_store
from projections.scope import Scope
from tracklog.server.errors import ApiError
from tracklog.server.routing import Access, Call, Route
from tracklog.tracking import messages as m

__all__ = ["Auth", "FailedLogins", "Permission", "User", "hash_password", "verify_password"]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_REMEMBER_S = 60.0


class Permission(enum.IntEnum):
    NO_PERMISSIONS = 0
    READ = 1
    EDIT = 2
    MANAGE = 3


def _permission(name: Any) -> Permission:
    try:
        return Permission[str(name).upper()]
    except KeyError:
        raise InvalidInputError(f"permission must be one of {', '.join(Permission.__members__)}, got {name!r}") from None


class User(msgspec.Struct, frozen=True):
    username: str
    is_admin: bool = False


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), salted per password."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, name TEXT NOT NULL,
                                   created_ms INTEGER NOT NULL, UNIQUE (username, name));
CREATE TABLE IF NOT EXISTS grants (kind TEXT NOT NULL, ref TEXT NOT NULL, username TEXT NOT NULL,
                                   permission TEXT NOT NULL, PRIMARY KEY (kind, ref, username));
"""


class AuthDB:
    """The users, tokens and grants, in SQLite (safe across processes on one machine)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._con.executescript(_SCHEMA)
        os.chmod(path, 0o600)

    def run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def script(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Several statements in one transaction."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._con.execute(sql, args)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")


class FailedLogins:
    """Failed sign-ins per client address and per (address, username), in a sliding window.

    Past `limit` failures for one username from one address (or 5 × `limit` from one address, for
    any names) within `window` seconds, sign-ins from there are refused with 429 before any
    password is hashed, until the oldest failure leaves the window. A sign-in counts as failed
    from the moment it starts until it succeeds, so a burst sent at once is limited too. `limit`
    0 turns this off.
    """

    def __init__(self, limit: int = 10, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[tuple[str, ...], collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, address: str, username: str) -> list[tuple[tuple[str, ...], int]]:
        return [((address, username), self.limit), ((address,), 5 * self.limit)]

    def attempt(self, address: str, username: str) -> None:
        """Count a sign-in as failed until it `succeeded` (so a burst sent at once is counted
        before any of it is checked); raise 429 (MLflow's REQUEST_LIMIT_EXCEEDED) if sign-ins
        from `address` are blocked."""
        if not self.limit:
            return
        now = time.monotonic()
        with self._lock:
            for key, limit in self._keys(address, username):
                times = self._seen.get(key)
                while times and times[0] <= now - self.window:
                    times.popleft()
                if times is not None and len(times) >= limit:
                    wait = max(1, int(times[0] + self.window - now) + 1)
                    raise ApiError("REQUEST_LIMIT_EXCEEDED",
                                   f"Too many failed sign-ins from {address}: {len(times)} in the last {self.window:.0f} s; "
                                   f"try again in {wait} s", status=429, headers={"Retry-After": str(wait)})
            if len(self._seen) > 100_000:  # a flood of addresses: forget, rather than grow without end
                self._seen.clear()
            for key, limit in self._keys(address, username):
                self._seen.setdefault(key, collections.deque(maxlen=limit + 1)).append(now)

    def succeeded(self, address: str, username: str) -> None:
        """The sign-in was right: it is not a failure, and the name's earlier failures are forgiven."""
        with self._lock:
            self._seen.pop((address, username), None)
            times = self._seen.get((address,))
            if times:
                times.pop()


class Auth:
    """Basic auth, tokens and permissions for one server; see the module docstring.

    Password checks cost the same whether or not the user exists (an unknown user's password is
    checked against a dummy hash), run on worker threads (one or two at a time, so a flood of
    sign-ins queues instead of taking every core), and `FailedLogins` refuses floods before any
    hashing.
    """

    def __init__(self, db: AuthDB, default_permission: str = "READ", *, max_failed_logins: int = 10) -> None:
        self.db = db
        self.default = _permission(default_permission)
        self._remembered: dict[str, tuple[float, User]] = {}
        self._dummy = hash_password(secrets.token_urlsafe(16))  # what an unknown user's password is checked against
        self._hashing = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) // 2))
        self.failures = FailedLogins(max_failed_logins)

    @classmethod
    def open(cls, path: str | None, store_uri: str, default_permission: str = "READ", *,
             max_failed_logins: int = 10) -> Auth:
        """Open (creating) the auth database for `store_uri`; the admin from the environment is
        created or its password set. Raises `InvalidInputError` if there would be no admin."""
        if path is None:
            path = os.path.join(local_cache(open_store(store_uri), "auth", "_auth"), "auth.db")
        auth = cls(AuthDB(path), default_permission, max_failed_logins=max_failed_logins)
        name = os.environ.get("TRACKLOG_ADMIN_USERNAME") or "admin"
        password = os.environ.get("TRACKLOG_ADMIN_PASSWORD")
        if password:
            auth.db.run("INSERT INTO users VALUES (?, ?, 1) ON CONFLICT (username) DO UPDATE SET "
                        "password_hash = excluded.password_hash, is_admin = 1", (name, hash_password(password)))
        elif not auth.db.run("SELECT 1 FROM users WHERE is_admin = 1"):
            raise InvalidInputError(f"--auth basic needs an admin: set TRACKLOG_ADMIN_PASSWORD (and optionally "
                                    f"TRACKLOG_ADMIN_USERNAME, default 'admin') to create one in {path}")
        return auth

    def describe(self) -> str:
        users = self.db.run("SELECT count(*) FROM users")[0][0]
        return f"{users} user(s) in {self.db.path}, default permission {self.default.name}"

    # ---- who is calling ---------------------------------------------------------------------

    async def authenticate(self, scope: dict[str, Any]) -> User:
        header = ""
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                header = value.decode("latin-1")
        kind, _, credentials = header.partition(" ")
        address = str((scope.get("client") or ("unknown",))[0])
        if kind.lower() == "bearer" and credentials:
            self.failures.attempt(address, "")
            user = self._token_user(credentials.strip())
            self.failures.succeeded(address, "")
            return user
        if kind.lower() == "basic" and credentials:
            return await self._password_user(credentials.strip(), address)
        raise ApiError("UNAUTHENTICATED", "You are not authenticated. Please see the documentation for details: "
                       "send a username and password (basic auth) or an API token (bearer)", status=401)

    def _token_user(self, token: str) -> User:
        digest = hashlib.sha256(token.encode()).hexdigest()
        rows = self.db.run("SELECT u.username, u.is_admin FROM tokens t JOIN users u USING (username) "
                           "WHERE t.token_hash = ?", (digest,))
        if not rows:
            raise ApiError("UNAUTHENTICATED", "Invalid API token", status=401)
        return User(rows[0][0], bool(rows[0][1]))

    async def _password_user(self, credentials: str, address: str) -> User:
        try:
            username, _, password = base64.b64decode(credentials).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ApiError("UNAUTHENTICATED", "Malformed basic auth credentials", status=401) from None
        key = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        held = self._remembered.get(key)
        if held is not None and held[0] > time.monotonic():
            return held[1]
        self.failures.attempt(address, username)
        rows = self.db.run("SELECT password_hash, is_admin FROM users WHERE username = ?", (username,))
        stored = rows[0][0] if rows else self._dummy  # the same work whether or not the user exists
        ok = await anyio.to_thread.run_sync(verify_password, password, stored, limiter=self._hashing)
        if not rows or not ok:
            raise ApiError("UNAUTHENTICATED", "Incorrect username or password", status=401)
        self.failures.succeeded(address, username)
        user = User(username, bool(rows[0][1]))
        if len(self._remembered) > 10_000:
            self._remembered.clear()
        self._remembered[key] = (time.monotonic() + _REMEMBER_S, user)
        return user

    def forget(self) -> None:
        """Drop remembered passwords (a password changed, a user went away)."""
        self._remembered.clear()

    # ---- what they may do --------------------------------------------------------------------

    def level(self, user: User, kind: str, ref: str) -> Permission:
        if user.is_admin:
            return Permission.MANAGE
        rows = self.db.run("SELECT permission FROM grants WHERE kind = ? AND ref = ? AND username = ?",
                           (kind, ref, user.username))
        return Permission[rows[0][0]] if rows else self.default

    def require(self, call: Call, kind: str, ref: str, level: str) -> None:
        """Raise 403 unless the caller holds `level` on the resource `kind`/`ref`."""
        user: User = call.user
        needed = Permission[level]
        if user.is_admin:
            return
        if kind in ("sql", "events", "ui"):
            return  # they read across experiments: every row they show is narrowed to `read_scope`
        if kind == "admin":
            held = Permission.NO_PERMISSIONS
        else:
            resolved = self._resolve(call, kind, ref)
            if resolved is None:
                return  # no such resource: the handler answers 404
            held = Permission.NO_PERMISSIONS if resolved[0] == "admin" else self.level(user, *resolved)
        if held < needed:
            raise ApiError("PERMISSION_DENIED", f"Permission denied: {user.username} needs {needed.name} on "
                           f"{kind} {ref!r}" if ref else f"Permission denied: {user.username} needs {needed.name}",
                           status=403)

    def _resolve(self, call: Call, kind: str, ref: str) -> tuple[str, str] | None:
        """The (kind, ref) permissions are kept on: runs, logged models and artifact paths belong to
        their experiment."""
        if kind in ("experiment", "model"):
            return kind, ref
        if kind in ("run", "logged_model"):
            experiment = call.experiment_of(kind, ref)
            return None if experiment is None else ("experiment", experiment)
        if kind == "artifact":
            try:
                call.client.get_experiment(ref)
            except ExperimentNotFoundError:
                return ("admin", "")  # outside any experiment's folder: admins only
            return "experiment", ref
        raise AssertionError(kind)

    def check(self, call: Call, access: Access, body: Any) -> None:
        """The route's access rule, before the handler runs."""
        if access.kind in ("any", "create", "handler"):
            return
        if access.kind == "run":
            ref = body.rid
        elif access.kind == "logged_model":
            ref = call.params["model_id"]
        else:
            ref = getattr(body, access.field, "") or ("0" if access.field == "experiment_id" else "")
        self.require(call, access.kind, ref, access.level)

    def readable(self, call: Call, kind: str) -> Callable[[str], bool]:
        user: User = call.user
        if user.is_admin:
            return lambda ref: True
        grants = {ref: Permission[p] for ref, p in self.db.run(
            "SELECT ref, permission FROM grants WHERE kind = ? AND username = ?", (kind, user.username))}
        default = self.default
        return lambda ref: grants.get(ref, default) >= Permission.READ

    def read_scope(self, call: Call) -> Scope | None:
        """What the caller may read, for reads that span experiments and models (SQL, the UI's
        tables, the event stream): None for everything, else a `Scope` of the experiment ids and
        model names whose permission is at least READ. A NO_PERMISSIONS grant wins over the
        default permission, as it does on every single-resource endpoint."""
        user: User = call.user
        if user.is_admin:
            return None
        grants: dict[str, dict[str, Permission]] = {"experiment": {}, "model": {}}
        for kind, ref, permission in self.db.run("SELECT kind, ref, permission FROM grants WHERE username = ?",
                                                 (user.username,)):
            grants.setdefault(kind, {})[ref] = Permission[permission]
        hides = {kind: self.default < Permission.READ or any(p < Permission.READ for p in held.values())
                 for kind, held in grants.items()}
        if not hides["experiment"] and not hides["model"]:
            return None
        def readable(kind: str, query: str) -> frozenset[str] | None:
            if not hides[kind]:
                return None
            cur = call.store.cursor()
            try:
                refs = {row[0] for row in cur.execute(query).fetchall()}
            finally:
                cur.close()
            return frozenset(r for r in refs if grants[kind].get(r, self.default) >= Permission.READ)

        return Scope(experiments=readable("experiment", "SELECT experiment_id FROM experiments UNION SELECT '0'"),
                     models=readable("model", "SELECT name FROM registered_models"))

    def grant_creator(self, call: Call, kind: str, ref: str) -> None:
        """A new resource starts clean (grants left on its name by an older one go), and its
        creator may manage it."""
        self.revoke_all(kind, ref)
        if not call.user.is_admin:
            self.grant(kind, ref, call.user.username, Permission.MANAGE)

    def revoke_all(self, kind: str, ref: str) -> None:
        """Every grant on `kind` `ref` goes (a registered model was deleted: its name is free)."""
        self.db.run("DELETE FROM grants WHERE kind = ? AND ref = ?", (kind, ref))

    def grant(self, kind: str, ref: str, username: str, permission: Permission) -> None:
        self.db.run("INSERT INTO grants VALUES (?, ?, ?, ?) ON CONFLICT (kind, ref, username) DO UPDATE SET "
                    "permission = excluded.permission", (kind, ref, username, permission.name))

    def renamed(self, kind: str, old: str, new: str) -> None:
        """The grants follow a renamed resource; any left on the new name (by a deleted one) go."""
        self.db.script([("DELETE FROM grants WHERE kind = ? AND ref = ?", (kind, new)),
                        ("UPDATE grants SET ref = ? WHERE kind = ? AND ref = ?", (new, kind, old))])

    # ---- users and tokens -------------------------------------------------------------------

    def user_json(self, username: str) -> dict[str, Any]:
        rows = self.db.run("SELECT username, is_admin FROM users WHERE username = ?", (username,))
        if not rows:
            raise NotFoundError(f"User with username={username} not found")
        grants = self.db.run("SELECT kind, ref, permission FROM grants WHERE username = ? ORDER BY kind, ref", (username,))
        return {"user": {"id": username, "username": username, "is_admin": bool(rows[0][1]),
                         "experiment_permissions": [{"experiment_id": r, "user_id": username, "permission": p}
                                                    for k, r, p in grants if k == "experiment"],
                         "registered_model_permissions": [{"name": r, "user_id": username, "permission": p}
                                                          for k, r, p in grants if k == "model"]}}

    def create_token(self, username: str, name: str) -> str:
        token = "tl_" + secrets.token_urlsafe(32)
        try:
            self.db.run("INSERT INTO tokens VALUES (?, ?, ?, ?)",
                        (hashlib.sha256(token.encode()).hexdigest(), username, name, int(time.time() * 1000)))
        except sqlite3.IntegrityError:
            raise ApiError("RESOURCE_ALREADY_EXISTS", f"{username} already has a token named {name!r}") from None
        return token


# ---- MLflow's auth endpoints --------------------------------------------------------------------


class UserBody(m.Body, kw_only=True):
    username: str
    password: str = ""
    is_admin: bool = False


class UserRef(m.Body, kw_only=True):
    username: str


class ExperimentGrant(m.Body, kw_only=True):
    experiment_id: str
    username: str
    permission: str = "READ"


class ModelGrant(m.Body, kw_only=True):
    name: str
    username: str
    permission: str = "READ"


class TokenBody(m.Body, kw_only=True):
    name: str


def _auth(call: Call) -> Auth:
    if call.server.auth is None:
        raise ApiError("BAD_REQUEST", "this server runs without auth (start it with --auth basic)")
    return call.server.auth  # type: ignore[no-any-return]


def _self_or_admin(call: Call, username: str) -> None:
    if not (call.user.is_admin or call.user.username == username):
        raise ApiError("PERMISSION_DENIED", f"Permission denied: only {username} or an admin", status=403)


def _admin(call: Call) -> None:
    if not call.user.is_admin:
        raise ApiError("PERMISSION_DENIED", "Permission denied: admins only", status=403)


def create_user(call: Call, body: UserBody) -> dict[str, Any]:
    auth = _auth(call)
    _admin(call)
    if not body.username or not body.password:
        raise InvalidInputError("a user needs a username and a password")
    try:
        auth.db.run("INSERT INTO users VALUES (?, ?, ?)", (body.username, hash_password(body.password), int(body.is_admin)))
    except sqlite3.IntegrityError:
        raise ApiError("RESOURCE_ALREADY_EXISTS", f"User '{body.username}' already exists") from None
    return auth.user_json(body.username)


def get_user(call: Call, body: UserRef) -> dict[str, Any]:
    auth = _auth(call)
    _self_or_admin(call, body.username)
    return auth.user_json(body.username)


def update_password(call: Call, body: UserBody) -> dict[str, Any]:
    auth = _auth(call)
    _self_or_admin(call, body.username)
    if not body.password:
        raise InvalidInputError("a new password is required")
    auth.user_json(body.username)
    auth.db.run("UPDATE users SET password_hash = ? WHERE username = ?", (hash_password(body.password), body.username))
    auth.forget()
    return {}


def update_admin(call: Call, body: UserBody) -> dict[str, Any]:
    auth = _auth(call)
    _admin(call)
    auth.user_json(body.username)
    auth.db.run("UPDATE users SET is_admin = ? WHERE username = ?", (int(body.is_admin), body.username))
    auth.forget()
    return {}


def delete_user(call: Call, body: UserRef) -> dict[str, Any]:
    auth = _auth(call)
    _admin(call)
    auth.user_json(body.username)
    for table in ("tokens", "grants", "users"):
        auth.db.run(f"DELETE FROM {table} WHERE username = ?", (body.username,))  # noqa: S608 - fixed names
    auth.forget()
    return {}


def _grant_handlers(kind: str, body_type: type[Any], ref_field: str) -> dict[str, Callable[..., dict[str, Any]]]:
    key = "experiment_permission" if kind == "experiment" else "registered_model_permission"

    def manage(call: Call, body: Any) -> Auth:
        auth = _auth(call)
        ref = getattr(body, ref_field)
        auth.require(call, kind, ref, "MANAGE")
        auth.user_json(body.username)
        _must_exist(call, kind, ref)  # a grant on a name nothing holds would pass to whatever takes it next
        return auth

    def create(call: Call, body: Any) -> dict[str, Any]:
        manage(call, body).grant(kind, getattr(body, ref_field), body.username, _permission(body.permission))
        return get(call, body)

    def get(call: Call, body: Any) -> dict[str, Any]:
        auth = _auth(call)
        ref = getattr(body, ref_field)
        if call.user.username != body.username:
            auth.require(call, kind, ref, "MANAGE")
        rows = auth.db.run("SELECT permission FROM grants WHERE kind = ? AND ref = ? AND username = ?",
                           (kind, ref, body.username))
        if not rows:
            raise NotFoundError(f"No {kind} permission for {body.username} on {ref}")
        return {key: {ref_field: ref, "user_id": body.username, "permission": rows[0][0]}}

    def delete(call: Call, body: Any) -> dict[str, Any]:
        auth = manage(call, body)
        auth.db.run("DELETE FROM grants WHERE kind = ? AND ref = ? AND username = ?",
                    (kind, getattr(body, ref_field), body.username))
        return {}

    return {"create": create, "get": get, "update": create, "delete": delete}


def _must_exist(call: Call, kind: str, ref: str) -> None:
    """Raise the resource's not-found error unless it exists (a grant on a name nothing holds
    would pass to whatever takes the name next)."""
    if kind == "experiment":
        call.client.get_experiment(ref)
    elif kind == "model":
        call.client.get_registered_model(ref)


def _routes() -> list[Route]:
    """The auth endpoints, for the route table (each handler checks access itself)."""
    own = Access("handler")
    out = [
        Route("POST", "users/create", UserBody, create_user, own),
        Route("GET", "users/get", UserRef, get_user, own),
        Route("PATCH", "users/update-password", UserBody, update_password, own),
        Route("PATCH", "users/update-admin", UserBody, update_admin, own),
        Route("DELETE", "users/delete", UserRef, delete_user, own),
    ]
    for kind, prefix, body, field in (("experiment", "experiments/permissions", ExperimentGrant, "experiment_id"),
                                      ("model", "registered-models/permissions", ModelGrant, "name")):
        handlers = _grant_handlers(kind, body, field)
        out += [Route("POST", f"{prefix}/create", body, handlers["create"], own),
                Route("GET", f"{prefix}/get", body, handlers["get"], own),
                Route("PATCH", f"{prefix}/update", body, handlers["update"], own),
                Route("DELETE", f"{prefix}/delete", body, handlers["delete"], own)]
    return out


# ---- tokens (tracklog's endpoints) --------------------------------------------------------------


def create_token(call: Call, body: TokenBody) -> dict[str, Any]:
    """``POST /api/2.0/tracklog/tokens/create {"name"}``: a new API token of the caller, shown once."""
    auth = _auth(call)
    if not body.name:
        raise InvalidInputError("a token needs a name")
    return {"name": body.name, "token": auth.create_token(call.user.username, body.name)}


def list_tokens(call: Call, body: Any) -> dict[str, Any]:
    auth = _auth(call)
    rows = auth.db.run("SELECT name, created_ms FROM tokens WHERE username = ? ORDER BY name", (call.user.username,))
    return {"tokens": [{"name": n, "created_time": c} for n, c in rows]}


def delete_token(call: Call, body: TokenBody) -> dict[str, Any]:
    auth = _auth(call)
    if not auth.db.run("SELECT 1 FROM tokens WHERE username = ? AND name = ?", (call.user.username, body.name)):
        raise NotFoundError(f"no token named {body.name!r}")
    auth.db.run("DELETE FROM tokens WHERE username = ? AND name = ?", (call.user.username, body.name))
    return {}


ROUTES = _routes()
