//! A storage in front of another, on which the campaigns' fault wrappers
//! build: [`Hooked`] passes every call through to the storage behind,
//! except those its [`Hooks`] take over.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use groupwal::io::{DirEntry, DirLock, OpenOptions, Storage, StorageFile};

/// What a storage wrapper does on the way to the storage behind it. Every
/// method passes its call through unless overridden; a file call comes
/// with the file behind and the path it was opened by ([`Opened`]).
pub trait Hooks: fmt::Debug + Send + Sync + 'static {
    /// The storage behind.
    fn behind(&self) -> &dyn Storage;

    /// [`Storage::rename`].
    ///
    /// # Errors
    ///
    /// The storage's, or the hook's.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.behind().rename(from, to)
    }

    /// [`Storage::sync_dir`].
    ///
    /// # Errors
    ///
    /// The storage's, or the hook's.
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.behind().sync_dir(path)
    }

    /// [`StorageFile::read_at`] of the file.
    ///
    /// # Errors
    ///
    /// The file's, or the hook's.
    fn read_at(&self, at: Opened<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        at.file.read_at(buf, offset)
    }

    /// [`StorageFile::write_at`] of the file.
    ///
    /// # Errors
    ///
    /// The file's, or the hook's.
    fn write_at(&self, at: Opened<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
        at.file.write_at(buf, offset)
    }

    /// [`StorageFile::sync_data`] of the file.
    ///
    /// # Errors
    ///
    /// The file's, or the hook's.
    fn sync_data(&self, at: Opened<'_>) -> io::Result<()> {
        at.file.sync_data()
    }

    /// [`StorageFile::sync_all`] of the file.
    ///
    /// # Errors
    ///
    /// The file's, or the hook's.
    fn sync_all(&self, at: Opened<'_>) -> io::Result<()> {
        at.file.sync_all()
    }

    /// [`StorageFile::allocate`] of the file.
    ///
    /// # Errors
    ///
    /// The file's, or the hook's.
    fn allocate(&self, at: Opened<'_>, offset: u64, len: u64) -> io::Result<()> {
        at.file.allocate(offset, len)
    }

    /// [`StorageFile::set_len`] of the file.
    ///
    /// # Errors
    ///
    /// The file's, or the hook's.
    fn set_len(&self, at: Opened<'_>, len: u64) -> io::Result<()> {
        at.file.set_len(len)
    }
}

/// The file a file call goes to: the file behind, and the path it was
/// opened by.
#[derive(Clone, Copy, Debug)]
pub struct Opened<'a> {
    /// The file of the storage behind.
    pub file: &'a dyn StorageFile,
    /// The path it was opened by.
    pub path: &'a Path,
}

/// The storage behind `H`, with `H`'s hooks on the way: every call of
/// [`Storage`] and of the files it opens that `H` does not take over
/// (hints such as `prefetch` and `free_space` included) reaches the
/// storage behind unchanged.
#[derive(Debug)]
pub struct Hooked<H> {
    hooks: Arc<H>,
}

impl<H: Hooks> Hooked<H> {
    /// `hooks` in front of the storage behind them.
    pub fn new(hooks: Arc<H>) -> Self {
        Hooked { hooks }
    }
}

#[derive(Debug)]
struct HookedFile<H> {
    inner: Box<dyn StorageFile>,
    hooks: Arc<H>,
    path: PathBuf,
}

impl<H> HookedFile<H> {
    fn opened(&self) -> Opened<'_> {
        Opened {
            file: &*self.inner,
            path: &self.path,
        }
    }
}

impl<H: Hooks> StorageFile for HookedFile<H> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.hooks.read_at(self.opened(), buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.hooks.write_at(self.opened(), buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.hooks.sync_data(self.opened())
    }
    fn sync_all(&self) -> io::Result<()> {
        self.hooks.sync_all(self.opened())
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.hooks.allocate(self.opened(), offset, len)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.hooks.set_len(self.opened(), len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.start_writeback(offset, len)
    }
    fn prefetch(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.prefetch(offset, len)
    }
}

impl<H: Hooks> Storage for Hooked<H> {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.hooks.behind().create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.hooks.behind().list_dir(path)
    }
    fn open(&self, path: &Path, options: OpenOptions) -> io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(HookedFile {
            inner: self.hooks.behind().open(path, options)?,
            hooks: Arc::clone(&self.hooks),
            path: path.to_path_buf(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.hooks.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.hooks.behind().remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.hooks.sync_dir(path)
    }
    fn lock_dir(&self, path: &Path, lock_file: &str) -> io::Result<Box<dyn DirLock>> {
        self.hooks.behind().lock_dir(path, lock_file)
    }
    fn random_u64(&self) -> io::Result<u64> {
        self.hooks.behind().random_u64()
    }
    fn free_space(&self, path: &Path) -> io::Result<Option<u64>> {
        self.hooks.behind().free_space(path)
    }
}

#[cfg(test)]
mod tests {
    use groupwal::io::sim::SimStorage;

    use super::*;

    #[derive(Debug)]
    struct Nothing(SimStorage);

    impl Hooks for Nothing {
        fn behind(&self) -> &dyn Storage {
            &self.0
        }
    }

    /// What the hooks leave alone, hints included, reaches the disk.
    #[test]
    fn calls_pass_through() {
        let sim = SimStorage::new(1);
        let hooked = Hooked::new(Arc::new(Nothing(sim.clone())));
        let dir = Path::new("/d");
        hooked.create_dir_all(dir).unwrap();
        sim.set_free_space(Some(12_345));
        assert_eq!(hooked.free_space(dir).unwrap(), Some(12_345));
        let file = hooked.open(&dir.join("a"), OpenOptions::create()).unwrap();
        file.write_all_at(b"abc", 0).unwrap();
        file.sync_all().unwrap();
        file.prefetch(0, 3).unwrap();
        file.start_writeback(0, 3).unwrap();
        file.set_len(4).unwrap();
        file.allocate(0, 8).unwrap();
        assert_eq!(file.size().unwrap(), 8);
        let mut back = [0u8; 8];
        file.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(&back, b"abc\0\0\0\0\0");
        file.sync_data().unwrap();
        hooked.rename(&dir.join("a"), &dir.join("b")).unwrap();
        hooked.sync_dir(dir).unwrap();
        assert_eq!(sim.contents(&dir.join("b")).unwrap(), back);
        let names: Vec<String> = hooked
            .list_dir(dir)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["b"]);
        let stats = sim.stats();
        assert_eq!((stats.syncs, stats.dir_syncs, stats.writebacks), (2, 1, 1));
        hooked.remove_file(&dir.join("b")).unwrap();
        assert!(hooked.list_dir(dir).unwrap().is_empty());
        let _lock = hooked.lock_dir(dir, "LOCK").unwrap();
        assert!(hooked.lock_dir(dir, "LOCK").is_err());
        assert_eq!(hooked.random_u64().unwrap(), {
            let twin = SimStorage::new(1);
            twin.random_u64().unwrap()
        });
    }
}
