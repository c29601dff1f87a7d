//! The Redis-free step of each write command: what a handler does between parsing its arguments
//! and touching the key. The handlers (write.rs, batch.rs) and the command-argument fuzz target
//! (src/fuzzing.rs) call the same functions, so the fuzzer exercises the code that runs in Redis. Nothing here sees
//! a `Context` or a key; the module settings come in as a [`WriteSettings`] value.

use super::parse::{DataArg, MsetexOptions, StoreOptions};
use crate::array::attrs::Attrs;
use crate::array::input::{canonical, Elements, Input};
use crate::array::npy::{decode_npy_repeated, LastHeader};
use crate::array::shape::element_count;
use crate::array::slice::Selection;
use crate::array::values::parse_values;
use crate::array::{ArrayError, DType, NdArray, PlannedWrite, Shape};
use crate::codec::registry::DefaultLevels;
use crate::codec::request::EncodingDefaults;
use crate::codec::{CodecName, EncodingChoice, Shuffle};
use crate::config;
use crate::error::{Error, Result};
use std::borrow::Cow;

/// The module settings a write reads, taken once per command. The steps below get them as a
/// value so that they stay Redis-free: the handlers pass [`WriteSettings::current`], the fuzz
/// targets fixed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSettings {
    /// Compression of a write that names none (`ndarray.compression`).
    pub compression: CodecName,
    /// The level of a codec named without `LEVEL` (`ndarray.zlib-level`, `ndarray.zstd-level`).
    pub levels: DefaultLevels,
    /// Shuffle of a write that names none (`ndarray.shuffle`).
    pub shuffle: Shuffle,
    /// Requested chunk size (`ndarray.chunk-bytes`).
    pub chunk_bytes: usize,
    /// Requested block size within compressed chunks (`ndarray.block-bytes`; 0: none).
    pub block_bytes: u32,
    /// Largest array a write may make (`ndarray.max-array-bytes`).
    pub max_array_bytes: u64,
}

impl WriteSettings {
    /// The module's settings now.
    pub fn current() -> Self {
        WriteSettings {
            compression: config::default_compression(),
            levels: config::default_levels(),
            shuffle: config::default_shuffle(),
            chunk_bytes: config::chunk_bytes(),
            block_bytes: config::block_bytes(),
            max_array_bytes: config::max_array_bytes(),
        }
    }

    /// The encoding of a write that takes no storage options (APPEND creating a key, MSET).
    pub fn default_encoding(&self, itemsize: usize) -> Result<EncodingChoice> {
        self.resolve_encoding(StoreOptions::default(), itemsize)
    }

    /// The encoding a write uses: what the command asked for, the settings for the rest.
    /// `auto` picks codec, level and filter itself, so it takes neither LEVEL nor SHUFFLE.
    /// Remembers the last answer of this thread (most writes repeat it; resolving names through
    /// the registry showed in every small SET's profile).
    pub fn resolve_encoding(&self, opts: StoreOptions, itemsize: usize) -> Result<EncodingChoice> {
        type Key = (WriteSettings, StoreOptions, usize);
        thread_local! {
            static LAST: std::cell::Cell<Option<(Key, EncodingChoice)>> =
                const { std::cell::Cell::new(None) };
        }
        let key = (*self, opts, itemsize);
        if let Some((last, choice)) = LAST.get() {
            if last == key {
                return Ok(choice);
            }
        }
        let choice = self.resolve_encoding_anew(opts, itemsize)?;
        LAST.set(Some((key, choice)));
        Ok(choice)
    }

    fn resolve_encoding_anew(&self, opts: StoreOptions, itemsize: usize) -> Result<EncodingChoice> {
        let defaults = EncodingDefaults {
            compression: self.compression,
            levels: self.levels,
            shuffle: self.shuffle,
        };
        opts.resolve(&defaults, itemsize).map_err(Error::usage)
    }
}

