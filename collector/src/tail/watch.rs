//! Opens files the moment they appear in a directory the tailer reads from, on a thread of
//! its own, so that a file created, filled and rotated away between two discoveries (Docker's
//! `max-size` rotation at high rates) is held open while the reader is busy or paused by
//! backpressure, and read through its handle later, renamed or deleted.
//!
//! Only directory entry events are asked of inotify (`IN_CREATE`, `IN_MOVED_TO`): writes to
//! the followed files raise none, however busy they are. Where inotify is not available (or
//! its watch limit is reached) the tailer still finds every file by polling.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use rustix::event::{PollFd, PollFlags, Timespec};

/// Most directories watched at once; beyond it, polling alone finds the files.
const MAX_WATCHES: usize = 8192;

/// How often the event thread looks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Most files opened and not yet taken by the tailer. When a reader held back by the bus lets
/// them pile up, the event thread waits (and inotify's own queue takes over, then overflows
/// into a rescan): descriptors and memory stay bounded.
pub const MAX_UNTAKEN: usize = 4096;

/// What the event thread found.
#[derive(Debug)]
pub enum Found {
    /// A file one of the sources matches, opened as it appeared.
    Opened(OpenedFile),
    /// A directory appeared, or events were lost: look at everything.
    Rescan,
}

/// A file opened as it appeared.
#[derive(Debug)]
pub struct OpenedFile {
    /// Its path when it appeared.
    pub path: PathBuf,
    /// The index of the first source that matches it (in the order `sources` gives).
    pub source: usize,
    /// Device and inode.
    pub id: (u64, u64),
    /// The open handle.
    pub file: File,
}

/// Which files the sources want: called by the event thread for every batch of events.
pub type SourceMatcher = Box<dyn FnMut(&Path) -> Option<usize> + Send>;

#[derive(Default)]
struct Directories {
    by_path: HashMap<PathBuf, WatchDescriptor>,
    by_descriptor: HashMap<WatchDescriptor, PathBuf>,
}

/// The directories watched for new entries, and the thread that opens them.
pub struct DirWatcher {
    watches: Option<Watches>,
    directories: Arc<Mutex<Directories>>,
    found: Option<Receiver<Found>>,
    stop: Arc<AtomicBool>,
    /// The watch limit was reported once already.
    limit_reported: bool,
}

