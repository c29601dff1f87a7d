//! Array shapes and the size arithmetic every allocation depends on.

use super::dtype::DType;
use super::error::{ArrayError, ArrayResult};

/// Most dimensions an array may have (NumPy's historical limit).
pub const MAX_NDIM: usize = 32;

/// A validated shape: at most [`MAX_NDIM`] dims, and the NumPy rule holds (every dim, and the product
/// of the non-zero dims times the item size, fit in an `i64`). Stored as a boxed slice: small values
/// matter, a `Box<[u64]>` is two words where a `Vec` is three.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape(Box<[u64]>);

impl Shape {
    /// Validates `dims` for `dtype`: rejects too many dims and sizes NumPy could not represent.
    pub fn new(dims: Vec<u64>, dtype: DType) -> ArrayResult<Shape> {
        if dims.len() > MAX_NDIM {
            return Err(ArrayError::shape(format!(
                "an array has at most {MAX_NDIM} dimensions, got {}",
                dims.len()
            )));
        }
        let shape = Shape(dims.into_boxed_slice());
        // NumPy's rule (np.load refuses otherwise): each dim and the product of the non-zero dims,
        // in bytes, must fit in int64.
        let mut bytes: u64 = dtype.itemsize() as u64;
        for &d in shape.dims() {
            if d > i64::MAX as u64 {
                return Err(shape.too_large(dtype));
            }
            if d != 0 {
                bytes = bytes
                    .checked_mul(d)
                    .filter(|b| *b <= i64::MAX as u64)
                    .ok_or_else(|| shape.too_large(dtype))?;
            }
        }
        Ok(shape)
    }

    fn too_large(&self, dtype: DType) -> ArrayError {
        ArrayError::TooLarge(format!(
            "shape {self} of {} is too large (its size must fit in int64)",
            dtype.name()
        ))
    }

    pub fn dims(&self) -> &[u64] {
        &self.0
    }

    pub fn ndim(&self) -> usize {
        self.0.len()
    }

    /// Number of elements.
    pub fn size(&self) -> u64 {
        element_count(&self.0)
    }

    /// Bytes of C-order data for `dtype`, checked against `limit` (the `max-array-bytes` setting)
    /// and against the address space, so the caller may allocate it.
    pub fn nbytes_within(&self, dtype: DType, limit: u64) -> ArrayResult<usize> {
        let nbytes = self.size().saturating_mul(dtype.itemsize() as u64);
        if nbytes > limit {
            return Err(ArrayError::TooLarge(format!(
                "{} with shape {self} needs {nbytes} bytes, over the max-array-bytes limit of {limit}",
                dtype.name()
            )));
        }
        usize::try_from(nbytes)
            .map_err(|_| ArrayError::TooLarge(format!("{nbytes} bytes do not fit in memory")))
    }

    /// The same shape with axis 0 set to `len` (APPEND). Revalidates.
    pub fn with_first_dim(&self, len: u64, dtype: DType) -> ArrayResult<Shape> {
        let mut dims = self.0.to_vec();
        if let Some(first) = dims.first_mut() {
            *first = len;
        }
        Shape::new(dims, dtype)
    }
}

/// Elements in an array of `dims`. A zero anywhere makes it 0 even when the other dims multiply
/// past u64 (NumPy allows `(2**62, 4, 0)`), so a plain product could overflow; otherwise saturates.
pub fn element_count(dims: &[u64]) -> u64 {
    if dims.contains(&0) {
        return 0;
    }
    dims.iter().fold(1u64, |acc, d| acc.saturating_mul(*d))
}

impl std::fmt::Display for Shape {
    /// Python tuple syntax, as NumPy prints shapes: `()`, `(3,)`, `(2, 3)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() == 1 {
            f.write_str(",")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_print_like_python_tuples() {
        assert_eq!(Shape::new(vec![], DType::Int8).unwrap().to_string(), "()");
        assert_eq!(
            Shape::new(vec![3], DType::Int8).unwrap().to_string(),
            "(3,)"
        );
        assert_eq!(
            Shape::new(vec![2, 3], DType::Int8).unwrap().to_string(),
            "(2, 3)"
        );
    }

    #[test]
    fn numpy_size_rule_is_enforced() {
        assert!(Shape::new(vec![0, 1 << 63], DType::Int8).is_err());
        assert!(Shape::new(vec![0, 1 << 62, 4], DType::Int8).is_err());
        assert!(Shape::new(vec![1 << 61, 4], DType::Int8).is_err());
        assert!(Shape::new(vec![1 << 60], DType::Float64).is_err());
        assert!(Shape::new(vec![0, 1 << 62], DType::Int8).is_ok());
        assert!(Shape::new(vec![1 << 59], DType::Float64).is_ok());
        assert!(Shape::new(vec![1; 33], DType::Int8).is_err());
        assert!(Shape::new(vec![1; 32], DType::Int8).is_ok());
    }

    #[test]
    fn element_counts_never_overflow() {
        assert_eq!(element_count(&[1 << 62, 4, 0]), 0);
        assert_eq!(element_count(&[]), 1);
        assert_eq!(element_count(&[1 << 40, 1 << 40]), u64::MAX);
        assert_eq!(
            Shape::new(vec![1 << 60, 4, 0], DType::Int8).unwrap().size(),
            0
        );
    }

    #[test]
    fn byte_size_is_checked_against_the_limit() {
        let s = Shape::new(vec![2, 3], DType::Float32).unwrap();
        assert_eq!(s.nbytes_within(DType::Float32, 24), Ok(24));
        assert!(matches!(
            s.nbytes_within(DType::Float32, 23),
            Err(ArrayError::TooLarge(_))
        ));
        let zero = Shape::new(vec![0, 1 << 40], DType::Float32).unwrap();
        assert_eq!(zero.size(), 0);
        assert_eq!(zero.nbytes_within(DType::Float32, 0), Ok(0));
    }
}
