//! Gzip compression of a byte stream as it passes, one chunk at a time (django-storages' `gzip` setting).

use std::io::{self, Write};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::stream::{self, StreamExt, TryStreamExt};
use storage_core::ByteStream;

/// The gzip encoding of `source`, holding at most one chunk and its compressed output in memory.
pub(crate) fn compress(source: ByteStream) -> ByteStream {
    let encoder = Some(GzEncoder::new(Vec::new(), Compression::default()));
    stream::unfold((source, encoder), |(mut source, encoder)| async move {
        let mut encoder = encoder?;
        loop {
            match source.try_next().await {
                Err(err) => return Some((Err(err), (source, None))),
                Ok(Some(chunk)) => {
                    if let Err(err) = encoder.write_all(&chunk) {
                        return Some((Err(err), (source, None)));
                    }
                    let output = std::mem::take(encoder.get_mut());
                    if !output.is_empty() {
                        return Some((Ok(Bytes::from(output)), (source, Some(encoder))));
                    }
                }
                Ok(None) => {
                    let rest: io::Result<Bytes> = encoder.finish().map(Bytes::from);
                    return Some((rest, (source, None)));
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[tokio::test]
    async fn round_trips_through_gzip() {
        let text: Vec<u8> =
            (0..200_000u32).flat_map(|i| format!(".rule-{} {{ color: red }}\n", i % 97).into_bytes()).collect();
        let chunks: Vec<io::Result<Bytes>> = text.chunks(10_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let compressed: Vec<Bytes> = compress(stream::iter(chunks).boxed()).try_collect().await.unwrap();
        let compressed = compressed.concat();
        assert!(compressed.len() < text.len() / 10, "css compresses well: {} of {}", compressed.len(), text.len());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, text);
    }
}
