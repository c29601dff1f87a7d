//! Array data as clients send it (BLOB, VALUES, NPY or ENCODED) decoded into elements, plus `AS`
//! casts.

use super::cast::{cast_into, check_cast, check_same_kind};
use super::dtype::DType;
use super::error::{ArrayError, ArrayResult};
use super::ndarray::{check_len, NdArray};
use super::npy::decode_npy;
use super::shape::Shape;
use super::values::parse_values;
use crate::codec::{Encoding, EncodingChoice};
use std::borrow::Cow;

/// Data a write command received.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// Raw C-order little-endian bytes for an explicit dtype and shape.
    Blob {
        dtype: DType,
        dims: Vec<u64>,
        bytes: &'a [u8],
    },
    /// Numbers as text, C order.
    Values {
        dtype: DType,
        dims: Vec<u64>,
        values: Vec<&'a [u8]>,
    },
    /// A whole `.npy` file: it carries its own dtype and shape.
    Npy(&'a [u8]),
    /// An array in the encoded form (`persist`): it carries its dtype, shape and encoding. Writes
    /// store it as it is; [`Input::decode`] gives its elements.
    Encoded(&'a [u8]),
}

/// Decoded elements: C-order little-endian bytes, borrowed from the argument when possible.
#[derive(Debug, Clone, PartialEq)]
pub struct Elements<'a> {
    pub dtype: DType,
    pub shape: Shape,
    pub data: Cow<'a, [u8]>,
}

impl<'a> Input<'a> {
    /// Validates and decodes; every size is checked against `max_bytes` before allocating.
    pub fn decode(self, max_bytes: u64) -> ArrayResult<Elements<'a>> {
        match self {
            Input::Blob { dtype, dims, bytes } => {
                let shape = Shape::new(dims, dtype)?;
                shape.nbytes_within(dtype, max_bytes)?;
                check_len(dtype, &shape, bytes.len())?;
                Ok(Elements {
                    dtype,
                    shape,
                    data: canonical(dtype, Cow::Borrowed(bytes)),
                })
            }
            Input::Values {
                dtype,
                dims,
                values,
            } => {
                let shape = Shape::new(dims, dtype)?;
                shape.nbytes_within(dtype, max_bytes)?;
                let per_element = dtype.values_per_element();
                let expected = usize::try_from(shape.size().saturating_mul(per_element))
                    .map_err(|_| ArrayError::TooLarge("too many values".into()))?;
                let data = parse_values(dtype, values.into_iter(), expected)?;
                Ok(Elements {
                    dtype,
                    shape,
                    data: Cow::Owned(data),
                })
            }
            Input::Npy(file) => {
                let npy = decode_npy(file, max_bytes)?;
                Ok(Elements {
                    dtype: npy.dtype,
                    shape: npy.shape,
                    data: canonical(npy.dtype, npy.data),
                })
            }
            Input::Encoded(payload) => {
                let (dtype, shape) = crate::persist::payload_header(payload)?;
                shape.nbytes_within(dtype, max_bytes)?;
                let array = crate::persist::from_client_payload(payload)?;
                let mut data = Vec::new();
                array.read_all(&mut data)?;
                Ok(Elements {
                    dtype,
                    shape,
                    data: Cow::Owned(data),
                })
            }
        }
    }
}

/// Bytes as they are stored: a bool is 0 or 1, whatever nonzero byte the client sent (NumPy's
/// `True` for any nonzero byte), so every reply and cast sees the same value. Copies only bool
/// data that holds another byte.
pub fn canonical(dtype: DType, data: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if dtype != DType::Bool || data.iter().all(|&b| b <= 1) {
        return data;
    }
    Cow::Owned(data.iter().map(|&b| u8::from(b != 0)).collect())
}

impl<'a> Elements<'a> {
    /// Raw bytes of the elements.
    pub fn nbytes(&self) -> u64 {
        self.data.len() as u64
    }