/// The value NDARRAY.SET stores, one step before the end: decoded, cast (`AS`), its encoding
/// resolved; or an encoded array, its header checked. Every error in the arguments surfaces in
/// [`SetValue::prepare`], before the key is looked at; NX / XX then decide whether
/// [`SetValue::encode`] (the compression, or the encoded array's check) runs at all.
#[derive(Debug)]
pub struct SetValue<'a> {
    pub data: SetData<'a>,
    /// The attributes the stored array gets (SET's `ATTR` options; none for MSET and MSETEX).
    pub attrs: Attrs,
}

/// What a write stores: elements to encode, or an array already encoded, stored as it is.
#[derive(Debug, Clone)]
pub enum SetData<'a> {
    /// Elements and the encoding resolved for them.
    Elements(Elements<'a>, EncodingChoice),
    Encoded {
        payload: &'a [u8],
        /// The raw bytes its header declares (within `max-array-bytes`).
        nbytes: u64,
    },
}

impl<'a> SetValue<'a> {
    pub fn prepare(
        input: Input<'a>,
        cast: Option<DType>,
        store: StoreOptions,
        settings: &WriteSettings,
    ) -> Result<Self> {
        if let Input::Encoded(payload) = input {
            if !stored_as_is(cast, store) {
                return Err(Error::usage(
                    "ENCODED data is stored as it is: COMPRESS, LEVEL, SHUFFLE and AS do not apply",
                ));
            }
            return Self::encoded(payload, settings);
        }
        let elements = input.decode(settings.max_array_bytes)?;
        Self::from_elements(elements, cast, store, settings)
    }

    /// An encoded array, its header checked against the limits (nothing allocated yet); its
    /// chunks are checked by [`SetValue::encode`].
    fn encoded(payload: &'a [u8], settings: &WriteSettings) -> Result<Self> {
        let (dtype, shape) = crate::persist::payload_header(payload)?;
        let nbytes = shape.nbytes_within(dtype, settings.max_array_bytes)? as u64;
        Ok(SetValue {
            data: SetData::Encoded { payload, nbytes },
            attrs: Attrs::default(),
        })
    }

    /// Raw bytes of the array it stores (what decides whether a worker does the work).
    pub fn nbytes(&self) -> u64 {
        match &self.data {
            SetData::Elements(elements, _) => elements.nbytes(),
            SetData::Encoded { nbytes, .. } => *nbytes,
        }
    }

    /// The second half of [`SetValue::prepare`], for elements already decoded (MSETEX's `.npy`
    /// files): the cast (`AS`) and the encoding SET would resolve for the same options.
    pub fn from_elements(
        mut elements: Elements<'a>,
        cast: Option<DType>,
        store: StoreOptions,
        settings: &WriteSettings,
    ) -> Result<Self> {
        if let Some(to) = cast {
            elements = elements.cast(to, settings.max_array_bytes)?;
        }
        let encoding = settings.resolve_encoding(store, elements.dtype.itemsize())?;
        Ok(SetValue {
            data: SetData::Elements(elements, encoding),
            attrs: Attrs::default(),
        })
    }

    /// The array to store: the elements compressed (the one copy out of the argument bytes), or
    /// the encoded array loaded as it is (its chunks copied, every one decoded once to check it;
    /// the same checks as a load, so a stored value always loads again). An encoded array keeps
    /// its attributes, with `ATTR` options set on top; its `updated_at` is this write's.
    pub fn encode(self, settings: &WriteSettings) -> Result<NdArray> {
        let mut array = match self.data {
            SetData::Elements(elements, encoding) => {
                let mut array =
                    elements.into_array(encoding, settings.chunk_bytes, settings.block_bytes)?;
                *array.attrs_mut() = self.attrs;
                return Ok(array);
            }
            SetData::Encoded { payload, .. } => crate::persist::from_client_payload(payload)?,
        };
        array.set_updated_at(0);
        array.attrs_mut().set_all(self.attrs.iter())?;
        Ok(array)
    }
}

/// APPEND to an existing array: `data` as whole rows of its dtype, the array staying within `max`
/// bytes. Returns the new length of axis 0.
pub fn append_rows(array: &mut NdArray, data: DataArg, max: u64) -> Result<u64> {
    let rows = rows_for(array, data, max)?;
    let total = array.nbytes().saturating_add(rows.len() as u64);
    if total > max {
        return Err(ArrayError::TooLarge(format!(
            "appending would make the array {total} bytes, over the max-array-bytes limit of {max}"
        ))
        .into());
    }
    Ok(array.append_rows(&rows)?)
}

