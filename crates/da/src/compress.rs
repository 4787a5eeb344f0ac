//! Body compression. Brotli is the codec (chosen by measurement against zstd:
//! `docs/BATCHES.md`); decompression is bomb-proof: the output is capped, the window is
//! the standard one (≤ 16 MiB, no large-window streams), and the stream must end
//! exactly at the end of the input.

use brotli::enc::{BrotliEncoderParams, StandardAlloc};
use brotli::{BrotliDecompressStream, BrotliResult, BrotliState};

use crate::error::{Error, Result};
use crate::header::Compression;

/// Default cap on a decompressed body (64 MiB).
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;
/// The brotli quality batches are compressed with (0..=11; see `docs/BATCHES.md`).
pub const DEFAULT_BROTLI_QUALITY: u32 = 11;
/// Brotli window: 2^24 bytes, the largest standard one.
const BROTLI_LGWIN: i32 = 24;
/// Output is produced in steps of this size, so the cap is checked as it grows.
const STEP: usize = 64 << 10;

/// Compresses `data` with the default level for `compression`.
pub fn compress(data: &[u8], compression: Compression) -> Result<Vec<u8>> {
    match compression {
        Compression::Brotli => compress_brotli(data, DEFAULT_BROTLI_QUALITY),
    }
}

/// Brotli at `quality` (clamped to 0..=11), standard 16 MiB window, one stream.
pub fn compress_brotli(data: &[u8], quality: u32) -> Result<Vec<u8>> {
    let params = BrotliEncoderParams {
        quality: i32::try_from(quality.min(11)).unwrap_or(11),
        lgwin: BROTLI_LGWIN,
        large_window: false,
        size_hint: data.len(),
        ..BrotliEncoderParams::default()
    };
    let mut out = Vec::with_capacity(data.len() / 4);
    brotli::BrotliCompress(&mut &data[..], &mut out, &params)
        .map_err(|e| Error::Compress(e.to_string()))?;
    Ok(out)
}

/// Decompresses `data`, failing with [`Error::TooLarge`] past `max_out` bytes of output.
pub fn decompress(data: &[u8], compression: Compression, max_out: usize) -> Result<Vec<u8>> {
    match compression {
        Compression::Brotli => decompress_brotli(data, max_out),
    }
}

/// One brotli stream, output capped at `max_out`, no trailing input.
pub fn decompress_brotli(data: &[u8], max_out: usize) -> Result<Vec<u8>> {
    let mut state = BrotliState::new_strict(
        StandardAlloc::default(),
        StandardAlloc::default(),
        StandardAlloc::default(),
    );
    let mut out = Vec::new();
    let mut buf = vec![0u8; STEP];
    let (mut available_in, mut input_offset, mut total_out) = (data.len(), 0usize, 0usize);
    loop {
        let (mut available_out, mut output_offset) = (buf.len(), 0usize);
        let result = BrotliDecompressStream(
            &mut available_in,
            &mut input_offset,
            data,
            &mut available_out,
            &mut output_offset,
            &mut buf,
            &mut total_out,
            &mut state,
        );
        let produced = buf
            .get(..output_offset)
            .ok_or(Error::Decompress("decoder overran"))?;
        if out.len().saturating_add(produced.len()) > max_out {
            return Err(Error::TooLarge { limit: max_out });
        }
        out.extend_from_slice(produced);
        match result {
            BrotliResult::NeedsMoreOutput => {}
            BrotliResult::ResultSuccess if available_in == 0 => return Ok(out),
            BrotliResult::ResultSuccess => return Err(Error::Decompress("bytes after the stream")),
            BrotliResult::NeedsMoreInput => return Err(Error::Decompress("truncated stream")),
            BrotliResult::ResultFailure => return Err(Error::Decompress("invalid stream")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect()
    }

    #[test]
    fn round_trip() {
        let data = sample();
        let packed = compress(&data, Compression::Brotli).unwrap();
        assert!(packed.len() < data.len() / 10);
        assert_eq!(
            decompress(&packed, Compression::Brotli, data.len()).unwrap(),
            data
        );
        assert_eq!(
            decompress_brotli(&compress_brotli(&[], 5).unwrap(), 0).unwrap(),
            b""
        );
    }

    #[test]
    fn bombs_and_corruption_fail_cleanly() {
        // 64 MiB of zeros compresses to a few hundred bytes.
        let bomb = compress_brotli(&vec![0u8; 64 << 20], 5).unwrap();
        assert!(bomb.len() < 100_000);
        assert_eq!(
            decompress_brotli(&bomb, 1 << 20),
            Err(Error::TooLarge { limit: 1 << 20 })
        );

        let data = sample();
        let packed = compress_brotli(&data, 5).unwrap();
        assert_eq!(
            decompress_brotli(&packed[..packed.len() - 1], usize::MAX),
            Err(Error::Decompress("truncated stream"))
        );
        let mut trailing = packed.clone();
        trailing.push(0);
        assert_eq!(
            decompress_brotli(&trailing, usize::MAX),
            Err(Error::Decompress("bytes after the stream"))
        );
        assert!(decompress_brotli(&[], usize::MAX).is_err());
        assert!(decompress_brotli(&[0xff; 64], usize::MAX).is_err());
    }
}
