"""Settings parsed once from the environment into a frozen, typed object; every problem is named at once."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "ADDIN_API_"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
# Microsoft Graph's global endpoint (the sync worker appends /v1.0).
# https://learn.microsoft.com/en-us/graph/deployments#microsoft-graph-and-graph-explorer-service-root-endpoints
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
# Office clients pre-authorized on an SSO add-in registration; they arrive as `azp`.
# https://learn.microsoft.com/en-us/office/dev/add-ins/develop/register-sso-add-in-aad-v2
OFFICE_CLIENT_APPS = (
    "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e",
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",
    "93d53678-613d-4013-afc1-62e9e444a0a5",
    "bc59ab01-8403-45c6-8796-ac3ef710b3e3",
)
# Personal Microsoft accounts sign in through this tenant; Dataverse needs work accounts.
CONSUMERS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# Dataverse's default Organization.MaxUploadFileSize.
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/email-activity-entities
DEFAULT_MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1,::1"
# 32 random characters, even hex digits, carry the 128 bits an HMAC key needs at the least.
MIN_ACTIVITY_ID_SECRET = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(Exception):
    """One or more environment variables are missing or invalid; `problems` names each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """The service's configuration (docs/configuration.md)."""

    client_id: str
    tenants: tuple[str, ...]
    dataverse_urls: Mapping[str, str]
    client_secret: str | None = field(default=None, repr=False)
    # Keys the activity ids only this deployment can compute (see `ActivityKind.fallback_id`); None: derived from
    # the OBO credential. Set it when the credential rotates while several versions of it are in service.
    activity_id_secret: str | None = field(default=None, repr=False)
    client_cert_path: Path | None = None
    client_cert_thumbprint: str | None = None
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_url: str = DEFAULT_GRAPH_URL
    allowed_client_apps: tuple[str, ...] = OFFICE_CLIENT_APPS
    public_url: str | None = None
    # The SPA registration the pane's MSAL nested app authentication uses (None: the add-in's own client id).
    naa_client_id: str | None = None
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    max_request_bytes: int = 64 * 1024 * 1024
    ca_bundle: Path | None = None
    per_user_concurrency: int = 4
    connect_timeout: float = 3.05
    read_timeout: float = 15.0
    request_budget_seconds: float = 20.0
    max_retry_after_wait: float = 3.0
    me_cache_seconds: float = 300.0
    redis_url: str | None = field(default=None, repr=False)
    shared_state_dir: Path | None = None
    forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS
    log_level: str = "INFO"
    # The sync worker: seconds between catch-up rounds over every synchronized mailbox, and job threads per process.
    sync_catch_up_seconds: int = 60
    sync_threads: int = 4
    sync_folders_seconds: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse `ADDIN_API_*` variables; raise SettingsError naming every missing or invalid one."""
        env = _Env(os.environ if environ is None else environ)
        client_id = _client_id(env)
        secret, cert_path, thumbprint = _credential(env)
        activity_id_secret = _activity_id_secret(env)
        tenants = _tenants(env)
        urls = _dataverse_urls(env, tenants)
        authority_host = _authority_host(env)
        graph_url = _graph_url(env)
        apps, naa_client_id = _client_apps(env)
        public_url = _public_url(env)
        max_attachment, max_request, concurrency = _sizes(env)
        ca_bundle, redis_url, shared_state_dir = _shared_resources(env)
        forwarded = env.checked(parse_forwarded_allow_ips(env.raw))
        log_level = env.checked(parse_log_level(env.raw))
        catch_up, threads, folders = _sync(env)
        if env.problems:
            raise SettingsError(env.problems)
        return cls(
            client_id=client_id.lower(),
            client_secret=secret,
            activity_id_secret=activity_id_secret,
            client_cert_path=cert_path,
            client_cert_thumbprint=thumbprint,
            tenants=tenants,
            dataverse_urls=urls,
            authority_host=authority_host,
            graph_url=graph_url,
            # NAA tokens arrive with the pane's own registration as `azp`: accept it alongside the Office clients.
            allowed_client_apps=tuple(
                dict.fromkeys((*(apps or OFFICE_CLIENT_APPS), (naa_client_id or client_id).lower()))
            ),
            naa_client_id=naa_client_id,
            public_url=public_url,
            max_attachment_bytes=max_attachment,
            max_request_bytes=max_request,
            ca_bundle=ca_bundle,
            per_user_concurrency=concurrency,
            redis_url=redis_url,
            shared_state_dir=shared_state_dir,
            forwarded_allow_ips=forwarded,
            log_level=log_level,
            sync_catch_up_seconds=catch_up,
            sync_threads=threads,
            sync_folders_seconds=folders,
        )

    def activity_id_key(self) -> bytes:
        """The key of the activity ids only this deployment can compute (`ActivityKind.fallback_id`).

        From `activity_id_secret`, else from the OBO credential (the client secret, or the certificate file with its
        private key): every process and host of one deployment — web workers and the mailbox-sync worker — holds
        it, and no user of the service does. The credential only keys a derivation; it is never the key itself.
        Raises OSError when the certificate cannot be read, ValueError when there is no secret at all.
        """
        material = (self.activity_id_secret or self.client_secret or "").encode()
        if not material and self.client_cert_path is not None:
            material = self.client_cert_path.read_bytes()
        if not material:
            raise ValueError("no secret to key activity ids with")
        return hmac.new(material, b"addin-api activity ids", hashlib.sha256).digest()

    @property
    def nested_app_client_id(self) -> str:
        """The client id the pane's MSAL nested app authentication signs in with."""
        return self.naa_client_id or self.client_id

    def issuer(self, tenant_id: str) -> str:
        """The v2 issuer tokens from `tenant_id` must carry."""
        return f"{self.authority_host}/{tenant_id}/v2.0"

    def authority(self, tenant_id: str) -> str:
        """The MSAL authority for a tenant."""
        return f"{self.authority_host}/{tenant_id}"

    @property
    def is_public_cloud(self) -> bool:
        """Whether the authority is Entra's public cloud (so MSAL may use instance discovery)."""
        return self.authority_host == DEFAULT_AUTHORITY_HOST

    @property
    def timeout(self) -> tuple[float, float]:
        """The (connect, read) timeout of every outbound call."""
        return (self.connect_timeout, self.read_timeout)


