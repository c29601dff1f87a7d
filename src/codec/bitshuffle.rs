//! Bit shuffle (placeholder scalar version; replaced by the vectorised kernel).
#![allow(clippy::indexing_slicing)] // lengths are checked first; replaced by the vectorised kernel

pub fn bitshuffle(raw: &[u8], itemsize: usize, out: &mut [u8]) {
    if out.len() != raw.len() || itemsize == 0 {
        copy(raw, out);
        return;
    }
    let n = raw.len() / itemsize;
    let m = n - n % 8;
    let whole = m * itemsize;
    let row = m / 8;
    out[..whole].fill(0);
    for i in 0..m {
        for k in 0..itemsize {
            let byte = raw[i * itemsize + k];
            for j in 0..8 {
                if byte >> j & 1 == 1 {
                    out[(8 * k + j) * row + i / 8] |= 1 << (i % 8);
                }
            }
        }
    }
    out[whole..].copy_from_slice(&raw[whole..]);
}

pub fn bitunshuffle(shuffled: &[u8], itemsize: usize, out: &mut [u8]) {
    if out.len() != shuffled.len() || itemsize == 0 {
        copy(shuffled, out);
        return;
    }
    let n = shuffled.len() / itemsize;
    let m = n - n % 8;
    let whole = m * itemsize;
    let row = m / 8;
    out[..whole].fill(0);
    for i in 0..m {
        for k in 0..itemsize {
            let mut byte = 0u8;
            for j in 0..8 {
                byte |= (shuffled[(8 * k + j) * row + i / 8] >> (i % 8) & 1) << j;
            }
            out[i * itemsize + k] = byte;
        }
    }
    out[whole..].copy_from_slice(&shuffled[whole..]);
}

fn copy(from: &[u8], to: &mut [u8]) {
    let n = from.len().min(to.len());
    to[..n].copy_from_slice(&from[..n]);
}