    /// Stores the elements as a chunked array (the one copy out of the argument bytes), its
    /// compressed chunks in blocks of `block_bytes` (0: each chunk one frame).
    /// Encodes the elements; `COMPRESS auto` picks the encoding from a sample of them here.
    pub fn into_array(
        self,
        encoding: EncodingChoice,
        chunk_bytes: usize,
        block_bytes: u32,
    ) -> ArrayResult<NdArray> {
        let encoding = encoding.for_data(&self.data, self.dtype.itemsize());
        let encoding = Encoding {
            block_bytes,
            ..encoding
        };
        NdArray::encode(self.dtype, self.shape, &self.data, encoding, chunk_bytes)
    }

    /// Converts to `to` (an allowed `AS` cast), checking the output size against `max_bytes`.
    pub fn cast(self, to: DType, max_bytes: u64) -> ArrayResult<Elements<'a>> {
        if to != self.dtype {
            check_cast(self.dtype, to)?;
        }
        self.convert(to, max_bytes)
    }

    /// Converts to `to` for a write into an existing array of that dtype: NumPy's `same_kind`
    /// rule ([`check_same_kind`]), the output size checked against `max_bytes`.
    pub fn cast_same_kind(self, to: DType, max_bytes: u64) -> ArrayResult<Elements<'a>> {
        if to != self.dtype {
            check_same_kind(self.dtype, to)?;
        }
        self.convert(to, max_bytes)
    }

    /// The conversion itself, once a rule allowed it.
    fn convert(self, to: DType, max_bytes: u64) -> ArrayResult<Elements<'a>> {
        if to == self.dtype {
            return Ok(self);
        }
        let shape = Shape::new(self.shape.dims().to_vec(), to)?;
        let nbytes = shape.nbytes_within(to, max_bytes)?;
        let mut out = Vec::with_capacity(nbytes);
        cast_into(self.dtype, to, &self.data, &mut out);
        Ok(Elements {
            dtype: to,
            shape,
            data: Cow::Owned(out),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_blobs_store_any_nonzero_byte_as_one() {
        let blob = Input::Blob {
            dtype: DType::Bool,
            dims: vec![3],
            bytes: &[0, 5, 255],
        }
        .decode(1 << 20)
        .unwrap();
        assert_eq!(&*blob.data, &[0, 1, 1]);
        let clean = Input::Blob {
            dtype: DType::Bool,
            dims: vec![2],
            bytes: &[0, 1],
        }
        .decode(1 << 20)
        .unwrap();
        assert!(
            matches!(clean.data, Cow::Borrowed(_)),
            "no copy when already 0/1"
        );
    }

    #[test]
    fn blob_values_and_npy_decode_to_the_same_elements() {
        let bytes: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let blob = Input::Blob {
            dtype: DType::Float32,
            dims: vec![2],
            bytes: &bytes,
        }
        .decode(1 << 20)
        .unwrap();
        let values = Input::Values {
            dtype: DType::Float32,
            dims: vec![2],
            values: vec![b"1", b"2.0"],
        }
        .decode(1 << 20)
        .unwrap();
        assert_eq!(blob, values);
        let file = super::super::npy::encode_npy(DType::Float32, &blob.shape, &bytes);
        assert_eq!(Input::Npy(&file).decode(1 << 20).unwrap(), blob);
    }

    #[test]
    fn limits_apply_before_parsing() {
        let e = Input::Values {
            dtype: DType::Float64,
            dims: vec![1 << 40],
            values: vec![],
        }
        .decode(1 << 20);
        assert!(matches!(e, Err(ArrayError::TooLarge(_))));
        let e = Input::Blob {
            dtype: DType::Int8,
            dims: vec![3],
            bytes: b"ab",
        }
        .decode(1 << 20)
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "blob is 2 bytes, int8 with shape (3,) needs 3"
        );
    }

    #[test]
    fn casts_convert_and_refuse_what_is_not_allowed() {
        let bytes: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let e = Input::Blob {
            dtype: DType::Float32,
            dims: vec![2],
            bytes: &bytes,
        }
        .decode(1 << 20)
        .unwrap();
        let half = e.clone().cast(DType::Float16, 1 << 20).unwrap();
        assert_eq!(half.data.len(), 4);
        assert_eq!(half.dtype, DType::Float16);
        assert!(e.clone().cast(DType::Int32, 1 << 20).is_err());
        assert!(matches!(
            e.cast(DType::Float64, 8),
            Err(ArrayError::TooLarge(_))
        ));
    }
}