class _Env:
    """The `ADDIN_API_*` variables being read, and the problems found so far (in the order they are found)."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def __call__(self, name: str) -> str:
        return self.raw.get(PREFIX + name, "").strip()

    def problem(self, text: str) -> None:
        """Note a problem with one variable."""
        self.problems.append(text)

    def checked(self, parsed: tuple[str, str | None]) -> str:
        """The value of a (value, problem) parse, noting the problem if there is one."""
        value, problem = parsed
        if problem:
            self.problem(problem)
        return value


def _client_id(env: _Env) -> str:
    client_id = env("CLIENT_ID")
    if not client_id:
        env.problem(f"{PREFIX}CLIENT_ID is required (the add-in's Entra application id)")
    elif not _is_guid(client_id):
        env.problem(f"{PREFIX}CLIENT_ID must be a GUID")
    return client_id


def _credential(env: _Env) -> tuple[str | None, Path | None, str | None]:
    """The OBO credential: a client secret, or a certificate file with its thumbprint."""
    secret = env("CLIENT_SECRET") or None
    cert_path = Path(env("CLIENT_CERT_PATH")) if env("CLIENT_CERT_PATH") else None
    thumbprint = env("CLIENT_CERT_THUMBPRINT") or None
    if secret is None and cert_path is None:
        env.problem(f"{PREFIX}CLIENT_SECRET or {PREFIX}CLIENT_CERT_PATH is required (the OBO credential)")
    if cert_path is not None:
        if not cert_path.is_file():
            env.problem(f"{PREFIX}CLIENT_CERT_PATH does not name a readable file")
        if not thumbprint:
            env.problem(f"{PREFIX}CLIENT_CERT_THUMBPRINT is required with {PREFIX}CLIENT_CERT_PATH")
    return secret, cert_path, thumbprint


def _activity_id_secret(env: _Env) -> str | None:
    secret = env("ACTIVITY_ID_SECRET") or None
    if secret is not None and len(secret) < MIN_ACTIVITY_ID_SECRET:
        env.problem(f"{PREFIX}ACTIVITY_ID_SECRET must be at least {MIN_ACTIVITY_ID_SECRET} characters")
    return secret


def _tenants(env: _Env) -> tuple[str, ...]:
    tenants = tuple(t.strip().lower() for t in env("TENANTS").split(",") if t.strip())
    if not tenants:
        env.problem(f"{PREFIX}TENANTS is required (comma-separated tenant GUIDs)")
    for tenant in tenants:
        if not _is_guid(tenant):
            env.problem(f"{PREFIX}TENANTS: {tenant!r} is not a GUID")
        elif tenant == CONSUMERS_TENANT:
            env.problem(f"{PREFIX}TENANTS: the personal-accounts tenant cannot use Dataverse")
    return tenants


def _dataverse_urls(env: _Env, tenants: tuple[str, ...]) -> dict[str, str]:
    """One environment per onboarded tenant, and none for any other."""
    urls: dict[str, str] = {}
    for item in (i.strip() for i in env("DATAVERSE_URLS").split(",") if i.strip()):
        tenant, sep, url = item.partition("=")
        tenant, url = tenant.strip().lower(), url.strip().rstrip("/")
        if not sep or not _is_guid(tenant):
            env.problem(f"{PREFIX}DATAVERSE_URLS: entries are tid=https://org.crm.dynamics.com")
        elif not _is_https_url(url):
            env.problem(f"{PREFIX}DATAVERSE_URLS: the URL for {tenant} must be https://host[:port]")
        else:
            urls[tenant] = url
    for tenant in tenants:
        if _is_guid(tenant) and tenant not in urls:
            env.problem(f"{PREFIX}DATAVERSE_URLS has no environment for tenant {tenant}")
    for tenant in urls:
        if tenant not in tenants:
            env.problem(f"{PREFIX}DATAVERSE_URLS names tenant {tenant}, which is not in {PREFIX}TENANTS")
    return urls


def _authority_host(env: _Env) -> str:
    authority_host = (env("AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST).rstrip("/")
    if not _is_https_url(authority_host):
        env.problem(f"{PREFIX}AUTHORITY_HOST must be an https:// URL")
    return authority_host


def _graph_url(env: _Env) -> str:
    graph_url = (env("GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/")
    if not _is_https_url(graph_url):
        env.problem(f"{PREFIX}GRAPH_URL must be an https://host[:port] URL")
    return graph_url


def _client_apps(env: _Env) -> tuple[tuple[str, ...], str | None]:
    """The allowed client apps as configured (may be empty) and the pane's NAA registration."""
    apps = tuple(a.strip().lower() for a in env("ALLOWED_CLIENT_APPS").split(",") if a.strip())
    for app in apps:
        if not _is_guid(app):
            env.problem(f"{PREFIX}ALLOWED_CLIENT_APPS: {app!r} is not a GUID")
    naa_client_id = env("NAA_CLIENT_ID").lower() or None
    if naa_client_id is not None and not _is_guid(naa_client_id):
        env.problem(f"{PREFIX}NAA_CLIENT_ID must be a GUID (the SPA registration used for NAA)")
    return apps, naa_client_id


