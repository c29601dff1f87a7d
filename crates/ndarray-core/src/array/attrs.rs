//! Attributes: small binary-safe `field → value` strings kept in an array's value (as zarr's
//! `attrs`, as a hash's fields), with the limits every change is checked against before it
//! applies. Redis-free.

use super::error::{ArrayError, ArrayResult};
use super::heap::Allocation;

/// Longest field name, in bytes (names are 1 to this many bytes).
pub const MAX_NAME_BYTES: usize = 256;
/// Most attributes one array holds.
pub const MAX_ATTRS: usize = 256;
/// Most attribute bytes (names plus values) one array holds.
pub const MAX_ATTR_BYTES: usize = 64 * 1024;

/// The attributes of one array, kept sorted by field name (replies and digests list them in that
/// order, so they do not depend on the order they were set in). Always within the limits.
///
/// Packed in one buffer (behind a thin pointer, so the field is one word), null when empty: most
/// arrays have none, and an array is a handful of allocations, each rounded up to a size class
/// (two small attributes cost a 16-byte and a ~48-byte block, where a list of boxed strings cost
/// five blocks, ~200 bytes). Each entry is the name's length
/// (u16 LE), the value's length (u32 LE), the name, the value. Lookups scan: at most 256 entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `None` when empty (never an empty buffer, so equality is structural).
    #[allow(clippy::box_collection, clippy::redundant_allocation)]
    packed: Option<Box<Box<[u8]>>>,
}

/// Walks a packed buffer. Built only by [`Attrs`] itself, but read defensively: a short buffer
/// ends the walk instead of panicking.
struct Entries<'a>(&'a [u8]);

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let head = self.0.get(..6)?;
        let name_len = usize::from(u16::from_le_bytes([*head.first()?, *head.get(1)?]));
        let value_len =
            u32::from_le_bytes([*head.get(2)?, *head.get(3)?, *head.get(4)?, *head.get(5)?]);
        let value_len = usize::try_from(value_len).ok()?;
        let rest = self.0.get(6..)?;
        let name = rest.get(..name_len)?;
        let value = rest.get(name_len..name_len.checked_add(value_len)?)?;
        self.0 = rest.get(name_len + value_len..)?;
        Some((name, value))
    }
}

#[allow(clippy::redundant_allocation)]
fn pack<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Option<Box<Box<[u8]>>> {
    let mut out = Vec::new();
    for (name, value) in entries {
        // Within the limits (checked before packing): a name fits u16, a value u32.
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }
    (!out.is_empty()).then(|| Box::new(out.into_boxed_slice()))
}

