//! Cutting a signed batch into chunks and chunks into envelope leaves (the batcher's
//! side).

use bitcoin::ScriptBuf;
use bitcoin::secp256k1::XOnlyPublicKey;

use super::script::envelope_leaf;
use super::{ChunkHeader, ENVELOPE_VERSION};
use crate::error::{Error, Result};
use crate::header::{SIGNED_HEADER_LEN, SignedBatchHeader};

/// The batch's byte stream, `signed header ‖ body`, cut into pieces of at most
/// `max_chunk` bytes. `max_chunk` must hold the whole signed header (so chunk 0 alone
/// proves who signed the batch) and the batch must fit in 65,535 chunks.
pub fn split_chunks(
    signed: &SignedBatchHeader,
    body: &[u8],
    max_chunk: usize,
) -> Result<Vec<Vec<u8>>> {
    if max_chunk < SIGNED_HEADER_LEN {
        return Err(Error::Chunking(format!(
            "max_chunk {max_chunk} is below the {SIGNED_HEADER_LEN}-byte signed header"
        )));
    }
    if body.len() != signed.header.body_len as usize {
        return Err(Error::Chunking(
            "body length differs from the header's body_len".into(),
        ));
    }
    let mut stream = Vec::with_capacity(SIGNED_HEADER_LEN + body.len());
    stream.extend_from_slice(&signed.encode());
    stream.extend_from_slice(body);
    let chunks: Vec<Vec<u8>> = stream.chunks(max_chunk).map(<[u8]>::to_vec).collect();
    if chunks.len() > usize::from(u16::MAX) {
        return Err(Error::Chunking(format!(
            "{} chunks exceed 65,535",
            chunks.len()
        )));
    }
    Ok(chunks)
}

/// One tapscript leaf per chunk, in chunk order, each spendable only by `batcher`.
/// `max_chunk` is the data per leaf, usually
/// [`max_chunk_payload`](super::max_chunk_payload)`(weight limit)`.
pub fn envelope_leaves(
    signed: &SignedBatchHeader,
    body: &[u8],
    batcher: XOnlyPublicKey,
    max_chunk: usize,
) -> Result<Vec<ScriptBuf>> {
    let chunks = split_chunks(signed, body, max_chunk)?;
    let count = u16::try_from(chunks.len())
        .map_err(|_| Error::Chunking("more than 65,535 chunks".into()))?;
    let batch_hash = signed.hash();
    (0..count)
        .zip(&chunks)
        .map(|(index, data)| {
            let header = ChunkHeader {
                version: ENVELOPE_VERSION,
                chain_id: signed.header.chain_id,
                batch_hash,
                index,
                count,
            };
            envelope_leaf(&batcher, &header, data)
        })
        .collect()
}