impl DirWatcher {
    /// Starts the event thread, which opens at most `max_untaken` files ahead of the tailer
    /// ([`MAX_UNTAKEN`]); without inotify, a watcher whose waits only sleep.
    pub fn start(matcher: SourceMatcher, max_untaken: usize) -> DirWatcher {
        let directories = Arc::new(Mutex::new(Directories::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut watcher = DirWatcher {
            watches: None,
            directories: Arc::clone(&directories),
            found: None,
            stop: Arc::clone(&stop),
            limit_reported: false,
        };
        let inotify = match Inotify::init() {
            Ok(inotify) => inotify,
            Err(error) => {
                tracing::warn!(%error, "inotify unavailable, new files are found by polling only");
                return watcher;
            }
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(max_untaken);
        watcher.watches = Some(inotify.watches());
        let spawned = std::thread::Builder::new()
            .name("tail-watch".into())
            .spawn(move || read_events(inotify, directories, matcher, tx, stop));
        match spawned {
            Ok(_) => watcher.found = Some(rx),
            Err(error) => {
                tracing::warn!(%error, "cannot start the inotify thread, new files are found by polling only");
                watcher.watches = None;
            }
        }
        watcher
    }

    /// Number of directories watched.
    pub fn watched(&self) -> usize {
        self.lock().by_path.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Directories> {
        self.directories
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Watches exactly `wanted` (directories not watched yet are added, the others removed).
    pub fn watch_only(&mut self, wanted: &BTreeSet<PathBuf>) {
        let Some(mut watches) = self.watches.clone() else {
            return;
        };
        let mut limit = None;
        {
            let mut directories = self.lock();
            let gone: Vec<PathBuf> = directories
                .by_path
                .keys()
                .filter(|path| !wanted.contains(*path))
                .cloned()
                .collect();
            for path in gone {
                if let Some(descriptor) = directories.by_path.remove(&path) {
                    // Fails when the directory is gone, and its watch with it.
                    let _ = watches.remove(descriptor.clone());
                    directories.by_descriptor.remove(&descriptor);
                }
            }
            let mask = WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::ONLYDIR;
            for directory in wanted {
                if directories.by_path.contains_key(directory) {
                    continue;
                }
                if directories.by_path.len() >= MAX_WATCHES {
                    limit = Some((directory.clone(), "too many directories"));
                    break;
                }
                match watches.add(directory, mask) {
                    Ok(descriptor) => {
                        directories
                            .by_descriptor
                            .insert(descriptor.clone(), directory.clone());
                        directories.by_path.insert(directory.clone(), descriptor);
                    }
                    Err(error) if error.raw_os_error() == Some(libc_enospc()) => {
                        limit = Some((directory.clone(), "the inotify watch limit is reached"));
                        break;
                    }
                    // Gone since it was found: nothing to watch.
                    Err(error) => {
                        tracing::debug!(path = %directory.display(), %error, "cannot watch directory")
                    }
                }
            }
        }
        if let Some((directory, reason)) = limit {
            if !self.limit_reported {
                tracing::warn!(path = %directory.display(), reason, "directories left unwatched, their new files are found by polling");
                self.limit_reported = true;
            }
        }
    }

    /// Waits at most `timeout` for files to appear; returns at once with those already found.
    pub fn wait(&mut self, timeout: Duration, into: &mut Vec<Found>) {
        let Some(found) = &self.found else {
            std::thread::sleep(timeout);
            return;
        };
        match found.recv_timeout(timeout) {
            Ok(first) => into.push(first),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => {
                tracing::warn!("inotify thread stopped, new files are found by polling only");
                self.found = None;
                self.watches = None;
                return;
            }
        }
        into.extend(found.try_iter());
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn libc_enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

/// The event thread: turns each new entry into an open file (or a rescan) until `stop`.
fn read_events(
    mut inotify: Inotify,
    directories: Arc<Mutex<Directories>>,
    mut matcher: SourceMatcher,
    found: SyncSender<Found>,
    stop: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut created = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if !readable_within(&inotify, STOP_CHECK) {
            continue;
        }
        let events = match inotify.read_events(&mut buffer) {
            Ok(events) => events,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(error) => {
                tracing::warn!(%error, "cannot read inotify events, new files are found by polling only");
                return;
            }
        };
        let mut rescan = false;
        {
            let mut directories = directories.lock().unwrap_or_else(PoisonError::into_inner);
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    rescan = true;
                } else if event.mask.contains(EventMask::IGNORED) {
                    // The directory is gone, and its watch with it.
                    if let Some(path) = directories.by_descriptor.remove(&event.wd) {
                        directories.by_path.remove(&path);
                    }
                } else if event.mask.contains(EventMask::ISDIR) {
                    rescan = true;
                } else if let (Some(directory), Some(name)) =
                    (directories.by_descriptor.get(&event.wd), event.name)
                {
                    created.push(directory.join(name));
                }
            }
        }
        for path in created.drain(..) {
            let Some(opened) = open_if_wanted(path, &mut matcher) else {
                continue;
            };
            if found.send(Found::Opened(opened)).is_err() {
                return;
            }
        }
        if rescan && found.send(Found::Rescan).is_err() {
            return;
        }
    }
}

/// Opens `path` when a source wants it.
fn open_if_wanted(path: PathBuf, matcher: &mut SourceMatcher) -> Option<OpenedFile> {
    let source = matcher(&path)?;
    let file = File::open(&path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    Some(OpenedFile {
        path,
        source,
        id: (metadata.dev(), metadata.ino()),
        file,
    })
}

/// Whether the inotify descriptor has events within `timeout`.
fn readable_within(inotify: &Inotify, timeout: Duration) -> bool {
    let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let mut fds = [PollFd::new(inotify, PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}

/// The directories to watch for the files `pattern` matches: each directory its directory
/// part matches (`/var/lib/docker/containers/*`, every directory under `/var/log/pods/**`),
/// and the deepest existing directory of its literal prefix, where new subdirectories appear.
pub fn directories_of(pattern: &str, into: &mut BTreeSet<PathBuf>) {
    let path = Path::new(pattern);
    let Some(parent) = path.parent() else {
        return;
    };
    let literal: PathBuf = parent
        .components()
        .take_while(|c| !has_glob_characters(&c.as_os_str().to_string_lossy()))
        .collect();
    if let Some(existing) = literal.ancestors().find(|p| p.is_dir()) {
        into.insert(existing.to_path_buf());
    }
    if literal == parent {
        return;
    }
    let Ok(directories) = glob::glob(&parent.to_string_lossy()) else {
        return;
    };
    for directory in directories.flatten() {
        if directory.is_dir() {
            into.insert(directory);
        }
    }
}

fn has_glob_characters(component: &str) -> bool {
    component.contains(['*', '?', '[', ']'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs_only() -> SourceMatcher {
        Box::new(|path: &Path| (path.extension()? == "log").then_some(0))
    }

    fn wait_for_files(watcher: &mut DirWatcher, count: usize) -> Vec<Found> {
        let mut found = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while found.len() < count && std::time::Instant::now() < deadline {
            watcher.wait(Duration::from_millis(100), &mut found);
        }
        found
    }

    #[test]
    fn files_created_or_moved_in_are_opened_at_once_and_read_after_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = DirWatcher::start(logs_only(), MAX_UNTAKEN);
        watcher.watch_only(&BTreeSet::from([dir.path().to_path_buf()]));
        assert_eq!(watcher.watched(), 1);

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("moved"), b"moved in\n").unwrap();
        std::fs::write(dir.path().join("a.log"), b"created\n").unwrap();
        std::fs::write(dir.path().join("skipped.txt"), b"not a source's\n").unwrap();
        std::fs::rename(outside.path().join("moved"), dir.path().join("b.log")).unwrap();
        let found = wait_for_files(&mut watcher, 2);
        // Deleted once opened: still readable through the handle.
        std::fs::remove_file(dir.path().join("a.log")).unwrap();
        std::fs::remove_file(dir.path().join("b.log")).unwrap();
        let opened: Vec<(PathBuf, String)> = found
            .into_iter()
            .map(|f| match f {
                Found::Opened(mut opened) => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut opened.file, &mut text).unwrap();
                    (opened.path, text)
                }
                Found::Rescan => panic!("no directory appeared"),
            })
            .collect();
        assert_eq!(
            opened,
            [
                (dir.path().join("a.log"), "created\n".to_owned()),
                (dir.path().join("b.log"), "moved in\n".to_owned())
            ]
        );
        // Writes to a file raise nothing.
        std::fs::write(dir.path().join("c.txt"), b"x").unwrap();
        let mut more = Vec::new();
        watcher.wait(Duration::from_millis(100), &mut more);
        assert!(more.is_empty(), "{more:?}");
    }

    #[test]
    fn files_piling_up_beyond_the_bound_wait_for_the_tailer_and_are_all_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = DirWatcher::start(logs_only(), 16);
        watcher.watch_only(&BTreeSet::from([dir.path().to_path_buf()]));
        let count = 200;
        for n in 0..count {
            std::fs::write(dir.path().join(format!("{n}.log")), b"x\n").unwrap();
        }
        let found = wait_for_files(&mut watcher, count);
        let mut names: Vec<String> = found
            .iter()
            .map(|f| match f {
                Found::Opened(opened) => opened.path.display().to_string(),
                Found::Rescan => "rescan".to_owned(),
            })
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "each file once, none lost");
    }

    #[test]
    fn a_new_directory_calls_for_a_rescan_and_unwatched_ones_stay_silent() {
        let dir = tempfile::tempdir().unwrap();
        let mut watcher = DirWatcher::start(logs_only(), MAX_UNTAKEN);
        watcher.watch_only(&BTreeSet::from([dir.path().to_path_buf()]));
        std::fs::create_dir(dir.path().join("pod")).unwrap();
        let found = wait_for_files(&mut watcher, 1);
        assert!(matches!(found.as_slice(), [Found::Rescan]), "{found:?}");

        watcher.watch_only(&BTreeSet::new());
        assert_eq!(watcher.watched(), 0);
        std::fs::write(dir.path().join("a.log"), b"x\n").unwrap();
        let mut more = Vec::new();
        watcher.wait(Duration::from_millis(100), &mut more);
        assert!(more.is_empty(), "{more:?}");
    }

    #[test]
    fn a_pattern_watches_the_directories_it_can_match_and_its_literal_prefix() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["containers/a", "containers/b", "pods/ns_p_1/c", "other"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let base = root.path().display().to_string();
        let mut dirs = BTreeSet::new();
        directories_of(&format!("{base}/containers/*/*-json.log"), &mut dirs);
        directories_of(&format!("{base}/pods/**/*.log"), &mut dirs);
        directories_of(&format!("{base}/audit/*.log"), &mut dirs);
        let relative: Vec<String> = dirs
            .iter()
            .map(|d| d.strip_prefix(root.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            relative,
            [
                "",
                "containers",
                "containers/a",
                "containers/b",
                "pods",
                "pods/ns_p_1",
                "pods/ns_p_1/c"
            ]
        );
    }
}
