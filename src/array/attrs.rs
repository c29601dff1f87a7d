//! Attributes: small binary-safe `field → value` strings kept in an array's value (as zarr's
//! `attrs`, as a hash's fields), with the limits every change is checked against before it
//! applies. Redis-free.

use super::error::{ArrayError, ArrayResult};

/// Longest field name, in bytes (names are 1 to this many bytes).
pub const MAX_NAME_BYTES: usize = 256;
/// Most attributes one array holds.
pub const MAX_ATTRS: usize = 256;
/// Most attribute bytes (names plus values) one array holds.
pub const MAX_ATTR_BYTES: usize = 64 * 1024;

type Entries = Vec<(Box<[u8]>, Box<[u8]>)>;

/// The attributes of one array, kept sorted by field name (replies and digests list them in that
/// order, so they do not depend on the order they were set in). Always within the limits.
///
/// One pointer wide, null when empty: most arrays have none, and every array carries this field
/// (a 512-byte embedding's value is a handful of allocations, each rounded to a size class).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// `None` when empty (never `Some` of an empty list, so equality is structural).
    entries: Option<Box<Entries>>,
}

impl Attrs {
    fn list(&self) -> &[(Box<[u8]>, Box<[u8]>)] {
        self.entries.as_deref().map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_none()
    }

    pub fn len(&self) -> usize {
        self.list().len()
    }

    /// Field and value of each attribute, sorted by field.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.list().iter().map(|(k, v)| (&k[..], &v[..]))
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field)
            .ok()
            .and_then(|i| self.list().get(i))
            .map(|(_, v)| &v[..])
    }

    fn find(&self, field: &[u8]) -> Result<usize, usize> {
        self.list().binary_search_by(|(k, _)| (**k).cmp(field))
    }

    /// Names plus values, in bytes.
    pub fn bytes(&self) -> usize {
        self.list().iter().map(|(k, v)| k.len() + v.len()).sum()
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
        let mut next: Entries = self.list().to_vec();
        let mut created = 0;
        for (field, value) in pairs {
            check_name(field)?;
            match next.binary_search_by(|(k, _)| (**k).cmp(field)) {
                Ok(i) => {
                    if let Some(entry) = next.get_mut(i) {
                        entry.1 = value.into();
                    }
                }
                Err(i) => {
                    if next.len() >= MAX_ATTRS {
                        return Err(ArrayError::TooLarge(format!(
                            "an array holds at most {MAX_ATTRS} attributes"
                        )));
                    }
                    next.insert(i, (field.into(), value.into()));
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
        self.entries = (!next.is_empty()).then(|| Box::new(next));
        Ok(created)
    }

    /// Removes `fields` and returns how many were present.
    pub fn remove_all<'a>(&mut self, fields: impl IntoIterator<Item = &'a [u8]>) -> usize {
        let mut removed = 0;
        if let Some(list) = self.entries.as_deref_mut() {
            for field in fields {
                if let Ok(i) = list.binary_search_by(|(k, _)| (**k).cmp(field)) {
                    list.remove(i);
                    removed += 1;
                }
            }
            if list.is_empty() {
                self.entries = None;
            }
        }
        removed
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        self.entries.as_deref().map_or(0, |list| {
            std::mem::size_of::<Entries>()
                + list.capacity() * std::mem::size_of::<(Box<[u8]>, Box<[u8]>)>()
                + self.bytes()
        })
    }
}

/// Refuses a field name outside 1 to [`MAX_NAME_BYTES`] bytes.
pub fn check_name(field: &[u8]) -> ArrayResult<()> {
    if field.is_empty() || field.len() > MAX_NAME_BYTES {
        return Err(ArrayError::invalid(format!(
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
