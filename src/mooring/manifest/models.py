"""The manifest's shape (DESIGN §3) as pydantic models; ``docs/manifest.md`` documents every key."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mooring.manifest.fields import (
    ByteSize,
    Command,
    Cpu,
    Duration,
    EnvMap,
    Frozen,
    Mount,
    Port,
    Signal,
    StrList,
    check_name,
)
from mooring.manifest.routes import HttpRoute
from mooring.manifest.secret_refs import SecretRefs, check_refs

RestartPolicy = Literal["no", "always", "on-failure"]


class HealthCheck(Frozen):
    """How to tell that an instance is ready and stays healthy."""

    type: Literal["http", "tcp", "exec", "grpc"]
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str | None = None
    host: str | None = None
    expected_status: tuple[int, ...] | None = None
    command: Command | None = None
    service: str | None = None
    interval: Duration = 10.0
    timeout: Duration = 5.0
    retries: int = Field(default=3, ge=1, le=100)
    start_period: Duration = 0.0

    @field_validator("expected_status", mode="before")
    @classmethod
    def _status_list(cls, value: Any) -> Any:
        statuses = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(statuses, list):
            for code in statuses:
                if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                    raise ValueError(f"{code!r} is not an HTTP status code (100-599)")
        return statuses

    @model_validator(mode="after")
    def _fields_match_type(self) -> HealthCheck:
        only = {
            "path": "http",
            "host": "http",
            "expected_status": "http",
            "command": "exec",
            "service": "grpc",
        }
        for key, kind in only.items():
            if getattr(self, key) is not None and self.type != kind:
                raise ValueError(f'"{key}" only applies to type = "{kind}", not "{self.type}"; remove it')
        if self.type == "exec" and self.command is None:
            raise ValueError('type = "exec" needs command, e.g. command = ["pg_isready"]')
        if self.type == "exec" and self.port is not None:
            raise ValueError('"port" does not apply to type = "exec"; remove it')
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f'path {self.path!r} must start with "/"')
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("interval and timeout must be longer than 0s")
        if "timeout" not in self.model_fields_set and self.timeout > self.interval:
            # the default timeout never outlasts the interval, so probes do not overlap
            object.__setattr__(self, "timeout", self.interval)
        return self


class Analysis(Frozen):
    """A batch is judged on the live traffic its new instances serve through the edge's HTTP routes."""

    window: Duration = 30.0  # watched this long after each batch is cut over
    min_requests: int = Field(default=20, ge=1, le=10_000_000)  # fewer in the window: inconclusive, passes
    max_5xx_ratio: float = Field(default=0.05, ge=0.0, le=1.0)  # of the new instances' responses
    max_response_time: Duration | None = None  # the new instances' mean response time

    @model_validator(mode="after")
    def _window_positive(self) -> Analysis:
        if self.window < 0.1:
            raise ValueError("window must be at least 100ms: the gate judges the traffic seen in it")
        return self


class Rollout(Frozen):
    """How a change reaches the instances of a service."""

    strategy: Literal["rolling", "canary", "blue_green"] = "rolling"
    parallelism: int = Field(default=1, ge=1, le=10_000)
    delay_between_batches: Duration = 0.0
    order: Literal["start_first", "stop_first"] = "start_first"
    health_check_timeout: Duration = 60.0
    min_ready: Duration = 0.0
    failure_action: Literal["pause", "rollback"] = "pause"
    max_failure_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    drain_timeout: Duration = 10.0
    analysis: Analysis | None = None  # gate each batch on its live traffic (docs/releases.md)
    # percent of the service's traffic the canary gets while it is gated (HAProxy server weights)
    canary_weight: int | None = Field(default=None, ge=1, le=99)

    @field_validator("canary_weight")
    @classmethod
    def _canary_weight_needs_a_canary(cls, value: int | None, info: ValidationInfo) -> int | None:
        strategy = info.data.get("strategy", "rolling")  # validated first: declared before
        if value is not None and strategy != "canary":
            raise ValueError(
                f'only a canary has a weight: strategy is "{strategy}"; set strategy = "canary" '
                "or remove canary_weight"
            )
        return value