/// APPEND to a missing key: only NPY data creates an array (in the default encoding). Returns it
/// with its length along axis 0.
pub fn append_new(data: DataArg, settings: &WriteSettings) -> Result<(NdArray, u64)> {
    let DataArg::Npy(file) = data else {
        return Err(Error::no_key(
            "no such key: BLOB and VALUES append to an existing array (NPY creates one)",
        ));
    };
    let elements = Input::Npy(file).decode(settings.max_array_bytes)?;
    let Some(&len0) = elements.shape.dims().first() else {
        return Err(ArrayError::shape("cannot create an appendable array from 0-d data").into());
    };
    let encoding = settings.default_encoding(elements.dtype.itemsize())?;
    let array = elements.into_array(encoding, settings.chunk_bytes, settings.block_bytes)?;
    Ok((array, len0))
}

/// The raw bytes of whole rows of `array` that `data` holds, converted to its dtype.
fn rows_for<'a>(array: &NdArray, data: DataArg<'a>, max: u64) -> Result<Cow<'a, [u8]>> {
    let dtype = array.dtype();
    let row_dims = array.shape().dims().get(1..).unwrap_or_default();
    if array.shape().ndim() == 0 {
        return Err(ArrayError::shape("cannot append to a 0-d array").into());
    }
    match data {
        DataArg::Blob(bytes) => Ok(canonical(dtype, Cow::Borrowed(bytes))),
        DataArg::Values(values) => {
            let per_value = dtype.values_per_element();
            let per_row = element_count(row_dims).saturating_mul(per_value);
            let n = values.len() as u64;
            if per_row == 0 || !n.is_multiple_of(per_row) {
                return Err(ArrayError::shape(format!(
                    "got {n} values, not a whole number of rows of {per_row} values (row shape {})",
                    Shape::new(row_dims.to_vec(), dtype)?
                ))
                .into());
            }
            Ok(Cow::Owned(parse_values(
                dtype,
                values.into_iter(),
                n as usize,
            )?))
        }
        DataArg::Npy(file) => {
            let elements: Elements<'a> = Input::Npy(file).decode(max)?;
            let elements = elements
                .cast_same_kind(dtype, max)
                .map_err(|e| e.context("npy data"))?;
            let dims = elements.shape.dims();
            let fits = dims == row_dims || dims.get(1..) == Some(row_dims);
            if !fits {
                return Err(ArrayError::shape(format!(
                    "npy data of shape {} does not fit rows of shape {} (expected k rows of that shape, or one row)",
                    elements.shape,
                    Shape::new(row_dims.to_vec(), dtype)?
                ))
                .into());
            }
            Ok(elements.data)
        }
    }
}

/// SETSLICE: resolves `selection` against `array` and writes `data` into it (an item per selected
/// element, or one item that broadcasts); `max` bounds a decoded `.npy`.
pub fn write_slice(array: &mut NdArray, selection: &[u8], data: DataArg, max: u64) -> Result<()> {
    let plan = plan_slice_write(array, selection, data, max, WholeCopy::AtInstall)?;
    // Planned against this very state: it applies.
    let _ = array.apply_write(plan);
    Ok(())
}

/// Raw bytes a SETSLICE of `selection` may decode and re-encode: at most one chunk per selected
/// element, at most the whole array; or the whole array when a running read holds an uncompressed
/// one (held as one buffer, which the write would copy). What decides whether it runs on a worker.
pub fn slice_write_work(array: &NdArray, selection: &[u8]) -> Result<u64> {
    let sel = Selection::resolve(selection, array.shape())?;
    if array.store().keeps_npy_header() && array.store_is_shared() {
        return Ok(array.nbytes());
    }
    let chunk = u64::from(array.store().chunk_bytes());
    Ok(sel.size().saturating_mul(chunk).min(array.nbytes()))
}

