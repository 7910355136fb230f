//! The directory readers open a partition index through: a read-only mount must do.
//!
//! Tantivy's readers take the index's meta lock (`.tantivy-meta.lock`) while they load
//! `meta.json`, so that the writer's garbage collection does not delete the segments they are
//! about to open. [`MmapDirectory`] takes it by opening the lock file for writing, which fails
//! on a read-only mount (the query API's data volume in deploy/, mounted `readOnly`) even when
//! the file exists. [`ReaderDirectory`] falls back to a shared lock through a read-only handle
//! of the same file: it still excludes the writer's exclusive lock, so the guarantee holds.
//! When the file does not exist and cannot be created, no writer has ever run there, and
//! there is nothing to exclude.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};

/// A [`MmapDirectory`] whose locks fall back to shared locks where the files cannot be
/// written.
#[derive(Clone, Debug)]
pub struct ReaderDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl ReaderDirectory {
    /// Opens the index directory `root`.
    pub fn open(root: &Path) -> Result<ReaderDirectory, tantivy::TantivyError> {
        let inner = MmapDirectory::open(root)?;
        Ok(ReaderDirectory {
            inner,
            root: root.to_owned(),
        })
    }

    /// The lock taken through a read-only handle: shared, blocking when `lock` is.
    fn shared_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        let path = self.root.join(&lock.filepath);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(DirectoryLock::from(Box::new(())));
            }
            Err(e) => return Err(LockError::IoError(Arc::new(e))),
        };
        if lock.is_blocking {
            fs4::fs_std::FileExt::lock_shared(&file)
                .map_err(|e| LockError::IoError(Arc::new(e)))?;
        } else if !fs4::fs_std::FileExt::try_lock_shared(&file).map_err(|_| LockError::LockBusy)? {
            return Err(LockError::LockBusy);
        }
        // Closing the handle releases the lock.
        Ok(DirectoryLock::from(Box::new(file)))
    }
}

/// Whether opening a file for writing failed because it may not be written here.
fn is_not_writable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    )
}

impl Directory for ReaderDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.inner.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        match self.inner.acquire_lock(lock) {
            Err(LockError::IoError(error)) if is_not_writable(&error) => self.shared_lock(lock),
            other => other,
        }
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_lock(is_blocking: bool) -> Lock {
        Lock {
            filepath: PathBuf::from(".tantivy-meta.lock"),
            is_blocking,
        }
    }

    #[test]
    fn a_shared_lock_excludes_the_writers_exclusive_lock_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let directory = ReaderDirectory::open(dir.path()).unwrap();
        let writer = MmapDirectory::open(dir.path()).unwrap();
        // The writer created the lock file once.
        drop(writer.acquire_lock(&meta_lock(false)).unwrap());
        let shared = directory.shared_lock(&meta_lock(true)).unwrap();
        assert!(matches!(
            writer.acquire_lock(&meta_lock(false)),
            Err(LockError::LockBusy)
        ));
        // Another reader shares it.
        let second = directory.shared_lock(&meta_lock(false)).unwrap();
        drop((shared, second));
        writer.acquire_lock(&meta_lock(false)).unwrap();
    }

    #[test]
    fn a_missing_lock_file_is_nothing_to_exclude() {
        let dir = tempfile::tempdir().unwrap();
        let directory = ReaderDirectory::open(dir.path()).unwrap();
        directory.shared_lock(&meta_lock(true)).unwrap();
        assert!(!dir.path().join(".tantivy-meta.lock").exists());
    }

    #[test]
    fn only_refusals_to_write_fall_back() {
        assert!(is_not_writable(&io::Error::from(
            io::ErrorKind::ReadOnlyFilesystem
        )));
        assert!(is_not_writable(&io::Error::from(
            io::ErrorKind::PermissionDenied
        )));
        assert!(!is_not_writable(&io::Error::from(io::ErrorKind::NotFound)));
    }
}
