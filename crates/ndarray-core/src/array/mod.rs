//! The Redis-free core: dtypes, shapes, element values, casts, `.npy`, and the chunked array.
//! Nothing here imports the Redis crate, so all of it is unit-tested without a server.

pub mod attrs;
pub mod cast;
mod chunk_list;
pub mod dtype;
pub mod error;
mod gather;
pub mod heap;
pub mod input;
pub mod ndarray;
pub mod npy;
pub mod reduce;
pub mod shape;
pub mod slice;
pub mod spare;
pub mod store;
pub mod ufunc;
pub mod values;

pub use dtype::DType;
pub use error::{ArrayError, ArrayResult};
pub use ndarray::{NdArray, PlannedWrite};
pub use shape::Shape;
