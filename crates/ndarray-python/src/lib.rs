//! `redis_ndarray._core`: the module's own encoder and decoder for the Python client, from the
//! core crate. `encode` turns an array's bytes into the payload `NDARRAY.SET … ENCODED` stores as
//! it is; `decode` turns a `GET … FORMAT ENCODED` reply into an array's bytes. Both run with the
//! GIL released, their chunks spread over a rayon pool (all cores).

mod buffers;
mod pool;

use buffers::{Readable, Writable};
use ndarray_core::array::store::{DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES};
use ndarray_core::array::{ArrayError, DType, NdArray, Shape};
use ndarray_core::codec::blocks::{DEFAULT_BLOCK_BYTES, MIN_BLOCK_BYTES};
use ndarray_core::codec::registry;
use ndarray_core::codec::request::{EncodingDefaults, EncodingRequest};
use ndarray_core::codec::{CodecName, Encoding, Shuffle};
use ndarray_core::persist::{self, view};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A core error as Python's ValueError, its message led by the code the server would reply
/// (`BADPAYLOAD …`, `DTYPE …`), so offline and server errors read alike.
fn value_error(e: ArrayError) -> PyErr {
    PyValueError::new_err(format!("{} {e}", e.code()))
}

/// The encoding a write asks for, by the names `COMPRESS` and `SHUFFLE` take.
fn request(
    compress: Option<&str>,
    level: Option<i32>,
    shuffle: Option<&str>,
) -> PyResult<EncodingRequest> {
    let codec = compress
        .map(|name| {
            CodecName::parse(name).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "unknown compression {name:?} (one of {})",
                    CodecName::names()
                ))
            })
        })
        .transpose()?;
    let shuffle = shuffle
        .map(|name| {
            registry::filter_named(name)
                .map(Shuffle::new)
                .ok_or_else(|| {
                    let names = registry::FILTERS.iter().map(|f| f.name());
                    PyValueError::new_err(format!(
                        "unknown shuffle {name:?} (one of {})",
                        registry::or_list(names)
                    ))
                })
        })
        .transpose()?;
    Ok(EncodingRequest {
        codec,
        level,
        shuffle,
    })
}

/// The payload of an array: `data` its C-order little-endian bytes (any buffer of bytes),
/// `dtype` the server's name for its dtype, `shape` its dims. `compress`, `level` and `shuffle`
/// as `NDARRAY.SET` takes them (`auto` included), the rest as the server's built-in defaults
/// (zstd-1 with bit shuffle, 256 KiB chunks in blocks of 32 KiB; `block_bytes=0` for chunks of
/// one frame): the bytes equal what the server stores for the same
/// array and options.
#[pyfunction]
#[pyo3(signature = (data, dtype, shape, compress=None, level=None, shuffle=None, chunk_bytes=None, block_bytes=None))]
#[allow(clippy::too_many_arguments)]
fn encode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    dtype: &str,
    shape: Vec<u64>,
    compress: Option<&str>,
    level: Option<i32>,
    shuffle: Option<&str>,
    chunk_bytes: Option<u32>,
    block_bytes: Option<u32>,
) -> PyResult<Bound<'py, PyBytes>> {
    let dtype = DType::parse(dtype.as_bytes()).map_err(value_error)?;
    let shape = Shape::new(shape, dtype).map_err(value_error)?;
    let choice = request(compress, level, shuffle)?
        .resolve(&EncodingDefaults::builtin(), dtype.itemsize())
        .map_err(PyValueError::new_err)?;
    let chunk_bytes = chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
    if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&chunk_bytes) {
        return Err(PyValueError::new_err(format!(
            "chunk_bytes must be {MIN_CHUNK_BYTES} to {MAX_CHUNK_BYTES}, got {chunk_bytes}"
        )));
    }
    let block_bytes = block_bytes.unwrap_or(DEFAULT_BLOCK_BYTES);
    if block_bytes != 0 && !(MIN_BLOCK_BYTES..=MAX_CHUNK_BYTES).contains(&block_bytes) {
        return Err(PyValueError::new_err(format!(
            "block_bytes must be 0 or {MIN_BLOCK_BYTES} to {MAX_CHUNK_BYTES}, got {block_bytes}"
        )));
    }
    let data = Readable::new(data)?;
    let raw = data.bytes();
    let payload = py.detach(|| {
        pool::use_pool();
        let encoding = Encoding {
            block_bytes,
            ..choice.for_data(raw, dtype.itemsize())
        };
        let array = NdArray::encode(dtype, shape, raw, encoding, chunk_bytes as usize)?;
        // Copy: the chunks into one payload (compressed bytes; `PyBytes::new` copies it once more).
        Ok::<_, ArrayError>(persist::to_payload(&array))
    });
    Ok(PyBytes::new(py, &payload.map_err(value_error)?))
}

/// The dtype name, shape and element bytes of a payload: `(dtype, shape, data)`, `data` a new
/// 1-d uint8 NumPy array that the caller views as the dtype and shape (no copy). Every field and
/// every chunk is checked: a payload that does not decode raises ValueError (`BADPAYLOAD …`).
#[pyfunction]
fn decode<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyAny>,
) -> PyResult<(&'static str, Vec<u64>, Bound<'py, PyAny>)> {
    let payload = Readable::new(payload)?;
    let view = view::view_payload(payload.bytes()).map_err(value_error)?;
    let nbytes = usize::try_from(view.nbytes())
        .map_err(|_| PyValueError::new_err("LIMIT the array is too large for this machine"))?;
    // The array's memory, allocated by NumPy (its owner from here on) and filled in place.
    let out = py
        .import("numpy")?
        .call_method1("empty", (nbytes, "uint8"))?;
    let target = Writable::new(&out)?;
    let bytes = target.bytes();
    py.detach(|| {
        pool::use_pool();
        view.decode_into(bytes)
    })
    .map_err(value_error)?;
    Ok((view.dtype().name(), view.shape().dims().to_vec(), out))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add("DEFAULT_CHUNK_BYTES", DEFAULT_CHUNK_BYTES)?;
    m.add("DEFAULT_BLOCK_BYTES", DEFAULT_BLOCK_BYTES)?;
    m.add("ENCODING_VERSION", persist::ENCODING_VERSION)?;
    Ok(())
}