class Resources(Frozen):
    """Limits applied through cgroups (processes) or the container engine (images)."""

    cpu: Cpu | None = None
    memory: ByteSize | None = None
    pids: int | None = Field(default=None, ge=1, le=4_194_304)


class Template(Frozen):
    """A file rendered for each instance into its own directory (``MOORING_INSTANCE_DIR``).

    Nomad's ``template`` stanza is the model: the text comes from ``source`` (a file beside the
    manifest, read when the manifest is loaded, so the release holds the content) or inline
    ``data``; ``${VAR}`` is replaced with the instance's environment when the instance starts.
    """

    source: str | None = Field(default=None, min_length=1)
    data: str | None = None
    destination: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_text(self) -> Template:
        if self.data is None and self.source is None:
            raise ValueError('needs source = "file.tmpl" or data = "..."')
        parts = self.destination.replace("\\", "/").split("/")
        if self.destination.startswith("/") or ".." in parts or "" in parts or "." in parts:
            raise ValueError(
                f"destination {self.destination!r} must be a relative path inside the instance directory,"
                ' e.g. "nginx.conf" or "conf/app.ini"'
            )
        return self


class LogRetention(Frozen):
    """How much of the logs of ended instances (replaced, failed, rolled back, past runs) is kept."""

    keep: int = Field(default=10, ge=0, le=100_000)  # instances
    max_size: ByteSize = 100 * 1024 * 1024  # bytes, all those instances together


class Placement(Frozen):
    """Where a cluster service's tasks may run (Swarm placement; docs/cluster.md)."""

    constraints: tuple[str, ...] = ()
    spread: tuple[str, ...] = ()

    @field_validator("constraints")
    @classmethod
    def _comparisons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for constraint in value:
            if "==" not in constraint and "!=" not in constraint:
                raise ValueError(
                    f"{constraint!r} is not a placement constraint; compare a node attribute with == or !=,"
                    ' e.g. "node.role==worker" or "node.labels.zone==a"'
                )
        return value


class Workload(Frozen):
    """Fields every workload kind shares."""

    image: str | None = Field(default=None, min_length=1)
    command: Command | None = None
    env: EnvMap = Field(default_factory=dict)
    secrets: SecretRefs = Field(default_factory=dict)
    env_file: StrList = ()
    working_dir: str | None = Field(default=None, min_length=1)
    volumes: tuple[Mount, ...] = ()
    resources: Resources = Field(default_factory=Resources)
    stop_signal: Signal = "SIGTERM"
    stop_timeout: Duration = 10.0
    # Who runs it: a host user (processes; its primary group and its groups unless given) or the
    # image's user (containers, docker's ``user``).
    user: str | None = Field(default=None, min_length=1)
    group: str | None = Field(default=None, min_length=1)
    groups: tuple[str, ...] = ()
    template: tuple[Template, ...] = ()
    logs: LogRetention = Field(default_factory=LogRetention)

    @model_validator(mode="after")
    def _runnable(self) -> Workload:
        if self.image is None and self.command is None:
            raise ValueError('needs "image" (run as a container) or "command" (run as a host process)')
        if self.image is None and self.volumes:
            raise ValueError(
                'volumes only apply to containers (set "image"); a host process sees the host filesystem directly'
            )
        if (self.group is not None or self.groups) and self.user is None:
            raise ValueError('"group" and "groups" need "user" (the account the workload runs as)')
        destinations = [t.destination for t in self.template]
        if len(set(destinations)) != len(destinations):
            raise ValueError("two templates render to the same destination; give each its own")
        check_refs(self.secrets, self.env)
        return self

    @property
    def driver(self) -> Literal["process", "container"]:
        return "container" if self.image else "process"


