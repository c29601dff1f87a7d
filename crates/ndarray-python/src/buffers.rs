//! Python buffers as byte slices, for the time the GIL is released: the one place with `unsafe`.
//! A `PyBuffer` keeps its exporter's memory alive and fixed (NumPy refuses to resize an array
//! whose buffer is exported) until it is dropped, which happens after the slice's last use.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A C-contiguous buffer of bytes, read in place.
pub struct Readable(PyBuffer<u8>);

impl Readable {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buffer = PyBuffer::<u8>::get(obj)?;
        if !buffer.is_c_contiguous() {
            return Err(PyValueError::new_err("the data must be C-contiguous bytes"));
        }
        Ok(Readable(buffer))
    }

    pub fn bytes(&self) -> &[u8] {
        if self.0.len_bytes() == 0 {
            return &[];
        }
        // SAFETY: a C-contiguous buffer of `len_bytes` bytes at `buf_ptr`, kept valid while `self`
        // lives; it is only read.
        unsafe { std::slice::from_raw_parts(self.0.buf_ptr().cast::<u8>(), self.0.len_bytes()) }
    }
}

/// A writable C-contiguous buffer of bytes (a NumPy array this extension just made, which no other
/// code has seen yet), filled in place.
pub struct Writable(PyBuffer<u8>);

impl Writable {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buffer = PyBuffer::<u8>::get(obj)?;
        if buffer.readonly() || !buffer.is_c_contiguous() {
            return Err(PyValueError::new_err(
                "the output must be a writable contiguous buffer",
            ));
        }
        Ok(Writable(buffer))
    }

    #[allow(clippy::mut_from_ref)]
    pub fn bytes(&self) -> &mut [u8] {
        if self.0.len_bytes() == 0 {
            return &mut [];
        }
        // SAFETY: a writable C-contiguous buffer of `len_bytes` bytes, valid while `self` lives.
        // Only `decode` calls this, once, on an array it allocated itself and has not returned
        // yet: no other reference to this memory exists while the slice is used.
        unsafe { std::slice::from_raw_parts_mut(self.0.buf_ptr().cast::<u8>(), self.0.len_bytes()) }
    }
}
