"""Compose keys mooring has no equivalent for, each with what to do instead."""

from __future__ import annotations

NETWORK_HINT = (
    "mooring runs containers on the engine's default bridge: a service reaches a dependency through its "
    "published port, told in MOORING_<DEP>_ADDR (docs/containers.md), not by service name"
)
HOST_HINT = "configure it in the image or the host; mooring does not set it"

# service key -> (severity, message, hint)
SERVICE_KEYS: dict[str, tuple[str, str, str]] = {
    "networks": ("unmapped", "per-service networks are not supported", NETWORK_HINT),
    "network_mode": ("unmapped", "network_mode is not supported", NETWORK_HINT),
    "links": ("unmapped", "links are not supported", NETWORK_HINT),
    "external_links": ("unmapped", "external_links are not supported", NETWORK_HINT),
    "hostname": ("unmapped", "containers get mooring's own host name", NETWORK_HINT),
    "domainname": ("unmapped", "not supported", NETWORK_HINT),
    "dns": ("unmapped", "custom DNS servers are not supported", HOST_HINT),
    "dns_opt": ("unmapped", "DNS options are not supported", HOST_HINT),
    "dns_search": ("unmapped", "DNS search domains are not supported", HOST_HINT),
    "extra_hosts": (
        "unmapped",
        "extra /etc/hosts entries are not supported",
        "use addresses in env, or bake /etc/hosts into the image",
    ),
    "mac_address": ("unmapped", "not supported", NETWORK_HINT),
    "container_name": (
        "info",
        "mooring names containers itself (mooring-<app>-<instance>)",
        "find them with `mooring ps`",
    ),
    "labels": (
        "unmapped",
        "container labels are not set; mooring labels its containers itself",
        "keep metadata in [app].description or comments",
    ),
    "annotations": ("unmapped", "annotations are not set", "keep metadata in comments"),
    "label_file": ("unmapped", "container labels are not set", "keep metadata in comments"),
    "logging": ("unmapped", "mooring collects stdout/stderr itself", "read them with `mooring logs SERVICE`"),
    "entrypoint": (
        "unmapped",
        "mooring runs the image's own ENTRYPOINT",
        "bake this ENTRYPOINT into the image (docker build), or when the image has none, put it at the front of command",
    ),
    "user": ("unmapped", "the user is not set", "set USER in the image"),
    "group_add": ("unmapped", "supplementary groups are not set", "set them in the image"),
    "privileged": (
        "unmapped",
        "privileged containers are not supported",
        "give the container only what it needs in the image, or run it outside mooring",
    ),
    "cap_add": (
        "unmapped",
        "capabilities are not changed",
        "run it outside mooring if it needs extra capabilities",
    ),
    "cap_drop": ("unmapped", "capabilities are not changed", "the engine's default set applies"),
    "security_opt": ("unmapped", "security options are not set", "the engine's defaults apply"),
    "read_only": (
        "unmapped",
        "a read-only root filesystem is not set",
        "the container's root filesystem stays writable",
    ),
    "tmpfs": ("unmapped", "tmpfs mounts are not supported", "use a named volume ([volume.NAME])"),
    "shm_size": ("unmapped", "the /dev/shm size is not set", "the engine's default (64MB) applies"),
    "devices": ("unmapped", "devices are not passed through", "run it outside mooring"),
    "device_cgroup_rules": ("unmapped", "not supported", "run it outside mooring"),
    "gpus": ("unmapped", "GPUs are not passed through", "run it outside mooring"),
    "ulimits": (
        "unmapped",
        "ulimits are not set",
        "use resources.pids for a process limit; set others in the image",
    ),
    "sysctls": ("unmapped", "sysctls are not set", "set them on the host"),
    "ipc": ("unmapped", "not supported", HOST_HINT),
    "pid": ("unmapped", "not supported", HOST_HINT),
    "uts": ("unmapped", "not supported", HOST_HINT),
    "userns_mode": ("unmapped", "not supported", HOST_HINT),
    "cgroup": ("unmapped", "not supported", "mooring places each instance in its own cgroup"),
    "cgroup_parent": ("unmapped", "not supported", "mooring places each instance in its own cgroup"),
    "isolation": ("unmapped", "not supported", HOST_HINT),
    "runtime": ("unmapped", "the OCI runtime is not chosen", "the engine's default runtime applies"),
    "platform": ("unmapped", "the platform is not chosen", "pull or build an image for this host's platform"),
    "pull_policy": (
        "unmapped",
        "the engine pulls an image when it is missing",
        "pull or build it before `mooring up` to control when",
    ),
    "pull_refresh_after": ("unmapped", "not supported", "pull the image yourself before `mooring up`"),
    "tty": ("unmapped", "no TTY is allocated", "logs are read with `mooring logs`"),
    "stdin_open": ("unmapped", "stdin is not kept open", "run interactive tools outside mooring"),
    "attach": ("info", "logs are always collected", "read them with `mooring logs`"),
    "init": ("info", "mooring always runs an init process as PID 1", ""),
    "secrets": (
        "unmapped",
        "file-based secrets are not mounted",
        "pass the value through env (a key named *PASSWORD*/*SECRET*/*TOKEN*/*KEY* is kept secret) or a bind mount",
    ),
    "configs": (
        "unmapped",
        "configs are not mounted",
        'bind-mount the file: volumes = ["./file:/target:ro"]',
    ),
    "volumes_from": ("unmapped", "not supported", "mount the same named volume in both services"),
    "storage_opt": ("unmapped", "not supported", "the engine's defaults apply"),
    "credential_spec": ("unmapped", "Windows-only; not supported", ""),
    "oom_kill_disable": ("unmapped", "not supported", "set resources.memory"),
    "oom_score_adj": ("unmapped", "not supported", "set resources.memory"),
    "mem_reservation": (
        "unmapped",
        "memory reservations are not supported",
        "set resources.memory (a limit)",
    ),
    "memswap_limit": ("unmapped", "swap limits are not set", "set resources.memory"),
    "mem_swappiness": ("unmapped", "not supported", "set resources.memory"),
    "cpu_count": ("unmapped", "not supported", "set resources.cpu"),
    "cpu_percent": ("unmapped", "not supported", "set resources.cpu"),
    "cpu_shares": ("unmapped", "CPU shares are not set", "set resources.cpu (a limit)"),
    "cpu_period": ("unmapped", "not supported", "set resources.cpu"),
    "cpu_quota": ("unmapped", "not supported", "set resources.cpu"),
    "cpu_rt_period": ("unmapped", "not supported", "set resources.cpu"),
    "cpu_rt_runtime": ("unmapped", "not supported", "set resources.cpu"),
    "cpuset": ("unmapped", "CPU pinning is not supported", "set resources.cpu"),
    "blkio_config": ("unmapped", "block I/O limits are not set", "set them on the host"),
    "develop": ("unmapped", "Compose Watch is a development loop", "run `mooring up` after a change"),
    "post_start": (
        "unmapped",
        "lifecycle hooks are not supported",
        "do the work in the image's entrypoint, or in a [worker] that the service depends on",
    ),
    "pre_stop": ("unmapped", "lifecycle hooks are not supported", "handle stop_signal in the app"),
    "provider": ("unmapped", "provider services are not supported", "run the provider's resource separately"),
    "models": ("unmapped", "model runner models are not supported", "run the model server as a service"),
    "use_api_socket": (
        "unmapped",
        "the engine's API socket is not mounted",
        "bind-mount /var/run/docker.sock if you mean it",
    ),
}

TOP_LEVEL_KEYS: dict[str, tuple[str, str, str]] = {
    "version": ("info", "obsolete; Compose ignores it too", ""),
    "networks": ("unmapped", "networks are not created", NETWORK_HINT),
    "secrets": (
        "unmapped",
        "secrets are not created",
        "pass values through env; keys named *PASSWORD*/*SECRET*/*TOKEN*/*KEY* are kept secret",
    ),
    "configs": ("unmapped", "configs are not created", "bind-mount the files the services need"),
    "models": ("unmapped", "models are not supported", "run the model server as a service"),
    "include": ("info", "the included files were merged into this manifest", ""),
}
