#!/usr/bin/env python3
"""Offline checker of Kubernetes manifests against the Pod Security Standards.

Implements the Baseline and Restricted profiles of the Pod Security Standards
(https://kubernetes.io/docs/concepts/security/pod-security-standards/), as the `latest`
policy version of the Pod Security admission controller applies them in Kubernetes v1.32
and later (checked against the published standard and the controller of v1.32 to v1.36).
Where the published page and those releases differ, the strictest rule is kept, so that a
pod spec that passes here is admitted by each of them:

- the sysctls net.ipv4.tcp_rmem and net.ipv4.tcp_wmem are safe (every release since v1.32;
  the published page does not list them yet);
- "Host Probes / Lifecycle Hooks" (a Baseline control since v1.34) is checked;
- `image` volumes are not among the Restricted volume types (the published list; the
  controller admits them since v1.33);
- pods with `hostUsers: false` get no relaxation of "Running as Non-root", "Running as
  Non-root user" or Baseline "/proc Mount Type" (the controller relaxes those since v1.35).

Input: multi-document YAML streams (files, or `-` for standard input), typically the output
of `kubectl kustomize`. Every Namespace in the input must carry the
`pod-security.kubernetes.io/enforce` label (and no `enforce-version` other than `latest`);
every workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
Job, CronJob) is evaluated against the level its namespace enforces, or against `--level`.

Output: one line per violation,
    <source>: <Kind>/<namespace>/<name>: <scope>: <check> (<level>): <field> = <value>
where <scope> is `pod`, `container <name>` or `volume <name>`, and `ok <Kind>/<namespace>/<name>
meets <level>` for each workload without violations. Exit status: 0 when nothing is violated
(or only checks named by `--expect-only`), 1 on violations, 2 on unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import yaml

DOC_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
        "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",  # v1.27
        "net.ipv4.tcp_keepalive_time",  # v1.29
        "net.ipv4.tcp_fin_timeout",  # v1.29
        "net.ipv4.tcp_keepalive_intvl",  # v1.29
        "net.ipv4.tcp_keepalive_probes",  # v1.29
        "net.ipv4.tcp_rmem",  # v1.32
        "net.ipv4.tcp_wmem",  # v1.32
    }
)
SELINUX_TYPES = frozenset(
    {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}  # engine: v1.31
)
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
        "projected", "secret",
    }
)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")
# The lists of containers of a pod spec, in the order the admission controller visits them.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# kind -> (API group, path from the document to its pod template: metadata and spec)
WORKLOAD_KINDS = {
    "Pod": ("", ()),
    "ReplicationController": ("", ("spec", "template")),
    "Deployment": ("apps", ("spec", "template")),
    "StatefulSet": ("apps", ("spec", "template")),
    "DaemonSet": ("apps", ("spec", "template")),
    "ReplicaSet": ("apps", ("spec", "template")),
    "Job": ("batch", ("spec", "template")),
    "CronJob": ("batch", ("spec", "jobTemplate", "spec", "template")),
}


class InputError(Exception):
    """Input the checker cannot evaluate (exit status 2)."""


# --- Typed access to parsed YAML --------------------------------------------------------


def mapping(parent: dict, key: str, path: str) -> dict:
    """parent[key] as a mapping; {} when absent or null."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{join(path, key)} is not a mapping")
    return value


