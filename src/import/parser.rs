//! Parsing stored messages on one dedicated thread. Parsing needs a whole message in
//! memory; doing it on one long-lived thread, one message at a time, keeps peak memory at
//! about one message (a blocking-pool thread per message would also give each its own
//! allocator arena, multiplying the peak).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::mime::ParsedMessage;

/// The read buffer is kept between messages up to this size.
const KEEP_BUFFER_BYTES: usize = 32 * 1024 * 1024;

fn read_into(path: &std::path::Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    buf.reserve(len);
    file.read_to_end(buf)?;
    Ok(())
}

/// Where a message to parse is: a file, or a blob in the database (read by the parser
/// thread itself, so that only one message at a time is in memory however many imports
/// wait for the parser).
enum Source {
    File(PathBuf),
    Blob(crate::store::blobs::BlobStore, String),
}

type Job = (Source, oneshot::Sender<std::io::Result<ParsedMessage>>);

pub struct ParserThread {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl ParserThread {
    pub fn start() -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let spawned = std::thread::Builder::new()
            .name("mailport-parser".into())
            .spawn(move || {
                // One read buffer for the thread's lifetime: freeing and re-allocating a
                // multi-megabyte buffer per message makes the allocator hold on to more.
                let mut buf = Vec::new();
                for (source, reply) in rx {
                    let read = match source {
                        Source::File(path) => read_into(&path, &mut buf),
                        Source::Blob(blobs, sha256) => match &runtime {
                            Some(rt) => rt.block_on(blobs.read_into(&sha256, &mut buf)),
                            None => Err(std::io::Error::other("no runtime to read the database")),
                        },
                    };
                    let result = read.map(|()| crate::mime::parse(&buf));
                    if buf.capacity() > KEEP_BUFFER_BYTES {
                        buf = Vec::new();
                    }
                    let _ = reply.send(result);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the parser thread");
        }
        ParserThread {
            jobs: Mutex::new(tx),
        }
    }

    /// Reads and parses the message stored at `path`.
    pub async fn parse(&self, path: PathBuf) -> std::io::Result<ParsedMessage> {
        self.run(Source::File(path)).await
    }

    /// Reads and parses the stored blob `sha256` (a file, or chunks in the database).
    pub async fn parse_blob(
        &self,
        blobs: &crate::store::blobs::BlobStore,
        sha256: &str,
    ) -> std::io::Result<ParsedMessage> {
        match blobs.path(sha256) {
            Some(path) => self.parse(path).await,
            None if blobs.is_in_database() => {
                self.run(Source::Blob(blobs.clone(), sha256.to_string()))
                    .await
            }
            None => Err(std::io::Error::other("not a blob name")),
        }
    }

    async fn run(&self, source: Source) -> std::io::Result<ParsedMessage> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((source, reply))
            .map_err(|_| std::io::Error::other("the parser thread has stopped"))?;
        answer
            .await
            .map_err(|_| std::io::Error::other("the parser thread has stopped"))?
    }
}