def _public_url(env: _Env) -> str | None:
    # The deployment's identity (the SSO resource `api://<host>/<client id>`, the manifest's URLs): configured,
    # never taken from a request's Host header. `addin-api dev` sets it to where it listens.
    public_url = env("PUBLIC_URL").rstrip("/") or None
    if public_url is None:
        env.problem(
            f"{PREFIX}PUBLIC_URL is required (where the pane and API are served, e.g. https://addin.contoso.com)"
        )
    elif not _is_public_url(public_url):
        env.problem(f"{PREFIX}PUBLIC_URL must be an http(s)://host[:port] URL without a query or fragment")
    return public_url


def _sizes(env: _Env) -> tuple[int, int, int]:
    """The attachment and request size limits and the per-user concurrency."""
    max_attachment = _int(env("MAX_ATTACHMENT_BYTES"), DEFAULT_MAX_ATTACHMENT_BYTES, "MAX_ATTACHMENT_BYTES")
    max_request = _int(env("MAX_REQUEST_BYTES"), 64 * 1024 * 1024, "MAX_REQUEST_BYTES")
    concurrency = _int(env("PER_USER_CONCURRENCY"), 4, "PER_USER_CONCURRENCY")
    for _value, problem in (max_attachment, max_request, concurrency):
        if problem:
            env.problem(problem)
    if not max_attachment[1] and max_attachment[0] > 128 * 1024 * 1024:
        env.problem(f"{PREFIX}MAX_ATTACHMENT_BYTES cannot exceed Dataverse's 128 MB maximum")
    return max_attachment[0], max_request[0], concurrency[0]


