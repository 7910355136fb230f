"""Tests of pss.py, the offline Pod Security Standards checker.

Run: python -m unittest discover -s tests/deploy -p 'test_*.py'
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pss  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pss.py")

BASELINE, RESTRICTED = pss.BASELINE, pss.RESTRICTED


def restricted_spec() -> dict:
    """A minimal pod spec that meets the restricted level."""
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": "app:1",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }


def container(spec: dict, index: int = 0) -> dict:
    return spec["containers"][index]


def container_security(spec: dict, index: int = 0) -> dict:
    return container(spec, index).setdefault("securityContext", {})


def pod_security(spec: dict) -> dict:
    return spec.setdefault("securityContext", {})


def with_change(change) -> tuple[dict, dict]:
    """(pod spec, pod metadata) of restricted_spec() after change(spec, metadata)."""
    spec, metadata = restricted_spec(), {}
    change(spec, metadata)
    return spec, metadata


def violations(spec: dict, level: str, metadata: dict | None = None) -> list:
    """(check id, check level, scope, field, value) of each violation of a pod spec."""
    pod = pss.make_pod({"metadata": metadata or {}, "spec": spec}, "")
    return [
        (check.id, check.level, f.scope, f.field, f.value) for check, f in pss.evaluate(pod, level)
    ]


def checks_violated(spec: dict, level: str, metadata: dict | None = None) -> set:
    return {(v[0], v[1]) for v in violations(spec, level, metadata)}


# --- One known-bad pod spec per case: (check id, check level, change, field it must name) --


def set_container(key, value, index=0):
    return lambda spec, meta: container_security(spec, index).__setitem__(key, value)


def set_pod(key, value):
    return lambda spec, meta: pod_security(spec).__setitem__(key, value)


def set_spec(key, value):
    return lambda spec, meta: spec.__setitem__(key, value)


def add_volume(volume):
    return lambda spec, meta: spec.setdefault("volumes", []).append(volume)


def set_capabilities(capabilities):
    return set_container("capabilities", capabilities)


def set_annotation(key, value):
    return lambda spec, meta: meta.setdefault("annotations", {}).__setitem__(key, value)


def add_container(list_name, security):
    def change(spec, meta):
        extra = {"name": "extra", "image": "extra:1", "securityContext": security}
        spec.setdefault(list_name, []).append(extra)

    return change


def set_probe(probe, handler, host):
    return lambda spec, meta: container(spec).__setitem__(
        probe, {handler: {"port": 8080, "host": host}}
    )


def set_hook(hook, handler, host):
    return lambda spec, meta: container(spec).__setitem__(
        "lifecycle", {hook: {handler: {"port": 8080, "host": host}}}
    )


def unset_pod_seccomp(spec, meta):
    del pod_security(spec)["seccompProfile"]


def unset_pod_run_as_non_root(spec, meta):
    del pod_security(spec)["runAsNonRoot"]


CONTAINER_SC = "containers[0].securityContext"

# The allowed values of the published standard, written out so that the tests do not read
# them from the code under test.
ALLOWED_CAPABILITIES = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                        "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                        "SYS_CHROOT"]
SAFE_SYSCTLS = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
                "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]
RESTRICTED_VOLUME_TYPES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"]
APPARMOR_KEY = "container.apparmor.security.beta.kubernetes.io/app"

BAD_CASES = [
    ("HostProcess", BASELINE, set_pod("windowsOptions", {"hostProcess": True}),
     "spec.securityContext.windowsOptions.hostProcess"),
    ("HostProcess", BASELINE, set_container("windowsOptions", {"hostProcess": True}),
     f"{CONTAINER_SC}.windowsOptions.hostProcess"),
    ("Host Namespaces", BASELINE, set_spec("hostNetwork", True), "spec.hostNetwork"),
    ("Host Namespaces", BASELINE, set_spec("hostPID", True), "spec.hostPID"),
    ("Host Namespaces", BASELINE, set_spec("hostIPC", True), "spec.hostIPC"),
    ("Privileged Containers", BASELINE, set_container("privileged", True),
     f"{CONTAINER_SC}.privileged"),
    ("Privileged Containers", BASELINE, add_container("initContainers", {"privileged": True}),
     "initContainers[0].securityContext.privileged"),
    ("Privileged Containers", BASELINE, add_container("ephemeralContainers", {"privileged": True}),
     "ephemeralContainers[0].securityContext.privileged"),
    ("Capabilities", BASELINE, set_capabilities({"drop": ["ALL"], "add": ["CHOWN", "SYS_ADMIN"]}),
     f"{CONTAINER_SC}.capabilities.add[1]"),
    ("Capabilities", BASELINE, set_capabilities({"add": ["NET_RAW"]}),
     f"{CONTAINER_SC}.capabilities.add[0]"),
    ("HostPath Volumes", BASELINE, add_volume({"name": "logs", "hostPath": {"path": "/var/log"}}),
     "spec.volumes[0].hostPath"),
    ("Host Ports", BASELINE,
     lambda spec, meta: container(spec).__setitem__("ports", [{"containerPort": 80,
                                                              "hostPort": 80}]),
     "containers[0].ports[0].hostPort"),
    ("Host Probes / Lifecycle Hooks", BASELINE, set_probe("livenessProbe", "httpGet", "10.0.0.1"),
     "containers[0].livenessProbe.httpGet.host"),
    ("Host Probes / Lifecycle Hooks", BASELINE, set_probe("startupProbe", "tcpSocket", "node"),
     "containers[0].startupProbe.tcpSocket.host"),
    ("Host Probes / Lifecycle Hooks", BASELINE, set_hook("preStop", "httpGet", "localhost"),
     "containers[0].lifecycle.preStop.httpGet.host"),
    ("AppArmor", BASELINE, set_pod("appArmorProfile", {"type": "Unconfined"}),
     "spec.securityContext.appArmorProfile.type"),
    ("AppArmor", BASELINE, set_container("appArmorProfile", {"type": "Unconfined"}),
     f"{CONTAINER_SC}.appArmorProfile.type"),
    ("AppArmor", BASELINE, set_annotation(APPARMOR_KEY, "unconfined"),
     f"metadata.annotations[{APPARMOR_KEY}]"),
    ("SELinux", BASELINE, set_pod("seLinuxOptions", {"type": "spc_t"}),
     "spec.securityContext.seLinuxOptions.type"),
    ("SELinux", BASELINE, set_container("seLinuxOptions", {"user": "system_u"}),
     f"{CONTAINER_SC}.seLinuxOptions.user"),
    ("SELinux", BASELINE, set_container("seLinuxOptions", {"role": "system_r"}),
     f"{CONTAINER_SC}.seLinuxOptions.role"),
    ("/proc Mount Type", BASELINE, set_container("procMount", "Unmasked"),
     f"{CONTAINER_SC}.procMount"),
    ("Seccomp", BASELINE, set_pod("seccompProfile", {"type": "Unconfined"}),
     "spec.securityContext.seccompProfile.type"),
    ("Seccomp", BASELINE, set_container("seccompProfile", {"type": "Unconfined"}),
     f"{CONTAINER_SC}.seccompProfile.type"),
    ("Sysctls", BASELINE, set_pod("sysctls", [{"name": "kernel.msgmax", "value": "65536"}]),
     "spec.securityContext.sysctls[0].name"),
    ("Volume Types", RESTRICTED, add_volume({"name": "nfs", "nfs": {"server": "nfs", "path": "/"}}),
     "spec.volumes[0].nfs"),
    ("Volume Types", RESTRICTED, add_volume({"name": "img", "image": {"reference": "data:1"}}),
     "spec.volumes[0].image"),
    ("Privilege Escalation", RESTRICTED, set_container("allowPrivilegeEscalation", True),
     f"{CONTAINER_SC}.allowPrivilegeEscalation"),
    ("Privilege Escalation", RESTRICTED,
     lambda spec, meta: container_security(spec).pop("allowPrivilegeEscalation"),
     f"{CONTAINER_SC}.allowPrivilegeEscalation"),
    ("Running as Non-root", RESTRICTED, set_container("runAsNonRoot", False),
     f"{CONTAINER_SC}.runAsNonRoot"),
    ("Running as Non-root", RESTRICTED, unset_pod_run_as_non_root, f"{CONTAINER_SC}.runAsNonRoot"),
    ("Running as Non-root user", RESTRICTED, set_pod("runAsUser", 0),
     "spec.securityContext.runAsUser"),
    ("Running as Non-root user", RESTRICTED, set_container("runAsUser", 0),
     f"{CONTAINER_SC}.runAsUser"),
    ("Seccomp", RESTRICTED, unset_pod_seccomp, f"{CONTAINER_SC}.seccompProfile.type"),
    ("Seccomp", RESTRICTED, set_pod("seccompProfile", {"type": "Unconfined"}),
     "spec.securityContext.seccompProfile.type"),
    ("Capabilities", RESTRICTED, set_capabilities({"drop": ["NET_RAW"]}),
     f"{CONTAINER_SC}.capabilities.drop"),
    ("Capabilities", RESTRICTED, set_capabilities({"drop": ["ALL"], "add": ["CHOWN"]}),
     f"{CONTAINER_SC}.capabilities.add[0]"),
]

# --- One good pod spec per check: allowed values that must pass the check's level ----------


def several(*changes):
    def change(spec, meta):
        for one in changes:
            one(spec, meta)

    return change


GOOD_CASES = [
    ("HostProcess", BASELINE, several(set_pod("windowsOptions", {"hostProcess": False}),
                                      set_container("windowsOptions", {"hostProcess": False}))),
    ("Host Namespaces", BASELINE, several(set_spec("hostNetwork", False),
                                          set_spec("hostPID", False),
                                          set_spec("hostIPC", False))),
    ("Privileged Containers", BASELINE, set_container("privileged", False)),
    ("Capabilities", BASELINE, set_capabilities({"add": ALLOWED_CAPABILITIES})),
    ("HostPath Volumes", BASELINE, add_volume({"name": "tmp", "emptyDir": {}})),
    ("Host Ports", BASELINE,
     lambda spec, meta: container(spec).__setitem__("ports", [{"containerPort": 80, "hostPort": 0},
                                                              {"containerPort": 81}])),
    ("Host Probes / Lifecycle Hooks", BASELINE,
     several(set_probe("readinessProbe", "httpGet", ""), set_hook("postStart", "tcpSocket", ""))),
    ("AppArmor", BASELINE, several(set_pod("appArmorProfile", {"type": "RuntimeDefault"}),
                                   set_container("appArmorProfile", {"type": "Localhost",
                                                                     "localhostProfile": "k"}),
                                   set_annotation(APPARMOR_KEY, "localhost/k"),
                                   set_annotation(APPARMOR_KEY + "2", "runtime/default"),
                                   set_annotation("apparmor.example.com/other", "unconfined"))),
    ("SELinux", BASELINE, several(set_pod("seLinuxOptions", {"type": "container_engine_t",
                                                            "level": "s0:c1,c2"}),
                                  set_container("seLinuxOptions", {"type": "container_t",
                                                                   "user": "", "role": ""}))),
    ("/proc Mount Type", BASELINE, set_container("procMount", "Default")),
    ("Seccomp", BASELINE, set_container("seccompProfile", {"type": "Localhost",
                                                           "localhostProfile": "p.json"})),
    ("Sysctls", BASELINE, set_pod("sysctls", [{"name": n, "value": "1"}
                                              for n in SAFE_SYSCTLS])),
    ("Volume Types", RESTRICTED, several(*[
        add_volume({"name": kind, kind: {}}) for kind in RESTRICTED_VOLUME_TYPES
    ], add_volume({"name": "defaulted"}))),
    ("Privilege Escalation", RESTRICTED, set_container("allowPrivilegeEscalation", False)),
    ("Running as Non-root", RESTRICTED, set_container("runAsNonRoot", True)),
    ("Running as Non-root user", RESTRICTED, several(set_pod("runAsUser", 1000),
                                                     set_container("runAsUser", 65532))),
    ("Seccomp", RESTRICTED, several(unset_pod_seccomp,
                                    set_container("seccompProfile", {"type": "RuntimeDefault"}))),
    ("Capabilities", RESTRICTED, set_capabilities({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})),
]


class TableTest(unittest.TestCase):
    def test_every_check_has_a_bad_case(self):
        covered = {(check_id, level) for check_id, level, _, _ in BAD_CASES}
        for check in pss.CHECKS:
            self.assertIn((check.id, check.level), covered, "a check without a known-bad pod spec")

    def test_every_check_has_a_good_case(self):
        covered = {(check_id, level) for check_id, level, _ in GOOD_CASES}
        for check in pss.CHECKS:
            self.assertIn((check.id, check.level), covered, "a check without a known-good pod spec")

    def test_cases_name_checks_of_the_table(self):
        rows = {(check.id, check.level) for check in pss.CHECKS}
        for check_id, level, *_ in BAD_CASES + GOOD_CASES:
            self.assertIn((check_id, level), rows)

    def test_rows(self):
        self.assertEqual(len({(c.id, c.level) for c in pss.CHECKS}), len(pss.CHECKS))
        for check in pss.CHECKS:
            self.assertIn(check.level, (BASELINE, RESTRICTED))
            self.assertEqual(check.url, pss.DOC_URL)
            self.assertTrue(callable(check.find))

    def test_restricted_includes_baseline(self):
        baseline = {c.id for c in pss.checks_for(BASELINE)}
        restricted = {c.id for c in pss.checks_for(RESTRICTED)}
        self.assertLessEqual(baseline, restricted)
        self.assertEqual(pss.checks_for(pss.PRIVILEGED), ())
        # The restricted Seccomp and Capabilities checks replace the baseline ones.
        levels = {(c.id, c.level) for c in pss.checks_for(RESTRICTED)}
        self.assertNotIn(("Seccomp", BASELINE), levels)
        self.assertNotIn(("Capabilities", BASELINE), levels)


class CheckTest(unittest.TestCase):
    def test_minimal_spec_meets_restricted(self):
        self.assertEqual(violations(restricted_spec(), RESTRICTED), [])

    def test_bad_cases_are_flagged_by_their_check_only(self):
        for check_id, level, change, field in BAD_CASES:
            with self.subTest(check=check_id, level=level, field=field):
                spec, metadata = with_change(change)
                found = violations(spec, level, metadata)
                self.assertEqual({(v[0], v[1]) for v in found}, {(check_id, level)}, found)
                self.assertTrue(any(v[3].endswith(field) for v in found), found)

    def test_bad_baseline_cases_also_fail_restricted(self):
        for check_id, level, change, field in BAD_CASES:
            with self.subTest(check=check_id, field=field):
                spec, metadata = with_change(change)
                self.assertTrue(violations(spec, RESTRICTED, metadata))

    def test_good_cases_pass(self):
        for check_id, level, change in GOOD_CASES:
            with self.subTest(check=check_id, level=level):
                spec, metadata = with_change(change)
                self.assertEqual(violations(spec, level, metadata), [])

    def test_privileged_level_allows_everything(self):
        for check_id, level, change, field in BAD_CASES:
            spec, metadata = with_change(change)
            self.assertEqual(violations(spec, pss.PRIVILEGED, metadata), [])

    def test_restricted_checks_do_not_apply_at_baseline(self):
        for check_id, level, change, field in BAD_CASES:
            if level == RESTRICTED and check_id != "Seccomp":
                spec, metadata = with_change(change)
                if check_id == "Capabilities" and "add" in field:
                    continue  # CHOWN is allowed at baseline: covered below
                self.assertEqual(violations(spec, BASELINE, metadata), [], check_id)
        spec, _ = with_change(set_capabilities({"drop": ["ALL"], "add": ["CHOWN"]}))
        self.assertEqual(violations(spec, BASELINE), [])

    def test_reported_values(self):
        spec, _ = with_change(set_capabilities({"drop": ["ALL"], "add": ["SYS_ADMIN"]}))
        self.assertEqual(
            violations(spec, RESTRICTED),
            [("Capabilities", RESTRICTED, "container app",
              "spec.containers[0].securityContext.capabilities.add[0]", "SYS_ADMIN")],
        )
        spec, _ = with_change(add_volume({"name": "logs", "hostPath": {"path": "/var/log"}}))
        self.assertEqual(
            violations(spec, BASELINE),
            [("HostPath Volumes", BASELINE, "volume logs", "spec.volumes[0].hostPath",
              {"path": "/var/log"})],
        )


class ContainerOverridesPodTest(unittest.TestCase):
    """Container settings override pod settings; a container may inherit from the pod."""

    def test_run_as_non_root_inherited_from_pod(self):
        spec = restricted_spec()
        self.assertNotIn("runAsNonRoot", container_security(spec))
        self.assertEqual(violations(spec, RESTRICTED), [])

    def test_container_run_as_non_root_false_overrides_pod_true(self):
        spec, _ = with_change(set_container("runAsNonRoot", False))
        self.assertEqual(
            violations(spec, RESTRICTED),
            [("Running as Non-root", RESTRICTED, "container app",
              "spec.containers[0].securityContext.runAsNonRoot", False)],
        )

    def test_every_container_true_without_pod_level(self):
        spec, _ = with_change(several(unset_pod_run_as_non_root,
                                      set_container("runAsNonRoot", True)))
        self.assertEqual(violations(spec, RESTRICTED), [])

    def test_container_without_pod_level_must_set_it(self):
        spec, _ = with_change(several(
            unset_pod_run_as_non_root, set_container("runAsNonRoot", True),
            add_container("initContainers", {"allowPrivilegeEscalation": False,
                                             "capabilities": {"drop": ["ALL"]}})))
        found = violations(spec, RESTRICTED)
        self.assertEqual([(v[0], v[2], v[4]) for v in found],
                         [("Running as Non-root", "container extra", None)])

    def test_pod_false_is_forbidden_even_if_containers_are_true(self):
        spec, _ = with_change(several(set_pod("runAsNonRoot", False),
                                      set_container("runAsNonRoot", True)))
        self.assertEqual([(v[0], v[2]) for v in violations(spec, RESTRICTED)],
                         [("Running as Non-root", "pod")])

    def test_seccomp_inherited_from_pod(self):
        spec = restricted_spec()
        self.assertNotIn("seccompProfile", container_security(spec))
        self.assertEqual(violations(spec, RESTRICTED), [])

    def test_seccomp_unset_at_pod_level_needs_every_container(self):
        spec, _ = with_change(several(
            unset_pod_seccomp, set_container("seccompProfile", {"type": "RuntimeDefault"}),
            add_container("ephemeralContainers", {"allowPrivilegeEscalation": False,
                                                  "capabilities": {"drop": ["ALL"]}})))
        self.assertEqual([(v[0], v[1], v[2]) for v in violations(spec, RESTRICTED)],
                         [("Seccomp", RESTRICTED, "container extra")])

    def test_container_seccomp_unconfined_overrides_pod(self):
        spec, _ = with_change(set_container("seccompProfile", {"type": "Unconfined"}))
        self.assertEqual([(v[0], v[1], v[2]) for v in violations(spec, RESTRICTED)],
                         [("Seccomp", RESTRICTED, "container app")])
        self.assertEqual([(v[0], v[1], v[2]) for v in violations(spec, BASELINE)],
                         [("Seccomp", BASELINE, "container app")])

    def test_pod_seccomp_unconfined_is_forbidden_even_if_containers_set_it(self):
        spec, _ = with_change(several(set_pod("seccompProfile", {"type": "Unconfined"}),
                                      set_container("seccompProfile", {"type": "Localhost"})))
        self.assertEqual([(v[0], v[2]) for v in violations(spec, RESTRICTED)], [("Seccomp", "pod")])

    def test_run_as_user_zero_at_pod_level_even_if_containers_override(self):
        spec, _ = with_change(several(set_pod("runAsUser", 0), set_container("runAsUser", 1000)))
        self.assertEqual([(v[0], v[2]) for v in violations(spec, RESTRICTED)],
                         [("Running as Non-root user", "pod")])


class SpecialCasesTest(unittest.TestCase):
    def test_windows_pods_are_exempt_from_linux_only_controls(self):
        spec = {"os": {"name": "windows"},
                "securityContext": {"runAsNonRoot": True},
                "containers": [{"name": "app", "image": "app:1"}]}
        self.assertEqual(violations(spec, RESTRICTED), [])
        spec["os"]["name"] = "linux"
        self.assertEqual(checks_violated(spec, RESTRICTED),
                         {("Privilege Escalation", RESTRICTED), ("Seccomp", RESTRICTED),
                          ("Capabilities", RESTRICTED)})

    def test_windows_pods_still_run_as_non_root(self):
        spec = {"os": {"name": "windows"}, "containers": [{"name": "app", "image": "app:1"}]}
        self.assertEqual(checks_violated(spec, RESTRICTED), {("Running as Non-root", RESTRICTED)})

    def test_user_namespaces_relax_nothing(self):
        spec, _ = with_change(several(set_spec("hostUsers", False), set_container("runAsUser", 0),
                                      set_container("runAsNonRoot", False),
                                      set_container("procMount", "Unmasked")))
        self.assertEqual(checks_violated(spec, RESTRICTED),
                         {("Running as Non-root", RESTRICTED),
                          ("Running as Non-root user", RESTRICTED),
                          ("/proc Mount Type", BASELINE)})

    def test_host_path_at_restricted_is_both_checks(self):
        spec, _ = with_change(add_volume({"name": "logs", "hostPath": {"path": "/var/log"}}))
        self.assertEqual(checks_violated(spec, RESTRICTED),
                         {("HostPath Volumes", BASELINE), ("Volume Types", RESTRICTED)})

    def test_baseline_pod_that_fails_restricted(self):
        spec = {"containers": [{"name": "app", "image": "app:1"}]}
        self.assertEqual(violations(spec, BASELINE), [])
        self.assertEqual(checks_violated(spec, RESTRICTED),
                         {("Privilege Escalation", RESTRICTED), ("Running as Non-root", RESTRICTED),
                          ("Seccomp", RESTRICTED), ("Capabilities", RESTRICTED)})

    def test_malformed_spec_is_an_input_error(self):
        spec = restricted_spec()
        container(spec)["securityContext"]["capabilities"] = ["ALL"]
        with self.assertRaises(pss.InputError):
            violations(spec, RESTRICTED)


# --- The command ---------------------------------------------------------------------------


def namespace(name: str, level: str | None, version: str | None = None) -> dict:
    labels = {}
    if level is not None:
        labels[pss.ENFORCE_LABEL] = level
    if version is not None:
        labels[pss.ENFORCE_VERSION_LABEL] = version
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def deployment(name: str, ns: str, spec: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def collector(ns: str = "kestrel-node") -> dict:
    """A node log collector: read-only hostPath volumes, reads root-owned files as root."""
    spec = restricted_spec()
    spec["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    container_security(spec).update({"runAsUser": 0, "runAsNonRoot": False,
                                     "readOnlyRootFilesystem": True})
    container(spec)["volumeMounts"] = [{"name": "pods", "mountPath": "/var/log/pods",
                                        "readOnly": True}]
    spec["volumes"] = [{"name": "pods", "hostPath": {"path": "/var/log/pods", "type": "Directory"}},
                       {"name": "config", "configMap": {"name": "kestrel-config"}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "collector", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": "collector"}},
                 "template": {"metadata": {"labels": {"app": "collector"}}, "spec": spec}},
    }


COLLECTOR_EXPECTED = "HostPath Volumes,Volume Types,Running as Non-root,Running as Non-root user"


def stream(*documents) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


class CommandTest(unittest.TestCase):
    def run_pss(self, text: str, *args: str) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "manifests.yaml")
            with open(path, "w", encoding="utf-8") as file:
                file.write(text)
            return subprocess.run([sys.executable, SCRIPT, *args, "manifests.yaml"],
                                  capture_output=True, text=True, cwd=directory)

    def assert_exit(self, result: subprocess.CompletedProcess, status: int):
        self.assertEqual(result.returncode, status, result.stdout + result.stderr)

    def test_restricted_deployment_passes(self):
        result = self.run_pss(stream(namespace("apps", "restricted"),
                                     deployment("web", "apps", restricted_spec())))
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, "ok Deployment/apps/web meets restricted\n")

    def test_privileged_container_in_baseline_namespace_fails(self):
        spec, _ = with_change(set_container("privileged", True))
        result = self.run_pss(stream(namespace("apps", "baseline"),
                                     deployment("web", "apps", spec)))
        self.assert_exit(result, 1)
        self.assertEqual(
            result.stdout,
            "manifests.yaml: Deployment/apps/web: container app: Privileged Containers (baseline): "
            "spec.template.spec.containers[0].securityContext.privileged = true\n",
        )

    def test_one_line_per_workload(self):
        spec, _ = with_change(set_spec("hostNetwork", True))
        result = self.run_pss(stream(namespace("apps", "baseline"),
                                     deployment("bad", "apps", spec),
                                     deployment("good", "apps", restricted_spec())))
        self.assert_exit(result, 1)
        self.assertEqual(result.stdout.splitlines(), [
            "manifests.yaml: Deployment/apps/bad: pod: Host Namespaces (baseline): "
            "spec.template.spec.hostNetwork = true",
            "ok Deployment/apps/good meets baseline",
        ])

    def test_every_kind_of_workload(self):
        def documents(change=None):
            def template():
                spec = restricted_spec()
                if change:
                    change(spec, {})
                return {"metadata": {}, "spec": spec}

            meta = {"name": "w", "namespace": "apps"}
            return [
                {**template(), "apiVersion": "v1", "kind": "Pod", "metadata": meta},
                {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta,
                 "spec": {"template": template()}},
                {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                 "spec": {"template": template()}},
                {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                 "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template()}}}},
            ] + [{"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                  "spec": {"template": template()}}
                 for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")]

        good, bad = documents(), documents(set_container("privileged", True))
        result = self.run_pss(stream(namespace("apps", "restricted"), *good))
        self.assert_exit(result, 0)
        self.assertEqual(len(result.stdout.splitlines()), 8)
        result = self.run_pss(stream(namespace("apps", "restricted"), *bad))
        self.assert_exit(result, 1)
        self.assertEqual(len(result.stdout.splitlines()), 8)
        self.assertIn("CronJob/apps/w: container app: Privileged Containers (baseline): "
                      "spec.jobTemplate.spec.template.spec.containers[0]", result.stdout)
        self.assertIn("Pod/apps/w: container app: Privileged Containers (baseline): "
                      "spec.containers[0]", result.stdout)

    def test_apparmor_annotation_of_the_pod_template(self):
        document = deployment("web", "apps", restricted_spec())
        document["spec"]["template"]["metadata"]["annotations"] = {APPARMOR_KEY: "unconfined"}
        result = self.run_pss(stream(namespace("apps", "baseline"), document))
        self.assert_exit(result, 1)
        self.assertIn(f"container app: AppArmor (baseline): "
                      f"spec.template.metadata.annotations[{APPARMOR_KEY}] = unconfined",
                      result.stdout)

    def test_workload_in_unknown_namespace(self):
        result = self.run_pss(stream(namespace("apps", "restricted"),
                                     deployment("web", "elsewhere", restricted_spec())))
        self.assert_exit(result, 2)
        self.assertIn("manifests.yaml: document 2 (Deployment/elsewhere/web)", result.stderr)
        self.assertIn("'elsewhere' is not in the input", result.stderr)
        self.assertEqual(result.stdout, "")

    def test_namespace_without_enforce_label(self):
        result = self.run_pss(stream(namespace("apps", None),
                                     deployment("web", "apps", restricted_spec())))
        self.assert_exit(result, 2)
        self.assertIn("manifests.yaml: document 1: Namespace apps: no "
                      "pod-security.kubernetes.io/enforce label", result.stderr)

    def test_namespace_levels_and_versions(self):
        for level, version, status in [("restricted", "latest", 0), ("strict", None, 2),
                                       ("restricted", "v1.25", 2)]:
            with self.subTest(level=level, version=version):
                result = self.run_pss(stream(namespace("apps", level, version),
                                             deployment("web", "apps", restricted_spec())))
                self.assert_exit(result, status)

    def test_workload_without_namespace(self):
        document = deployment("web", "apps", restricted_spec())
        del document["metadata"]["namespace"]
        self.assert_exit(self.run_pss(stream(namespace("apps", "restricted"), document)), 2)
        result = self.run_pss(stream(document), "--level", "restricted")
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, "ok Deployment/-/web meets restricted\n")

    def test_unparseable_yaml(self):
        text = stream(namespace("apps", "restricted")) + "---\nkind: [Deployment\n"
        result = self.run_pss(text)
        self.assert_exit(result, 2)
        self.assertIn("manifests.yaml: document 2: unparseable YAML", result.stderr)

    def test_malformed_workload(self):
        document = deployment("web", "apps", restricted_spec())
        document["spec"]["template"]["spec"]["containers"] = {"name": "app"}
        result = self.run_pss(stream(namespace("apps", "restricted"), document))
        self.assert_exit(result, 2)
        self.assertIn("document 2 (Deployment): spec.template.spec.containers is not a list",
                      result.stderr)

    def test_no_workloads(self):
        self.assert_exit(self.run_pss(stream(namespace("apps", "restricted"))), 2)

    def test_level_option(self):
        text = stream(namespace("apps", "baseline"),
                      deployment("web", "apps", {"containers": [{"name": "app", "image": "a"}]}))
        self.assert_exit(self.run_pss(text), 0)
        self.assert_exit(self.run_pss(text, "--level", "baseline"), 0)
        result = self.run_pss(text, "--level", "restricted")
        self.assert_exit(result, 1)
        self.assertIn("Deployment/apps/web: container app: Running as Non-root (restricted): "
                      "spec.template.spec.containers[0].securityContext.runAsNonRoot = <unset>",
                      result.stdout)
        self.assert_exit(self.run_pss(text, "--level", "strict"), 2)

    def test_collector_meets_privileged_and_fails_restricted(self):
        text = stream(namespace("kestrel-node", "privileged"), collector())
        result = self.run_pss(text)
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, "ok DaemonSet/kestrel-node/collector meets privileged\n")
        result = self.run_pss(text, "--level", "restricted")
        self.assert_exit(result, 1)
        self.assertEqual(
            {line.split(": ")[3] for line in result.stdout.splitlines()},
            {"HostPath Volumes (baseline)", "Volume Types (restricted)",
             "Running as Non-root (restricted)", "Running as Non-root user (restricted)"},
        )

    def test_expect_only(self):
        text = stream(namespace("kestrel-node", "privileged"), collector())
        result = self.run_pss(text, "--level", "restricted", "--expect-only", COLLECTOR_EXPECTED)
        self.assert_exit(result, 0)
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 5)
        self.assertTrue(all(line.endswith(" (expected)") for line in lines[:4]), lines)
        self.assertEqual(lines[4], "ok DaemonSet/kestrel-node/collector meets restricted except "
                                   "the expected HostPath Volumes, Running as Non-root, Running "
                                   "as Non-root user, Volume Types")

    def test_expect_only_fails_on_any_other_check(self):
        document = collector()
        spec = document["spec"]["template"]["spec"]
        container_security(spec)["capabilities"]["add"] = ["DAC_READ_SEARCH"]
        text = stream(namespace("kestrel-node", "privileged"), document)
        result = self.run_pss(text, "--level", "restricted", "--expect-only", COLLECTOR_EXPECTED)
        self.assert_exit(result, 1)
        unexpected = [line for line in result.stdout.splitlines()
                      if not line.endswith("(expected)")]
        self.assertEqual(unexpected, [
            "manifests.yaml: DaemonSet/kestrel-node/collector: container app: Capabilities "
            "(restricted): spec.template.spec.containers[0].securityContext.capabilities.add[0] "
            "= DAC_READ_SEARCH",
        ])

    def test_expect_only_notes_expectations_not_met(self):
        text = stream(namespace("apps", "restricted"), deployment("web", "apps", restricted_spec()))
        result = self.run_pss(text, "--expect-only", "Volume Types")
        self.assert_exit(result, 0)
        self.assertIn("'Volume Types' is not violated", result.stderr)

    def test_expect_only_unknown_check(self):
        text = stream(namespace("apps", "restricted"), deployment("web", "apps", restricted_spec()))
        result = self.run_pss(text, "--expect-only", "HostPath Volumes,Host Path")
        self.assert_exit(result, 2)
        self.assertIn("unknown check id 'Host Path'", result.stderr)

    def test_standard_input_and_several_files(self):
        result = subprocess.run(
            [sys.executable, SCRIPT, "-"], capture_output=True, text=True,
            input=stream(namespace("apps", "restricted"),
                         deployment("web", "apps", restricted_spec())))
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, "ok Deployment/apps/web meets restricted\n")
        with tempfile.TemporaryDirectory() as directory:
            paths = [os.path.join(directory, name) for name in ("ns.yaml", "app.yaml")]
            for path, document in zip(paths, (namespace("apps", "baseline"),
                                              deployment("web", "apps", restricted_spec()))):
                with open(path, "w", encoding="utf-8") as file:
                    file.write(stream(document))
            result = subprocess.run([sys.executable, SCRIPT, *paths], capture_output=True,
                                    text=True)
        self.assert_exit(result, 0)
        self.assertEqual(result.stdout, "ok Deployment/apps/web meets baseline\n")

    def test_kubectl_style_list(self):
        text = textwrap.dedent("""\
            apiVersion: v1
            kind: List
            items:
              - {apiVersion: v1, kind: Namespace,
                 metadata: {name: apps, labels: {pod-security.kubernetes.io/enforce: baseline}}}
              - apiVersion: v1
                kind: Pod
                metadata: {name: p, namespace: apps}
                spec:
                  containers: [{name: c, image: c, ports: [{containerPort: 80, hostPort: 8080}]}]
            """)
        result = self.run_pss(text)
        self.assert_exit(result, 1)
        self.assertEqual(result.stdout, "manifests.yaml: Pod/apps/p: container c: Host Ports "
                                        "(baseline): spec.containers[0].ports[0].hostPort = 8080\n")

    def test_list_checks(self):
        result = subprocess.run([sys.executable, SCRIPT, "--list-checks"], capture_output=True,
                                text=True)
        self.assert_exit(result, 0)
        self.assertEqual(len(result.stdout.splitlines()), len(pss.CHECKS))


if __name__ == "__main__":
    unittest.main()