/// The chunks a SETSLICE produces from this state of `array`, which it leaves unchanged (on a
/// worker, from a snapshot; see [`NdArray::apply_write`]).
pub fn plan_slice_write(
    array: &NdArray,
    selection: &[u8],
    data: DataArg,
    max: u64,
    copy: WholeCopy,
) -> Result<PlannedWrite> {
    let sel = Selection::resolve(selection, array.shape())?;
    let dtype = array.dtype();
    let elements: Cow<[u8]> = match data {
        DataArg::Blob(bytes) => canonical(dtype, Cow::Borrowed(bytes)),
        DataArg::Values(values) => {
            let per_value = dtype.values_per_element();
            let wanted = sel.size().saturating_mul(per_value);
            // One value (one complex pair) broadcasts to the whole selection.
            let count = if values.len() as u64 == per_value {
                per_value
            } else {
                wanted
            };
            let count = usize::try_from(count)
                .map_err(|_| ArrayError::TooLarge("selection too large".into()))?;
            Cow::Owned(parse_values(dtype, values.into_iter(), count)?)
        }
        DataArg::Npy(file) => {
            let npy = Input::Npy(file).decode(max)?;
            if npy.shape.dims() != sel.dims() {
                return Err(ArrayError::shape(format!(
                    "npy data of shape {} does not match the selection's shape {}",
                    npy.shape,
                    Shape::new(sel.dims().to_vec(), dtype)?
                ))
                .into());
            }
            npy.cast_same_kind(dtype, max)
                .map_err(|e| e.context("npy data"))?
                .data
        }
    };
    Ok(match copy {
        WholeCopy::Here => array.plan_write_copy(&sel, &elements)?,
        WholeCopy::AtInstall => array.plan_write(&sel, &elements)?,
    })
}

/// Where a SETSLICE into a store held as one buffer copies it: on the worker that plans it, or
/// (inline) when it is applied, only if a snapshot shares it.
#[derive(Clone, Copy)]
pub enum WholeCopy {
    Here,
    AtInstall,
}

/// RESHAPE: gives `array` the shape `dims`, which must hold the same number of elements.
/// RESHAPE: `dims` with at most one unknown (`None`, a -1), which NumPy's rule infers from the
/// array's size.
pub fn reshape_to(array: &mut NdArray, dims: Vec<Option<u64>>) -> Result<()> {
    let size = array.shape().size();
    let known = dims
        .iter()
        .flatten()
        .try_fold(1u64, |product, &d| product.checked_mul(d));
    let inferred = match known {
        Some(known) if known != 0 && size.is_multiple_of(known) => Some(size / known),
        _ => None,
    };
    let resolved: Option<Vec<u64>> = dims.iter().map(|d| d.or(inferred)).collect();
    let Some(resolved) = resolved else {
        let text: Vec<String> = dims
            .iter()
            .map(|d| d.map_or("-1".to_string(), |d| d.to_string()))
            .collect();
        return Err(ArrayError::shape(format!(
            "cannot reshape array of size {size} into shape ({})",
            text.join(", ")
        ))
        .into());
    };
    let shape = Shape::new(resolved, array.dtype())?;
    Ok(array.reshape(shape)?)
}

/// MSET's value for key `name`, argument number `position`: a `.npy` file stored in the default
/// encoding. A decoding error names the argument and the key.
#[cfg(any(test, feature = "fuzzing"))]
pub fn mset_value(
    position: usize,
    name: &[u8],
    npy: &[u8],
    settings: &WriteSettings,
) -> Result<NdArray> {
    mset_elements(position, name, npy, settings, &mut BatchMemo::default())?.encode(settings)
}

/// What the values of one batch (MSET, MSETEX) usually repeat, so that each costs a comparison
/// instead of a parse: the previous `.npy` header, and the encoding resolved for the previous
/// item size (a batch resolves one set of options; resolving them anew was a cost per key).
#[derive(Debug, Default)]
pub struct BatchMemo {
    header: LastHeader,
    encoding: Option<(usize, EncodingChoice)>,
}

