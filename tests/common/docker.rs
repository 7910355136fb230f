//! Running busybox containers on the Docker daemon of the tests (`tests/run.sh` starts one and
//! exports `DOCKER_HOST`): the `docker` CLI, the imported static busybox image, containers
//! removed when a test ends. The tests using these fail, never skip, without a daemon.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The image the tests run: a static busybox, imported from the host's `/bin/busybox`.
pub const IMAGE: &str = "kestrel-test-busybox";

/// The daemon's address: `DOCKER_HOST` (a `unix://` socket), else the default socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Runs `docker` with `args`; panics with its stderr when it fails.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the docker CLI is required for these tests: {e}"));
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The daemon's data root (its `containers/` holds the json-file logs), once the test image
/// exists. Panics when no daemon answers.
pub fn docker_ready() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let info = Command::new("docker")
            .args(["info", "--format", "{{.DockerRootDir}}"])
            .output();
        let root = match info {
            Ok(output) if output.status.success() => {
                PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
            }
            other => panic!(
                "these tests need a running Docker daemon (tests/run.sh starts one and exports \
                 DOCKER_HOST; DOCKER_HOST={:?}): {other:?}",
                std::env::var("DOCKER_HOST").ok()
            ),
        };
        let present = Command::new("docker")
            .args(["image", "inspect", IMAGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            import_busybox_image();
        }
        root
    })
}

/// `docker import` of a root file system holding only a static busybox and its applets.
fn import_busybox_image() {
    let rootfs = tempfile::tempdir().unwrap();
    let bin = rootfs.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("a static /bin/busybox is required (apt-get install busybox-static)");
    for applet in [
        "sh", "echo", "seq", "yes", "head", "tr", "cat", "sleep", "printf",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    let script = format!(
        "tar -C {} -c . | docker import - {IMAGE}",
        rootfs.path().display()
    );
    let status = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(status.success(), "docker import of busybox failed");
}

/// Containers started by a test, removed when it ends.
pub struct Containers {
    /// A suffix unique to this test run, in every container name.
    pub run: String,
    ids: Vec<String>,
    /// `docker run` options given to every container (labels).
    defaults: Vec<String>,
}

impl Containers {
    /// No container yet; panics without a daemon.
    pub fn new() -> Containers {
        docker_ready();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Containers {
            run: format!("{}-{nanos:x}", std::process::id()),
            ids: Vec::new(),
            defaults: Vec::new(),
        }
    }

    /// No container yet, every one to come with `labels` (`key=value`).
    pub fn labelled(labels: &[&str]) -> Containers {
        let mut containers = Containers::new();
        for label in labels {
            containers.defaults.push("--label".to_owned());
            containers.defaults.push((*label).to_owned());
        }
        containers
    }

    /// `docker run -d --network none` of `script` in a container named `<name>-<run>`, with
    /// `options`; returns its id and its name.
    pub fn run(&mut self, name: &str, options: &[&str], script: &str) -> (String, String) {
        let name = format!("{name}-{}", self.run);
        let mut args = vec!["run", "-d", "--network", "none", "--name", &name];
        args.extend(self.defaults.iter().map(String::as_str));
        args.extend_from_slice(options);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        let id = docker(&args);
        assert_eq!(id.len(), 64, "docker run prints the container id: {id:?}");
        self.ids.push(id.clone());
        (id, name)
    }

    /// Waits until every container has exited.
    pub fn wait_all(&self) {
        let mut args = vec!["wait"];
        args.extend(self.ids.iter().map(String::as_str));
        docker(&args);
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
