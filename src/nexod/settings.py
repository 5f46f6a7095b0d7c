"""One settings object for the whole program.

Values come from ``NEXOD_*`` environment variables, then an optional ``.env`` file. Nothing
reads the environment anywhere else: :func:`load_settings` builds a :class:`Settings` once and
it is passed down from there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from nexod.errors import ConfigError
from nexod.observability.rules import DEFAULT_RULES, Rule

LOCAL_ORG = "local"
"""The single organisation every row belongs to in embedded mode."""


class Settings(BaseSettings):
    """Every knob Nexod has. Embedded mode needs none of them set."""

    model_config = SettingsConfigDict(
        env_prefix="NEXOD_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(Path(".nexod"), description="Folder for embedded data (SQLite files).")
    database_url: str | None = Field(
        None,
        description="postgresql://… switches storage to PostgreSQL; unset means SQLite in data_dir.",
    )
    config: Path | None = Field(
        None, description="Graph config file; default nexod.json, else langgraph.json, in the cwd."
    )
    host: str = Field("127.0.0.1", description="Address `nexod serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `nexod serve` listens on.")
    workers: int = Field(
        16, ge=0, le=1024, description="Runs executed at once by this process (0: API only)."
    )
    run_timeout: float = Field(3600.0, gt=0, description="Seconds before a running run times out.")
    max_attempts: int = Field(3, ge=1, le=100, description="Attempts before a run ends in error.")
    lease_seconds: float = Field(
        30.0, gt=1, description="How long a worker's claim on a run lasts without a heartbeat."
    )
    poll_interval: float = Field(
        1.0, gt=0, description="Seconds between queue polls while the bus is down (Redis away)."
    )
    idle_poll: float = Field(
        10.0, gt=0, description="Seconds between safety polls of the queue while wake-ups arrive "
        "through the bus.",
    )
    heartbeat_interval: float = Field(
        5.0, gt=0, description="Seconds between keep-alive lines on idle streams and waits."
    )
    redis_url: str | None = Field(
        None,
        description="redis://… turns on the production bus: cross-process events, worker "
        "wake-ups, cancellation and the checkpoint cache. Unset: in-process only.",
    )
    shutdown_grace: float = Field(
        30.0, ge=0, description="Seconds in-flight runs get to finish on SIGTERM before they are "
        "released to resume on another worker.",
    )
    checkpoint_cache_ttl: int = Field(
        300, ge=0, description="Seconds the latest checkpoint of a thread stays cached in Redis "
        "(0 turns the cache off).",
    )
    checkpoint_keep: int = Field(
        0, ge=0, description="Checkpoints kept per idle thread when pruning (0 keeps every one: "
        "full history).",
    )
    thread_ttl: float = Field(
        0, ge=0, description="Minutes after its last update an idle thread is deleted "
        "(0: never).",
    )
    sweep_interval: float = Field(
        60.0, gt=0, description="Seconds between sweeps for expired threads and old checkpoints.",
    )
    embeddings: str = Field(
        "local", description="Embedding model: 'local' (all-MiniLM-L6-v2 on ONNX Runtime, offline) "
        "or 'openai:<model>' for any OpenAI-compatible /embeddings endpoint.",
    )
    embeddings_url: str = Field(
        "https://api.openai.com/v1", description="Base URL of the OpenAI-compatible embeddings API."
    )
    embeddings_api_key: SecretStr | None = Field(None, description="API key for embeddings_url.")
    embedding_dim: int | None = Field(
        None, ge=1, le=20000, description="Vector length of an 'openai:' model (asked of the "
        "endpoint once when unset).",
    )
    model_cache: Path | None = Field(
        None, description="Folder for the local model's ONNX export (default: data_dir/models).",
    )
    embedding_threads: int = Field(
        1, ge=1, le=64, description="CPU threads of the local embedding model.",
    )
    vector_store: str | None = Field(
        None, description="Where vectors live: 'local' (an index under data_dir), 'pgvector' "
        "(the database, or 'pgvector:postgresql://…'), or 'pinecone:<index>'. Unset: local on "
        "SQLite, pgvector on PostgreSQL.",
    )
    pinecone_api_key: SecretStr | None = Field(None, description="API key for 'pinecone:' stores.")
    kb_chunk_size: int = Field(800, ge=100, le=20000, description="Target chunk length (characters).")
    kb_chunk_overlap: int = Field(
        100, ge=0, le=5000, description="Characters repeated between neighbouring chunks."
    )
    kb_max_upload_mb: float = Field(
        25.0, gt=0, le=1024, description="Largest document accepted for ingest (megabytes)."
    )
    kb_exact_below: int = Field(
        20000, ge=0, description="The local store searches exactly (no ANN index) in namespaces "
        "with fewer vectors than this.",
    )
    kb_hnsw_m: int = Field(
        32, ge=4, le=128, description="HNSW graph degree (local store and pgvector) for new "
        "indexes (measured, local store at 1M clustered vectors: 16 tops out at recall@10 0.95 "
        "even at ef_search 1024; 32 with ef_construction 128 gives 0.99 at ef_search 96).",
    )
    kb_hnsw_ef_construction: int = Field(
        128, ge=16, le=2048, description="HNSW build breadth for new indexes: higher builds slower "
        "with better recall (see NEXOD_KB_HNSW_M).",
    )
    kb_hnsw_dtype: Literal["f32", "f16", "i8"] = Field(
        "i8", description="What the local store's HNSW index holds: i8 (or f16) quantised vectors "
        "whose candidates are re-scored exactly with the f32 vectors the store keeps anyway, or "
        "f32 vectors (no re-scoring). Measured at 1M: i8 loads in 342 s against 593 s, p95 1.06 "
        "against 1.64 ms, recall@10 0.995 against 1.000 at ef_search 96, a quarter of the index "
        "memory. An index of another kind is rebuilt on open.",
    )
    kb_ef_search: int = Field(
        96, ge=10, le=4096, description="HNSW search breadth (local store and pgvector): higher "
        "is slower with better recall.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")
    public_url: str | None = Field(
        None, description="Base URL of the API (e.g. https://agents.example.com), for relative "
        "webhook URLs (default http://NEXOD_HOST:NEXOD_PORT) and links to runs in alerts (none "
        "when unset). Set it on worker processes.",
    )
    auth: Literal["local", "apikey", "clerk"] = Field(
        "local", description="Who may call the API: `local` (one user, loopback only), `apikey` "
        "(keys from `nexod keys create`), `clerk` (Clerk session tokens, and API keys).",
    )
    clerk_jwt_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("NEXOD_CLERK_JWT_KEY", "CLERK_JWT_KEY"),
        description="Clerk's JWT public key (PEM): tokens are verified with no network call.",
    )
    clerk_issuer: str | None = Field(
        None, description="The Clerk Frontend API URL tokens must carry as `iss` "
        "(https://clerk.example.com).",
    )
    clerk_jwks_url: str | None = Field(
        None, description="JWKS URL, fetched once and cached, when no PEM key is set "
        "(default: {issuer}/.well-known/jwks.json).",
    )
    clerk_authorized_parties: str = Field(
        "", description="Comma-separated origins allowed as a token's `azp` "
        "(https://app.example.com); empty accepts only tokens without `azp`.",
    )
    clerk_leeway: float = Field(
        5.0, ge=0, le=300, description="Seconds of clock skew allowed on `exp` and `nbf`."
    )
    clerk_webhook_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices(
            "NEXOD_CLERK_WEBHOOK_SECRET", "CLERK_WEBHOOK_SIGNING_SECRET", "CLERK_WEBHOOK_SECRET"),
        description="Svix signing secret (whsec_…) of the Clerk webhook endpoint.",
    )
    session_ttl: int = Field(
        3600, ge=60, description="Seconds a browser session lives without use (L1 cache TTL)."
    )
    cookie_secure: bool = Field(
        True, description="Mark the session cookie Secure (sent over HTTPS only)."
    )
    trusted_origins: list[str] = Field(
        default_factory=list,
        description="Other origins (JSON list, e.g. '[\"https://ops.example.com\"]') whose pages "
        "may send cookie-authenticated POST/PUT/PATCH/DELETE requests; the server's own origin "
        "always may. With NEXOD_AUTH=local, any request from another origin is refused unless "
        "it is listed here (LangGraph Studio's is by default). Needed when a proxy changes the Host header.",
    )
    api_cache_ttl: int = Field(
        60, ge=0, description="Seconds a read endpoint's response stays cached (L3; 0: off)."
    )
    webhook_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a run webhook.")
    metrics: bool = Field(
        True, description="Prometheus metrics at /metrics, the SLO report and the latency alert "
        "rules (false: no instrumentation at all).",
    )
    metrics_dir: Path | None = Field(
        None, description="Shared folder for multiprocess metrics: every process on the host "
        "writes there and any API process's /metrics reports the sum. Unset: per process.",
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="`nexod worker` serves its own /metrics on this port "
        "(for workers without a shared NEXOD_METRICS_DIR).",
    )
    sentry_dsn: SecretStr | None = Field(
        None, description="Sentry DSN: errors (and sampled traces) go to Sentry, scrubbed.",
    )
    sentry_traces_sample_rate: float = Field(
        0.1, ge=0, le=1, description="Share of requests traced in Sentry (health, metrics and "
        "streams never are).",
    )
    sentry_environment: str | None = Field(None, description="Sentry environment tag.")
    alert_rules: list[Rule] = Field(
        default_factory=lambda: list(DEFAULT_RULES),
        description="Alert rules as a JSON list (see README, Alerts).",
    )
    alert_google_chat_url: SecretStr | None = Field(
        None, description="Google Chat incoming-webhook URL alerts are posted to (as cards).",
    )
    alert_webhook_url: SecretStr | None = Field(
        None, description="Any URL that receives each alert notification as JSON.",
    )
    alert_interval: float = Field(
        15.0, gt=0, description="Seconds between evaluations of the threshold alert rules.",
    )
    alert_repeat: float = Field(
        3600.0, gt=0, description="While an alert keeps firing, at most one reminder (with the "
        "count so far) per this many seconds.",
    )
    slo_window: float = Field(
        300.0, gt=0, description="Default window (seconds) of the SLO report.",
    )
    llm: str = Field(
        "local", description="Default chat model: `local` (SmolLM2 in-process), "
        "`local:<file.gguf>`, `openai:<model>` or `python:<module>:<factory>`.",
    )
    llm_base_url: str | None = Field(
        None, description="Base URL of the OpenAI-compatible endpoint for `openai:` models "
        "(unset: api.openai.com).",
    )
    llm_api_key: SecretStr | None = Field(None, description="API key for `openai:` models.")
    llm_threads: int = Field(
        1, ge=1, le=256, description="CPU threads of a `local` model (1 holds up best on a busy "
        "machine).",
    )
    llm_context: int = Field(2048, ge=256, description="Context window (tokens) of a `local` model.")
    llm_max_tokens: int = Field(256, ge=1, description="Longest answer (tokens) of one model call.")
    llm_timeout: float = Field(120.0, gt=0, description="Seconds before an `openai:` call fails.")
    run_token_budget: int = Field(
        0, ge=0, description="Tokens a crew run may spend before it pauses for a person to allow "
        "more or stop (0: no budget; a run's configurable.token_budget overrides it).",
    )
    org_token_budget: int = Field(
        0, ge=0, description="Tokens an organisation's runs may spend per calendar month "
        "(UTC) before each run pauses for a person to allow more or stop (crews before a task, "
        "other graphs before a model call; 0: no budget; `nexod budget ORG --tokens N` gives an "
        "organisation its own).",
    )
    org_cost_budget: float = Field(
        0.0, ge=0, description="Cost (in NEXOD_LLM_PRICES' currency) an organisation may spend "
        "per calendar month, as NEXOD_ORG_TOKEN_BUDGET (0: no budget; only priced models count).",
    )
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='Price per million tokens, input and output, by model '
        'name, as JSON: {"gpt-4o-mini": [0.15, 0.6]}. Costs are reported where a price is known.',
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("expected a postgresql://user:pass@host:port/db URL, or unset for SQLite")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://host:port/db URL, or unset for in-process events")
        return value

    @field_validator("kb_chunk_overlap")
    @classmethod
    def _check_overlap(cls, value: int, info: Any) -> int:
        size = info.data.get("kb_chunk_size")
        if size is not None and value >= size:
            raise ValueError(f"must be smaller than NEXOD_KB_CHUNK_SIZE ({size})")
        return value

    @property
    def vector_store_url(self) -> str:
        """The vector store in use, defaults applied: ``local``, ``pgvector[:url]`` or ``pinecone:<index>``."""
        if self.vector_store:
            return self.vector_store
        return "pgvector" if self.is_postgres else "local"

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        if self.auth == "local" and not is_loopback(self.host):
            raise ValueError(
                f"NEXOD_AUTH=local serves one unauthenticated user, so it only listens on a "
                f"loopback address (127.0.0.1, ::1, localhost), not {self.host!r}; set "
                "NEXOD_AUTH=apikey or NEXOD_AUTH=clerk to listen on a network"
            )
        if self.auth == "clerk" and self.clerk_jwt_key is None and not (
            self.clerk_jwks_url or self.clerk_issuer
        ):
            raise ValueError(
                "NEXOD_AUTH=clerk needs CLERK_JWT_KEY (the PEM public key) or "
                "NEXOD_CLERK_ISSUER / NEXOD_CLERK_JWKS_URL to fetch the keys from"
            )
        return self

    @property
    def authorized_parties(self) -> frozenset[str]:
        """The `azp` values Clerk tokens may carry."""
        return frozenset(p.strip().rstrip("/") for p in self.clerk_authorized_parties.split(",") if p.strip())

    @property
    def is_postgres(self) -> bool:
        """True when storage is PostgreSQL rather than the embedded SQLite files."""
        return self.database_url is not None

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy's async engine."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'nexod.db').as_posix()}"
        rest = self.database_url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"

    @property
    def libpq_url(self) -> str:
        """The URL in libpq form, for psycopg and the LangGraph Postgres checkpointer."""
        assert self.database_url is not None
        return "postgresql://" + self.database_url.split("://", 1)[1]

    def resolve_config_path(self) -> Path | None:
        """The graph config file in use: the setting, else nexod.json, else langgraph.json."""
        if self.config is not None:
            if not self.config.is_file():
                raise ConfigError(
                    f"NEXOD_CONFIG / --config: file {self.config} does not exist; expected a "
                    "nexod.json or langgraph.json file"
                )
            return self.config
        for name in ("nexod.json", "langgraph.json"):
            if Path(name).is_file():
                return Path(name)
        return None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, turning validation errors into ConfigError.

    The message names each offending ``NEXOD_*`` variable and what it expects.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:  # a list or object setting that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"NEXOD_{found.group(1).upper()}" if found else "a NEXOD_* variable"
        raise ConfigError(f"invalid settings:\n  {name}: expected JSON (a list of rules: see "
                          "README, Alerts)") from exc
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            if not field:  # a check across several settings names them in its message
                problems.append(str(err["msg"]).removeprefix("Value error, "))
                continue
            shown = "(hidden)" if "key" in field or "secret" in field else repr(err.get("input"))
            name = field.upper() if field.upper().startswith(("NEXOD_", "CLERK_")) else f"NEXOD_{field.upper()}"
            problems.append(f"{name}: {err['msg']} (got {shown})")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from exc