impl BatchMemo {
    fn encoding(
        &mut self,
        itemsize: usize,
        resolve: impl FnOnce() -> Result<EncodingChoice>,
    ) -> Result<EncodingChoice> {
        match self.encoding {
            Some((size, choice)) if size == itemsize => Ok(choice),
            _ => {
                let choice = resolve()?;
                self.encoding = Some((itemsize, choice));
                Ok(choice)
            }
        }
    }
}

/// A batch's `.npy` value, decoded; an error names the argument and the key.
fn batch_elements<'a>(
    position: usize,
    name: &[u8],
    npy: &'a [u8],
    settings: &WriteSettings,
    memo: &mut BatchMemo,
) -> Result<Elements<'a>> {
    let npy =
        decode_npy_repeated(npy, settings.max_array_bytes, &mut memo.header).map_err(|e| {
            e.context(format_args!(
                "argument {position} (the value of key '{}')",
                name.escape_ascii()
            ))
        })?;
    Ok(Elements {
        dtype: npy.dtype,
        shape: npy.shape,
        data: npy.data,
    })
}

/// The validation half of [`mset_value`]: the decoded `.npy`, its encoding resolved, not yet
/// compressed (a big MSET compresses on a worker).
pub fn mset_elements<'a>(
    position: usize,
    name: &[u8],
    npy: &'a [u8],
    settings: &WriteSettings,
    memo: &mut BatchMemo,
) -> Result<SetValue<'a>> {
    if npy.starts_with(crate::persist::PAYLOAD_MAGIC) {
        return encoded_batch_value(position, name, npy, settings);
    }
    let elements = batch_elements(position, name, npy, settings, memo)?;
    let itemsize = elements.dtype.itemsize();
    let encoding = memo.encoding(itemsize, || settings.default_encoding(itemsize))?;
    Ok(SetValue {
        data: SetData::Elements(elements, encoding),
        attrs: Attrs::default(),
    })
}

/// MSETEX's value for key `name`, argument number `position`: a `.npy` file (decoded as MSET
/// decodes it, errors naming the argument and the key), then cast and encoded as SET would with
/// the same `AS` / COMPRESS / LEVEL / SHUFFLE options.
pub fn msetex_elements<'a>(
    position: usize,
    name: &[u8],
    npy: &'a [u8],
    options: &MsetexOptions,
    settings: &WriteSettings,
    memo: &mut BatchMemo,
) -> Result<SetValue<'a>> {
    if npy.starts_with(crate::persist::PAYLOAD_MAGIC) {
        if !stored_as_is(options.cast, options.store) {
            return Err(Error::usage(format!(
                "argument {position} (the value of key '{}') is encoded, stored as it is: COMPRESS, LEVEL, SHUFFLE and AS do not apply",
                name.escape_ascii()
            )));
        }
        return encoded_batch_value(position, name, npy, settings);
    }
    let mut elements = batch_elements(position, name, npy, settings, memo)?;
    if let Some(to) = options.cast {
        elements = elements.cast(to, settings.max_array_bytes)?;
    }
    let itemsize = elements.dtype.itemsize();
    let encoding = memo.encoding(itemsize, || {
        settings.resolve_encoding(options.store, itemsize)
    })?;
    Ok(SetValue {
        data: SetData::Elements(elements, encoding),
        attrs: Attrs::default(),
    })
}

/// Whether a write with these options may store an encoded array: it is stored as it is, so it
/// takes no cast and no encoding option.
fn stored_as_is(cast: Option<DType>, store: StoreOptions) -> bool {
    cast.is_none() && store == StoreOptions::default()
}

/// A batch's value in the encoded form (it starts with the encoded form's magic, which no `.npy`
/// file does); an error names the argument and the key.
fn encoded_batch_value<'a>(
    position: usize,
    name: &[u8],
    payload: &'a [u8],
    settings: &WriteSettings,
) -> Result<SetValue<'a>> {
    SetValue::encoded(payload, settings).map_err(|e| match e {
        Error::Array(e) => Error::Array(e.context(format_args!(
            "argument {position} (the value of key '{}')",
            name.escape_ascii()
        ))),
        other => other,
    })
}
