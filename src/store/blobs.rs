//! The content-addressed blob store for raw messages: `<data>/blobs/ab/cdef…` named by the
//! sha256 of the bytes. A blob is written to `tmp/`, fsynced, then renamed into place, so a
//! crash leaves either nothing or a complete blob (and tmp files are swept at start).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

/// A blob being written.
pub struct BlobWriter {
    file: fs::File,
    tmp: PathBuf,
    hasher: Sha256,
    size: u64,
    root: PathBuf,
}

/// A finished, durable blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
}

impl BlobStore {
    pub fn new(data_dir: &Path) -> Self {
        BlobStore {
            root: data_dir.join("blobs"),
        }
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    /// Removes temporary files left by a crash. Returns how many it removed; a file that is
    /// gone already (another instance starting at the same moment) is not an error.
    pub async fn sweep_tmp(&self) -> std::io::Result<usize> {
        let mut n = 0;
        let mut dir = match fs::read_dir(self.tmp_dir()).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        while let Some(entry) = dir.next_entry().await? {
            match fs::remove_file(entry.path()).await {
                Ok(()) => n += 1,
                // Another instance starting at the same moment swept it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Every stored blob's sha256 (walks the two-level tree).
    pub async fn list(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut top = match fs::read_dir(&self.root).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        while let Some(dir) = top.next_entry().await? {
            let name = dir.file_name().to_string_lossy().to_string();
            if name.len() != 2 || !dir.file_type().await?.is_dir() {
                continue;
            }
            let mut inner = fs::read_dir(dir.path()).await?;
            while let Some(f) = inner.next_entry().await? {
                let sha = f.file_name().to_string_lossy().to_string();
                if self.path(&sha).is_some() {
                    out.push(sha);
                }
            }
        }
        Ok(out)
    }

    /// Removes a blob; one that is gone already is not an error.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match self.path(sha256) {
            Some(p) => match fs::remove_file(p).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            None => Ok(()),
        }
    }

    pub async fn begin(&self) -> std::io::Result<BlobWriter> {
        create_private_dir(&self.tmp_dir()).await?;
        let tmp = self
            .tmp_dir()
            .join(format!("{}.part", uuid::Uuid::new_v4()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        // Raw mail is for Mailport's user only (the rename keeps the mode).
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&tmp).await?;
        Ok(BlobWriter {
            file,
            tmp,
            hasher: Sha256::new(),
            size: 0,
            root: self.root.clone(),
        })
    }

    pub async fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256"))?;
        fs::read(path).await
    }

    pub async fn open(&self, sha256: &str) -> std::io::Result<fs::File> {
        let path = self
            .path(sha256)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a sha256"))?;
        fs::File::open(path).await
    }
}

/// Creates a folder (and its parents) readable by Mailport's user only.
async fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await
}

impl BlobStore {
    /// Tightens what an older version wrote: folders 0700, blobs 0600. Returns how many
    /// entries it changed. Only folders and files the blob store made are visited.
    pub async fn restrict_permissions(&self) -> std::io::Result<usize> {
        let mut changed = 0;
        #[cfg(unix)]
        {
            let mut pending = vec![self.root.clone()];
            while let Some(dir) = pending.pop() {
                let mut entries = match fs::read_dir(&dir).await {
                    Ok(d) => d,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                changed += usize::from(tighten(&dir, 0o700).await?);
                while let Some(entry) = entries.next_entry().await? {
                    let kind = entry.file_type().await?;
                    if kind.is_dir() {
                        pending.push(entry.path());
                    } else if kind.is_file() {
                        changed += usize::from(tighten(&entry.path(), 0o600).await?);
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// Sets `mode` when the group or others have more; true when it did.
#[cfg(unix)]
async fn tighten(path: &Path, mode: u32) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let current = fs::metadata(path).await?.permissions().mode() & 0o777;
    if current & !mode == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await?;
    Ok(true)
}

impl BlobWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// fsyncs and moves the blob into place (an existing identical blob is kept).
    pub async fn finish(mut self) -> std::io::Result<StoredBlob> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let sha256 = hex::encode(self.hasher.finalize_reset());
        let dir = self.root.join(&sha256[..2]);
        create_private_dir(&dir).await?;
        let target = dir.join(&sha256);
        fs::rename(&self.tmp, &target).await?;
        // Make the rename itself durable.
        if let Ok(d) = fs::File::open(&dir).await {
            let _ = d.sync_all().await;
        }
        Ok(StoredBlob {
            sha256,
            size: self.size,
        })
    }

    /// Drops the partial file.
    pub async fn abort(self) {
        let _ = fs::remove_file(&self.tmp).await;
    }
}