class Service(Workload):
    """A long-running workload with replicas, health and a rollout policy."""

    ports: tuple[Port, ...] = ()
    # HTTP routes on the edge's shared HTTP(S) listener ([[service.NAME.route]], manifest/routes.py)
    route: tuple[HttpRoute, ...] = ()
    depends_on: tuple[str, ...] = ()
    replicas: int = Field(default=1, ge=1, le=1000)
    restart: RestartPolicy = "always"
    max_restarts: int = Field(default=10, ge=0, le=1_000_000)
    health_check: HealthCheck | None = None
    rollout: Rollout = Field(default_factory=Rollout)
    # A service that owns state never runs two instances on it: its cutover stops the old
    # instance first, and it has one replica. ``data_dir`` (processes) declares where the state is.
    stateful: bool = False
    data_dir: str | None = Field(default=None, min_length=1)

    @property
    def owns_state(self) -> bool:
        return self.stateful or self.data_dir is not None

    @model_validator(mode="after")
    def _stateful_cutover(self) -> Service:
        if self.data_dir is not None and self.image is not None:
            raise ValueError('data_dir applies to host processes; a container keeps its state in "volumes"')
        if self.owns_state and "order" not in self.rollout.model_fields_set:
            # stop-first by default: two instances on the same state lose or corrupt it
            object.__setattr__(self, "rollout", self.rollout.model_copy(update={"order": "stop_first"}))
        return self

    # globs (relative to working_dir) of the files whose content is the service's code; default: every
    # file of working_dir not excluded by its .mooringignore (manifest/source.py)
    source: StrList | None = None

    @model_validator(mode="after")
    def _source_of_a_process(self) -> Service:
        if self.source is not None and self.image is not None:
            raise ValueError('"source" only applies to host processes; a container\'s code is its image')
        return self

    # Run on the engine's Swarm cluster instead of this host (docs/cluster.md); None: the app's setting.
    cluster: bool | None = None
    placement: Placement = Field(default_factory=Placement)

    @model_validator(mode="after")
    def _cluster_needs_image(self) -> Service:
        if self.cluster and self.image is None:
            raise ValueError(
                'cluster = true needs "image": a host process runs on the engine\'s own host, a cluster'
                " service runs as a container on the Swarm's nodes"
            )
        if self.cluster and any(m.source.startswith(("/", ".", "~")) for m in self.volumes):
            raise ValueError(
                "a cluster service cannot bind-mount a host path (its task may run on any node);"
                " use a named volume, or pin the service with placement.constraints"
            )
        if self.placement != Placement() and self.cluster is False:
            raise ValueError("placement applies to cluster services only; set cluster = true or remove it")
        return self


class Worker(Workload):
    """A one-shot task: run by ``mooring run-worker`` or before the services that depend on it."""

    depends_on: tuple[str, ...] = ()
    restart: Literal["no", "on-failure"] = "no"
    max_restarts: int = Field(default=3, ge=0, le=1000)
    timeout: Duration = 0.0


class Cron(Workload):
    """A one-shot task on a schedule: ``schedule`` (cron syntax) or ``every`` (a duration)."""

    schedule: str | None = None
    every: Duration | None = None
    timeout: Duration = 0.0

    @field_validator("schedule")
    @classmethod
    def _cron_syntax(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from croniter import croniter

        text = " ".join(value.split())
        try:
            valid = len(text.split(" ")) in (5, 6) and bool(croniter.is_valid(text))
        except Exception:  # croniter raises assorted errors on odd input
            valid = False
        if not valid:
            raise ValueError(f'{value!r} is not a cron schedule; use five fields, e.g. "*/5 * * * *"')
        return text

    @model_validator(mode="after")
    def _one_schedule(self) -> Cron:
        if (self.schedule is None) == (self.every is None):
            raise ValueError('give exactly one of schedule = "*/5 * * * *" or every = "5m"')
        if self.every is not None and self.every < 1:
            raise ValueError("every must be at least 1s")
        return self


class Volume(Frozen):
    """A named volume that containers mount by name."""

    driver: Literal["local"] = "local"
    labels: dict[str, str] = Field(default_factory=dict)


class App(Frozen):
    """The app's identity."""

    name: str | None = None
    description: str | None = None
    # Every service with an image runs on the engine's Swarm cluster unless it says cluster = false.
    cluster: bool = False

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str | None) -> str | None:
        return None if value is None else check_name("app", value)


class Manifest(Frozen):
    """A whole ``mooring.toml``."""

    app: App = Field(default_factory=App)
    service: dict[str, Service] = Field(default_factory=dict)
    worker: dict[str, Worker] = Field(default_factory=dict)
    cron: dict[str, Cron] = Field(default_factory=dict)
    volume: dict[str, Volume] = Field(default_factory=dict)

    @property
    def app_name(self) -> str:
        assert self.app.name is not None, "the loader always fills in the app name"
        return self.app.name