impl Attrs {
    pub fn is_empty(&self) -> bool {
        self.packed.is_none()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Field and value of each attribute, sorted by field.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        Entries(self.packed.as_deref().map_or(&[], |p| &p[..]))
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(k, _)| *k == field).map(|(_, v)| v)
    }

    /// Names plus values, in bytes.
    pub fn bytes(&self) -> usize {
        self.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Builds attributes from `pairs` (a later duplicate field wins, as in `HSET`), checked
    /// against the limits.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> ArrayResult<Attrs> {
        let mut attrs = Attrs::default();
        attrs.set_all(pairs)?;
        Ok(attrs)
    }

    /// Sets every pair (a later duplicate wins) and returns how many fields were new. The limits
    /// are checked on the result before anything changes: on error `self` is unchanged.
    pub fn set_all<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> ArrayResult<usize> {
        let mut next: Vec<(&[u8], &[u8])> = self.iter().collect();
        let mut created = 0;
        for (field, value) in pairs {
            check_name(field)?;
            match next.binary_search_by(|(k, _)| (*k).cmp(field)) {
                Ok(i) => {
                    if let Some(entry) = next.get_mut(i) {
                        entry.1 = value;
                    }
                }
                Err(i) => {
                    if next.len() >= MAX_ATTRS {
                        return Err(ArrayError::TooLarge(format!(
                            "an array holds at most {MAX_ATTRS} attributes"
                        )));
                    }
                    next.insert(i, (field, value));
                    created += 1;
                }
            }
        }
        let total: usize = next.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total > MAX_ATTR_BYTES {
            return Err(ArrayError::TooLarge(format!(
                "attributes would take {total} bytes (names plus values), over the limit of {MAX_ATTR_BYTES}"
            )));
        }
        self.packed = pack(next);
        Ok(created)
    }

    /// Removes `fields` and returns how many were present.
    pub fn remove_all<'a>(&mut self, fields: impl IntoIterator<Item = &'a [u8]>) -> usize {
        let fields: Vec<&[u8]> = fields.into_iter().collect();
        let before = self.len();
        let packed = pack(self.iter().filter(|(k, _)| !fields.contains(k)));
        let removed = before - Entries(packed.as_deref().map_or(&[], |p| &p[..])).count();
        if removed > 0 {
            self.packed = packed;
        }
        removed
    }

    /// The allocations holding the attributes (the thin box and the packed bytes), for MEMORY
    /// USAGE.
    pub fn allocations(&self, visit: &mut dyn FnMut(Allocation)) {
        if let Some(packed) = &self.packed {
            // The outer box's block holds the inner box (a pointer and a length).
            let outer: *const Box<[u8]> = &**packed;
            if let Some(a) = Allocation::at(outer, std::mem::size_of::<Box<[u8]>>()) {
                visit(a);
            }
            if let Some(a) = Allocation::at(packed.as_ptr(), packed.len()) {
                visit(a);
            }
        }
    }

    /// Heap bytes asked for by the attributes.
    pub fn heap_bytes(&self) -> usize {
        let mut bytes = 0;
        self.allocations(&mut |a| bytes += a.requested);
        bytes
    }
}

/// Refuses a field name outside 1 to [`MAX_NAME_BYTES`] bytes.
pub fn check_name(field: &[u8]) -> ArrayResult<()> {
    if field.is_empty() || field.len() > MAX_NAME_BYTES {
        return Err(ArrayError::TooLarge(format!(
            "attribute names are 1 to {MAX_NAME_BYTES} bytes, got {}",
            field.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_counts_new_fields_and_later_duplicates_win() {
        let mut a = Attrs::default();
        assert_eq!(
            a.set_all([(&b"v"[..], &b"1"[..]), (b"src", b"x"), (b"v", b"2")])
                .unwrap(),
            2
        );
        assert_eq!(a.get(b"v"), Some(&b"2"[..]));
        assert_eq!(a.set_all([(&b"v"[..], &b"3"[..])]).unwrap(), 0);
        let fields: Vec<&[u8]> = a.iter().map(|(k, _)| k).collect();
        assert_eq!(fields, [&b"src"[..], b"v"]);
        assert_eq!(a.remove_all([&b"v"[..], b"nope"]), 1);
        assert_eq!(a.len(), 1);
        assert_eq!(a.remove_all([&b"src"[..]]), 1);
        assert_eq!(a, Attrs::default(), "empty is one state");
    }

    #[test]
    fn limits_are_checked_before_anything_changes() {
        let mut a = Attrs::from_pairs([(&b"keep"[..], &b"me"[..])]).unwrap();
        let before = a.clone();
        let long = vec![b'n'; MAX_NAME_BYTES + 1];
        assert!(a
            .set_all([(&b"ok"[..], &b"1"[..]), (&long[..], &b""[..])])
            .is_err());
        assert!(a.set_all([(&b""[..], &b"1"[..])]).is_err());
        let big = vec![0u8; MAX_ATTR_BYTES];
        assert!(a.set_all([(&b"big"[..], &big[..])]).is_err());
        let names: Vec<Vec<u8>> = (0..MAX_ATTRS).map(|i| i.to_string().into_bytes()).collect();
        assert!(a.set_all(names.iter().map(|n| (&n[..], &b""[..]))).is_err());
        assert_eq!(a, before);
        let exact = vec![0u8; MAX_ATTR_BYTES - 4 - 2 - 3];
        assert!(a.set_all([(&b"big"[..], &exact[..])]).is_ok());
        assert_eq!(a.bytes(), MAX_ATTR_BYTES);
    }
}