def sequence(parent: dict, key: str, path: str) -> list:
    """parent[key] as a list; [] when absent or null."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{join(path, key)} is not a list")
    return value


def items(parent: dict, key: str, path: str) -> Iterator[tuple[str, dict]]:
    """(path, mapping) of each element of the list parent[key]."""
    for index, item in enumerate(sequence(parent, key, path)):
        item_path = f"{join(path, key)}[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{item_path} is not a mapping")
        yield item_path, item


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_unset_or_false(value: object) -> bool:
    return value is None or value is False


def is_one_of(value: object, allowed: frozenset) -> bool:
    return isinstance(value, str) and value in allowed


# --- The pod spec under evaluation ------------------------------------------------------


@dataclass(frozen=True)
class Container:
    name: str
    path: str  # of the container in its document, e.g. spec.template.spec.containers[0]
    spec: dict
    security: dict  # its securityContext, {} when absent

    @property
    def scope(self) -> str:
        return f"container {self.name}"

    @property
    def security_path(self) -> str:
        return f"{self.path}.securityContext"


@dataclass(frozen=True)
class Pod:
    path: str  # of the pod spec in its document, e.g. spec.template.spec
    spec: dict
    metadata_path: str
    metadata: dict
    security: dict  # spec.securityContext, {} when absent
    containers: tuple

    @property
    def security_path(self) -> str:
        return f"{self.path}.securityContext"

    @property
    def is_windows(self) -> bool:
        return mapping(self.spec, "os", self.path).get("name") == "windows"

    def security_contexts(self) -> Iterator[tuple[str, str, dict]]:
        """(scope, path, securityContext) of the pod, then of each container."""
        yield "pod", self.security_path, self.security
        for container in self.containers:
            yield container.scope, container.security_path, container.security


def make_pod(template: dict, path: str) -> Pod:
    """The pod of a pod template (a mapping with metadata and spec) found at path."""
    spec_path, metadata_path = join(path, "spec"), join(path, "metadata")
    if not isinstance(template.get("spec"), dict):
        raise InputError(f"{spec_path} is missing or not a mapping")
    spec = template["spec"]
    containers = []
    for list_name in CONTAINER_LISTS:
        for container_path, container in items(spec, list_name, spec_path):
            name = container.get("name")
            if not isinstance(name, str) or not name:
                raise InputError(f"{container_path} has no name")
            security = mapping(container, "securityContext", container_path)
            containers.append(Container(name, container_path, container, security))
    return Pod(
        path=spec_path,
        spec=spec,
        metadata_path=metadata_path,
        metadata=mapping(template, "metadata", path),
        security=mapping(spec, "securityContext", spec_path),
        containers=tuple(containers),
    )


# --- The checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    scope: str  # "pod", "container NAME" or "volume NAME"
    field: str
    value: object  # None when the field is unset but must be set


def host_process(pod: Pod) -> list:
    found = []
    for scope, path, security in pod.security_contexts():
        options_path = join(path, "windowsOptions")
        value = mapping(security, "windowsOptions", path).get("hostProcess")
        if not is_unset_or_false(value):
            found.append(Finding(scope, join(options_path, "hostProcess"), value))
    return found


def host_namespaces(pod: Pod) -> list:
    return [
        Finding("pod", join(pod.path, key), pod.spec[key])
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if not is_unset_or_false(pod.spec.get(key))
    ]


def privileged_containers(pod: Pod) -> list:
    return [
        Finding(c.scope, join(c.security_path, "privileged"), c.security["privileged"])
        for c in pod.containers
        if not is_unset_or_false(c.security.get("privileged"))
    ]


def capability_lists(container: Container) -> tuple[str, dict]:
    return join(container.security_path, "capabilities"), mapping(
        container.security, "capabilities", container.security_path
    )


def added_capabilities(container: Container, allowed: frozenset) -> list:
    path, capabilities = capability_lists(container)
    return [
        Finding(container.scope, f"{path}.add[{index}]", capability)
        for index, capability in enumerate(sequence(capabilities, "add", path))
        if not is_one_of(capability, allowed)
    ]


def baseline_capabilities(pod: Pod) -> list:
    return [f for c in pod.containers for f in added_capabilities(c, BASELINE_CAPABILITIES)]


def volumes(pod: Pod) -> Iterator[tuple[str, str, dict]]:
    """(scope, path, volume) of each volume of the pod."""
    for path, volume in items(pod.spec, "volumes", pod.path):
        yield f"volume {volume.get('name')}", path, volume


def hostpath_volumes(pod: Pod) -> list:
    return [
        Finding(scope, join(path, "hostPath"), volume["hostPath"])
        for scope, path, volume in volumes(pod)
        if volume.get("hostPath") is not None
    ]


def host_ports(pod: Pod) -> list:
    found = []
    for container in pod.containers:
        for path, port in items(container.spec, "ports", container.path):
            value = port.get("hostPort")
            if value is not None and not (type(value) is int and value == 0):
                found.append(Finding(container.scope, join(path, "hostPort"), value))
    return found


def handler_hosts(parent: dict, key: str, path: str) -> list:
    """(path, value) of a non-empty host of the httpGet / tcpSocket handler of parent[key]."""
    handler_path = join(path, key)
    handler = mapping(parent, key, path)
    found = []
    for kind in ("httpGet", "tcpSocket"):
        host = mapping(handler, kind, handler_path).get("host")
        if host not in (None, ""):
            found.append((f"{handler_path}.{kind}.host", host))
    return found


def probe_and_hook_hosts(pod: Pod) -> list:
    found = []
    for c in pod.containers:
        hosts = [h for probe in PROBES for h in handler_hosts(c.spec, probe, c.path)]
        lifecycle_path = join(c.path, "lifecycle")
        lifecycle = mapping(c.spec, "lifecycle", c.path)
        hosts += [
            h for hook in LIFECYCLE_HOOKS for h in handler_hosts(lifecycle, hook, lifecycle_path)
        ]
        found += [Finding(c.scope, path, host) for path, host in hosts]
    return found


def apparmor(pod: Pod) -> list:
    found = []
    for scope, path, security in pod.security_contexts():
        profile_type = mapping(security, "appArmorProfile", path).get("type")
        if profile_type is not None and not is_one_of(profile_type, APPARMOR_TYPES):
            found.append(Finding(scope, f"{path}.appArmorProfile.type", profile_type))
    annotations = mapping(pod.metadata, "annotations", pod.metadata_path)
    for key, value in annotations.items():
        if isinstance(key, str) and key.startswith(APPARMOR_ANNOTATION_PREFIX):
            if not allowed_apparmor_annotation(value):
                container = key[len(APPARMOR_ANNOTATION_PREFIX):]
                field = f"{pod.metadata_path}.annotations[{key}]"
                found.append(Finding(f"container {container}", field, value))
    return found


def allowed_apparmor_annotation(value: object) -> bool:
    # An empty value counts as undefined, as the admission controller treats it.
    return isinstance(value, str) and (
        value in ("", "runtime/default") or value.startswith("localhost/")
    )


def selinux(pod: Pod) -> list:
    found = []
    for scope, path, security in pod.security_contexts():
        options_path = join(path, "seLinuxOptions")
        options = mapping(security, "seLinuxOptions", path)
        selinux_type = options.get("type")
        if selinux_type not in (None, "") and not is_one_of(selinux_type, SELINUX_TYPES):
            found.append(Finding(scope, join(options_path, "type"), selinux_type))
        for key in ("user", "role"):
            if options.get(key) not in (None, ""):
                found.append(Finding(scope, join(options_path, key), options[key]))
    return found


def proc_mount(pod: Pod) -> list:
    return [
        Finding(c.scope, join(c.security_path, "procMount"), c.security["procMount"])
        for c in pod.containers
        if c.security.get("procMount") not in (None, "Default")
    ]


def seccomp_type(security: dict, path: str) -> object:
    return mapping(security, "seccompProfile", path).get("type")


def seccomp_not_unconfined(pod: Pod) -> list:
    found = []
    for scope, path, security in pod.security_contexts():
        value = seccomp_type(security, path)
        if value is not None and not is_one_of(value, SECCOMP_TYPES):
            found.append(Finding(scope, f"{path}.seccompProfile.type", value))
    return found


def unsafe_sysctls(pod: Pod) -> list:
    return [
        Finding("pod", join(path, "name"), sysctl.get("name"))
        for path, sysctl in items(pod.security, "sysctls", pod.security_path)
        if not is_one_of(sysctl.get("name"), SAFE_SYSCTLS)
    ]


def volume_types(pod: Pod) -> list:
    found = []
    for scope, path, volume in volumes(pod):
        sources = {k: v for k, v in volume.items() if k != "name" and v is not None}
        # A volume without a source (defaulted to emptyDir by the API server) passes.
        if any(k in RESTRICTED_VOLUME_TYPES for k in sources):
            continue
        found += [Finding(scope, join(path, k), v) for k, v in sources.items()]
    return found


def privilege_escalation(pod: Pod) -> list:
    if pod.is_windows:
        return []
    found = []
    for c in pod.containers:
        value = c.security.get("allowPrivilegeEscalation")
        if value is not False:
            found.append(Finding(c.scope, join(c.security_path, "allowPrivilegeEscalation"), value))
    return found


def running_as_non_root(pod: Pod) -> list:
    """runAsNonRoot: true on every container, set on it or inherited from the pod."""
    found = []
    pod_value = pod.security.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        found.append(Finding("pod", join(pod.security_path, "runAsNonRoot"), pod_value))
    for c in pod.containers:
        value = c.security.get("runAsNonRoot")
        inherited = value is None and pod_value is True
        if value is not True and not inherited:
            found.append(Finding(c.scope, join(c.security_path, "runAsNonRoot"), value))
    return found


def running_as_non_root_user(pod: Pod) -> list:
    found = []
    for scope, path, security in pod.security_contexts():
        value = security.get("runAsUser")
        if value is not None and not (type(value) is int and value != 0):
            found.append(Finding(scope, join(path, "runAsUser"), value))
    return found


def seccomp_required(pod: Pod) -> list:
    """RuntimeDefault or Localhost on every container, set on it or inherited from the pod."""
    if pod.is_windows:
        return []
    found = []
    pod_value = seccomp_type(pod.security, pod.security_path)
    if pod_value is not None and not is_one_of(pod_value, SECCOMP_TYPES):
        found.append(Finding("pod", f"{pod.security_path}.seccompProfile.type", pod_value))
    for c in pod.containers:
        value = seccomp_type(c.security, c.security_path)
        inherited = value is None and is_one_of(pod_value, SECCOMP_TYPES)
        if not is_one_of(value, SECCOMP_TYPES) and not inherited:
            found.append(Finding(c.scope, f"{c.security_path}.seccompProfile.type", value))
    return found


def restricted_capabilities(pod: Pod) -> list:
    if pod.is_windows:
        return []
    found = []
    for c in pod.containers:
        path, capabilities = capability_lists(c)
        drop = sequence(capabilities, "drop", path)
        if "ALL" not in drop:
            found.append(Finding(c.scope, join(path, "drop"), drop or None))
        found += added_capabilities(c, frozenset({"NET_BIND_SERVICE"}))
    return found


@dataclass(frozen=True)
class Check:
    id: str  # the control's name in the published standard
    level: str  # baseline or restricted
    url: str
    find: Callable[[Pod], list]  # the violating fields and their values


CHECKS = (
    Check("HostProcess", BASELINE, DOC_URL, host_process),
    Check("Host Namespaces", BASELINE, DOC_URL, host_namespaces),
    Check("Privileged Containers", BASELINE, DOC_URL, privileged_containers),
    Check("Capabilities", BASELINE, DOC_URL, baseline_capabilities),
    Check("HostPath Volumes", BASELINE, DOC_URL, hostpath_volumes),
    Check("Host Ports", BASELINE, DOC_URL, host_ports),
    Check("Host Probes / Lifecycle Hooks", BASELINE, DOC_URL, probe_and_hook_hosts),
    Check("AppArmor", BASELINE, DOC_URL, apparmor),
    Check("SELinux", BASELINE, DOC_URL, selinux),
    Check("/proc Mount Type", BASELINE, DOC_URL, proc_mount),
    Check("Seccomp", BASELINE, DOC_URL, seccomp_not_unconfined),
    Check("Sysctls", BASELINE, DOC_URL, unsafe_sysctls),
    Check("Volume Types", RESTRICTED, DOC_URL, volume_types),
    Check("Privilege Escalation", RESTRICTED, DOC_URL, privilege_escalation),
    Check("Running as Non-root", RESTRICTED, DOC_URL, running_as_non_root),
    Check("Running as Non-root user", RESTRICTED, DOC_URL, running_as_non_root_user),
    Check("Seccomp", RESTRICTED, DOC_URL, seccomp_required),
    Check("Capabilities", RESTRICTED, DOC_URL, restricted_capabilities),
)
CHECK_IDS = frozenset(check.id for check in CHECKS)


def checks_for(level: str) -> tuple:
    """The checks of a level. Restricted includes Baseline, except that a Restricted check
    replaces the Baseline check of the same id (Seccomp, Capabilities), as it forbids more."""
    if level == PRIVILEGED:
        return ()
    if level == BASELINE:
        return tuple(c for c in CHECKS if c.level == BASELINE)
    restricted_ids = {c.id for c in CHECKS if c.level == RESTRICTED}
    return tuple(c for c in CHECKS if c.level == RESTRICTED or c.id not in restricted_ids)


def evaluate(pod: Pod, level: str) -> list[tuple[Check, Finding]]:
    return [(check, finding) for check in checks_for(level) for finding in check.find(pod)]


# --- Documents, namespaces and workloads ------------------------------------------------


@dataclass(frozen=True)
class Document:
    source: str
    where: str  # "document 3", or "document 3, item 2" inside a List
    body: dict

    def __str__(self) -> str:
        return f"{self.source}: {self.where}"

    @property
    def kind(self) -> object:
        return self.body.get("kind")

    @property
    def group(self) -> str:
        api_version = self.body.get("apiVersion")
        return api_version.rpartition("/")[0] if isinstance(api_version, str) else ""

    @property
    def metadata(self) -> dict:
        return mapping(self.body, "metadata", "")


def read_documents(source: str, stream) -> Iterator[Document]:
    """The objects of one YAML stream (the items of a List one by one)."""
    loader = yaml.safe_load_all(stream)
    number = 0
    while True:
        try:
            body = next(loader)
        except StopIteration:
            return
        except yaml.YAMLError as error:
            raise InputError(f"{source}: document {number + 1}: unparseable YAML: {error}")
        number += 1
        if body is None:
            continue
        if not isinstance(body, dict):
            raise InputError(f"{source}: document {number}: not a mapping")
        if body.get("kind") == "List":
            for index, item in enumerate(sequence(body, "items", ""), start=1):
                if not isinstance(item, dict):
                    raise InputError(f"{source}: document {number}, item {index}: not a mapping")
                yield Document(source, f"document {number}, item {index}", item)
        else:
            yield Document(source, f"document {number}", body)


def read_inputs(paths: list) -> list[Document]:
    documents = []
    for path in paths:
        if path == "-":
            documents += read_documents("<stdin>", sys.stdin)
            continue
        try:
            with open(path, encoding="utf-8") as stream:
                documents += read_documents(path, stream)
        except OSError as error:
            raise InputError(f"{path}: {error.strerror}")
    return documents


def namespace_levels(documents: list, errors: list) -> dict:
    """Namespace name -> the level it enforces (None when its labels are unusable: the
    reason is appended to errors)."""
    levels: dict = {}
    for doc in documents:
        if doc.kind != "Namespace" or doc.group != "":
            continue
        name = None
        try:
            name = doc.metadata.get("name")
            level = enforced_level(doc)
        except InputError as error:
            errors.append(f"{doc}: Namespace {name}: {error}")
            level = None
        if name in levels and levels[name] != level:
            errors.append(f"{doc}: Namespace {name} is defined twice, with different levels")
        levels[name] = level
    return levels


def enforced_level(namespace: Document) -> str:
    labels = mapping(namespace.metadata, "labels", "metadata")
    level = labels.get(ENFORCE_LABEL)
    if level is None:
        raise InputError(f"no {ENFORCE_LABEL} label (every namespace must declare its level)")
    if level not in LEVELS:
        raise InputError(f"{ENFORCE_LABEL} is {level!r}, not one of {', '.join(LEVELS)}")
    version = labels.get(ENFORCE_VERSION_LABEL)
    if version not in (None, "latest"):
        raise InputError(f"{ENFORCE_VERSION_LABEL} is {version!r}: only latest is implemented")
    return level


@dataclass(frozen=True)
class Workload:
    document: Document
    kind: str
    namespace: Optional[str]
    name: str
    pod: Pod

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace or '-'}/{self.name}"


def as_workload(doc: Document) -> Optional[Workload]:
    """The workload a document defines, None when it defines none."""
    kind = doc.kind
    if kind not in WORKLOAD_KINDS or WORKLOAD_KINDS[kind][0] != doc.group:
        return None
    template, path = doc.body, ""
    for key in WORKLOAD_KINDS[kind][1]:
        template, path = mapping(template, key, path), join(path, key)
    name = doc.metadata.get("name") or doc.metadata.get("generateName")
    if not isinstance(name, str):
        raise InputError("no metadata.name")
    return Workload(doc, kind, doc.metadata.get("namespace"), name, make_pod(template, path))


def find_workloads(documents: list, errors: list) -> list[Workload]:
    workloads = []
    for doc in documents:
        if "kind" not in doc.body:
            errors.append(f"{doc}: no kind")
            continue
        try:
            workload = as_workload(doc)
        except InputError as error:
            errors.append(f"{doc} ({doc.kind}): {error}")
            continue
        if workload is not None:
            workloads.append(workload)
    return workloads


def workload_level(workload: Workload, levels: dict) -> str:
    namespace = workload.namespace
    if not namespace:
        raise InputError("no metadata.namespace, so no level to check it against (use --level)")
    if namespace not in levels:
        raise InputError(
            f"namespace {namespace!r} is not in the input (a Namespace must declare its level)"
        )
    if levels[namespace] is None:
        raise InputError(f"namespace {namespace!r} declares no usable level (see above)")
    return levels[namespace]


# --- Report ----------------------------------------------------------------------------


def show(value: object) -> str:
    if value is None:
        return "<unset>"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def violation_line(workload: Workload, check: Check, finding: Finding) -> str:
    return (
        f"{workload.document.source}: {workload}: {finding.scope}: {check.id} ({check.level}): "
        f"{finding.field} = {show(finding.value)}"
    )


@dataclass(frozen=True)
class Result:
    workload: Workload
    level: str
    violations: list  # of (Check, Finding)


def evaluate_all(
    workloads: list, levels: dict, forced_level: Optional[str], errors: list
) -> list[Result]:
    results = []
    for workload in workloads:
        try:
            level = forced_level or workload_level(workload, levels)
            results.append(Result(workload, level, evaluate(workload.pod, level)))
        except InputError as error:
            errors.append(f"{workload.document} ({workload}): {error}")
    return results


def report(results: list, expected: frozenset, out) -> bool:
    """Prints the results; True when nothing but expected checks is violated."""
    passed = True
    seen: set = set()
    for result in results:
        unexpected = [(c, f) for c, f in result.violations if c.id not in expected]
        allowed = [(c, f) for c, f in result.violations if c.id in expected]
        for check, finding in unexpected:
            print(violation_line(result.workload, check, finding), file=out)
        for check, finding in allowed:
            print(f"{violation_line(result.workload, check, finding)} (expected)", file=out)
        seen.update(c.id for c, _ in allowed)
        if unexpected:
            passed = False
        elif allowed:
            ids = ", ".join(sorted({c.id for c, _ in allowed}))
            print(f"ok {result.workload} meets {result.level} except the expected {ids}", file=out)
        else:
            print(f"ok {result.workload} meets {result.level}", file=out)
    for check_id in sorted(expected - seen):
        print(f"pss: note: the expected check {check_id!r} is not violated", file=sys.stderr)
    return passed


def list_checks(out) -> None:
    for check in CHECKS:
        print(f"{check.level:<10}  {check.id:<30}  {check.url}", file=out)


def parse_args(argv: Optional[list]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pss.py",
        description="Checks the workloads of Kubernetes manifests against the Pod Security "
        "Standards their namespaces enforce.",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="FILE", help="YAML stream, - for standard input"
    )
    parser.add_argument("--level", choices=LEVELS, help="check every workload against this level")
    parser.add_argument(
        "--expect-only",
        metavar="CHECK_ID[,CHECK_ID...]",
        default="",
        help="violations of only these checks are allowed: reported as expected, exit status 0",
    )
    parser.add_argument("--list-checks", action="store_true", help="print the table of checks")
    args = parser.parse_args(argv)
    args.expected = frozenset(i.strip() for i in args.expect_only.split(",") if i.strip())
    unknown = sorted(args.expected - CHECK_IDS)
    if unknown:
        parser.error(f"unknown check id {', '.join(map(repr, unknown))}; see --list-checks")
    if not args.inputs and not args.list_checks:
        parser.error("no input (give files, or - for standard input)")
    return args


def run(args: argparse.Namespace, out) -> int:
    errors: list = []
    documents = read_inputs(args.inputs)
    levels = {} if args.level else namespace_levels(documents, errors)
    workloads = find_workloads(documents, errors)
    if not workloads and not errors:
        errors.append(f"no workloads in {', '.join(args.inputs)}")
    results = evaluate_all(workloads, levels, args.level, errors)
    if errors:
        for error in errors:
            print(f"pss: error: {error}", file=sys.stderr)
        return 2
    return 0 if report(results, args.expected, out) else 1


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    if args.list_checks:
        list_checks(sys.stdout)
        return 0
    try:
        return run(args, sys.stdout)
    except InputError as error:
        print(f"pss: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