def _sync(env: _Env) -> tuple[int, int, int]:
    """The sync worker's catch-up interval (seconds), job threads and the other folders' interval (seconds)."""
    catch_up = _int(env("SYNC_CATCH_UP_SECONDS"), 60, "SYNC_CATCH_UP_SECONDS")
    threads = _int(env("SYNC_THREADS"), 4, "SYNC_THREADS")
    folders = _int(env("SYNC_FOLDERS_SECONDS"), 300, "SYNC_FOLDERS_SECONDS")
    for _value, problem in (catch_up, threads, folders):
        if problem:
            env.problem(problem)
    return catch_up[0], threads[0], folders[0]


def _shared_resources(env: _Env) -> tuple[Path | None, str | None, Path | None]:
    """The CA bundle, the Redis URL and the shared-state directory, each optional."""
    ca_bundle = Path(env("CA_BUNDLE")) if env("CA_BUNDLE") else None
    if ca_bundle is not None and not ca_bundle.is_file():
        env.problem(f"{PREFIX}CA_BUNDLE does not name a readable file")
    redis_url = env("REDIS_URL") or None
    if redis_url is not None and not _is_redis_url(redis_url):
        env.problem(f"{PREFIX}REDIS_URL must be a redis://, rediss:// or unix:// URL")
    shared_state_dir = Path(env("SHARED_STATE_DIR")) if env("SHARED_STATE_DIR") else None
    if shared_state_dir is not None and not shared_state_dir.is_dir():
        env.problem(f"{PREFIX}SHARED_STATE_DIR does not name a directory")
    return ca_bundle, redis_url, shared_state_dir


def parse_forwarded_allow_ips(env: Mapping[str, str]) -> tuple[str, str | None]:
    """`ADDIN_API_FORWARDED_ALLOW_IPS`: the proxies whose X-Forwarded-* headers gunicorn trusts (IPs, networks, *)."""
    raw = env.get(PREFIX + "FORWARDED_ALLOW_IPS", "").strip() or DEFAULT_FORWARDED_ALLOW_IPS
    items = [i.strip() for i in raw.split(",") if i.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return DEFAULT_FORWARDED_ALLOW_IPS, f"{PREFIX}FORWARDED_ALLOW_IPS: {item!r} is not an IP address or network"
    return ",".join(items), None


def parse_log_level(env: Mapping[str, str]) -> tuple[str, str | None]:
    """`ADDIN_API_LOG_LEVEL`: DEBUG, INFO (default), WARNING or ERROR."""
    raw = env.get(PREFIX + "LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in LOG_LEVELS:
        return "INFO", f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}"
    return raw, None


def _is_redis_url(value: str) -> bool:
    parts = urlsplit(value)
    if parts.scheme == "unix":
        return bool(parts.path)
    return parts.scheme in ("redis", "rediss") and bool(parts.hostname)


def _is_guid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _is_public_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.query or parts.fragment)


def _is_https_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path in ("", "/") and not parts.query


def _int(raw: str, default: int, name: str) -> tuple[int, str | None]:
    if not raw:
        return default, None
    try:
        value = int(raw)
    except ValueError:
        return default, f"{PREFIX}{name} must be a whole number"
    if value <= 0:
        return default, f"{PREFIX}{name} must be positive"
    return value, None
