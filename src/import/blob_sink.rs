//! Lets the Graph client stream a message's `$value` straight into the blob store: the
//! adapter between graph's [`ValueSink`] and the store's [`BlobWriter`], kept here so that
//! neither of them knows the other.

use crate::graph::ValueSink;
use crate::store::blobs::BlobWriter;

impl ValueSink for BlobWriter {
    async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.write(chunk).await
    }
}
