//! Blosc-style byte shuffle: a filter, not a compressor. For items of `n` bytes the output holds
//! byte 0 of every item, then byte 1 of every item, … A trailing partial item (the store never
//! produces one: chunks hold whole items) is copied through unchanged.

/// Shuffles `raw` into `out` (same length).
pub fn shuffle(raw: &[u8], itemsize: usize, out: &mut [u8]) {
    let (items, whole) = split(raw.len(), itemsize);
    let (Some(src), Some(dst)) = (raw.get(..whole), out.get_mut(..whole)) else {
        return;
    };
    if items > 0 {
        // Row `b` of the output is byte `b` of every item.
        for (b, row) in dst.chunks_exact_mut(items).enumerate() {
            for (slot, item) in row.iter_mut().zip(src.chunks_exact(itemsize)) {
                *slot = item.get(b).copied().unwrap_or_default();
            }
        }
    }
    copy_tail(raw, out, whole);
}

/// Inverse of [`shuffle`]: `shuffled` back into item order in `out` (same length).
pub fn unshuffle(shuffled: &[u8], itemsize: usize, out: &mut [u8]) {
    let (items, whole) = split(shuffled.len(), itemsize);
    let (Some(src), Some(dst)) = (shuffled.get(..whole), out.get_mut(..whole)) else {
        return;
    };
    if items > 0 {
        for (b, row) in src.chunks_exact(items).enumerate() {
            for (value, item) in row.iter().zip(dst.chunks_exact_mut(itemsize)) {
                if let Some(slot) = item.get_mut(b) {
                    *slot = *value;
                }
            }
        }
    }
    copy_tail(shuffled, out, whole);
}

/// A trailing partial item is copied through unchanged.
fn copy_tail(input: &[u8], out: &mut [u8], whole: usize) {
    if let (Some(from), Some(to)) = (input.get(whole..), out.get_mut(whole..)) {
        if from.len() == to.len() {
            to.copy_from_slice(from);
        }
    }
}

/// (number of whole items, bytes they cover). Callers pass equal-length buffers (checked by
/// the chunk codec), so the slicing above stays in bounds.
fn split(len: usize, itemsize: usize) -> (usize, usize) {
    if itemsize == 0 {
        return (0, 0);
    }
    let items = len / itemsize;
    (items, items * itemsize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_groups_bytes_by_position_and_unshuffle_inverts_it() {
        let raw = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let mut out = [0; 9];
        shuffle(&raw, 4, &mut out);
        assert_eq!(out, [1, 5, 2, 6, 3, 7, 4, 8, 9]);
        let mut back = [0; 9];
        unshuffle(&out, 4, &mut back);
        assert_eq!(back, raw);
    }

    #[test]
    fn degenerate_sizes_copy_through() {
        let raw = [1, 2, 3];
        for itemsize in [0, 1, 4] {
            let mut out = [0; 3];
            shuffle(&raw, itemsize, &mut out);
            assert_eq!(out, raw);
        }
    }
}
