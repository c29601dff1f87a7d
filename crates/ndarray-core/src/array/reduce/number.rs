//! The numbers a reduction computes in (its domain): how elements of each dtype load into them,
//! add, multiply, compare (NumPy's order, NaN and complex rules) and write back as a dtype.

use super::super::dtype::{DType, Kind};
use super::super::values::{read_float, read_int, read_uint, write_float, write_int};

/// A complex number in float64.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct C64 {
    pub re: f64,
    pub im: f64,
}

/// The numbers of a [`Domain`]: how elements load into them and compare.
pub(super) trait Number: Copy + Send + Sync + Default + PartialEq + 'static {
    fn load(dtype: DType, raw: &[u8], out: &mut Vec<Self>);
    fn zero() -> Self;
    fn one() -> Self;
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
    fn is_nonzero(self) -> bool;
    /// NumPy's `<`, lexicographic for complex.
    fn less(self, other: Self) -> bool;
    /// Sum of a run (pairwise for floats).
    fn sum_run(run: &[Self]) -> Self {
        run.iter().fold(Self::zero(), |a, &b| a.add(b))
    }
    fn to_c64(self) -> C64;
    fn write(self, dtype: DType, out: &mut Vec<u8>);
}

/// The integer domains: wrapping sums and products, as NumPy's; `read_same` reads elements of
/// this signedness, `read_other` those of the other one (reinterpreted, as NumPy's casts wrap).
macro_rules! integer_number {
    ($t:ty, $same:expr, $other:expr, $same_kind:pat, $other_kind:pat) => {
        impl Number for $t {
            fn load(dtype: DType, raw: &[u8], out: &mut Vec<$t>) {
                let size = dtype.itemsize();
                match dtype.kind() {
                    Kind::Bool => out.extend(raw.iter().map(|b| <$t>::from(*b != 0))),
                    $same_kind => out.extend(raw.chunks_exact(size).map(|c| $same(dtype, c))),
                    $other_kind => out.extend(raw.chunks_exact(size).map(|c| $other(dtype, c))),
                    _ => {}
                }
            }
            fn zero() -> $t {
                0
            }
            fn one() -> $t {
                1
            }
            fn add(self, o: $t) -> $t {
                self.wrapping_add(o)
            }
            fn mul(self, o: $t) -> $t {
                self.wrapping_mul(o)
            }
            fn is_nan(self) -> bool {
                false
            }
            fn is_nonzero(self) -> bool {
                self != 0
            }
            fn less(self, o: $t) -> bool {
                self < o
            }
            fn to_c64(self) -> C64 {
                C64 {
                    re: self as f64,
                    im: 0.0,
                }
            }
            fn write(self, dtype: DType, out: &mut Vec<u8>) {
                match dtype.kind() {
                    Kind::Bool => out.push(u8::from(self != 0)),
                    Kind::Float | Kind::Complex => (self as f64).write(dtype, out),
                    _ => write_int(dtype, i128::from(self), out),
                }
            }
        }
    };
}
integer_number!(
    i64,
    read_int,
    |d, c| read_uint(d, c) as i64,
    Kind::Signed,
    Kind::Unsigned
);
integer_number!(
    u64,
    read_uint,
    |d, c| read_int(d, c) as u64,
    Kind::Unsigned,
    Kind::Signed
);

/// Pairwise summation below this many elements is a plain loop (NumPy's block is 128).
const PAIRWISE_BLOCK: usize = 128;

pub(super) fn pairwise(run: &[f64]) -> f64 {
    if run.len() <= PAIRWISE_BLOCK {
        // Eight lanes, as NumPy's unrolled loop, then added in a fixed order.
        let mut lanes = [0.0f64; 8];
        let mut chunks = run.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, x) in lanes.iter_mut().zip(chunk) {
                *lane += *x;
            }
        }
        let [a, b, c, d, e, f, g, h] = lanes;
        let mut sum = ((a + b) + (c + d)) + ((e + f) + (g + h));
        for x in chunks.remainder() {
            sum += *x;
        }
        return sum;
    }
    let half = (run.len() / 2 / 8) * 8;
    let (left, right) = run.split_at(half.max(8));
    pairwise(left) + pairwise(right)
}

impl Number for f64 {
    fn load(dtype: DType, raw: &[u8], out: &mut Vec<f64>) {
        let size = dtype.itemsize();
        // Aligned little-endian floats are read in place (a loop that vectorises).
        #[cfg(target_endian = "little")]
        match dtype {
            DType::Float32 => {
                if let Ok(floats) = bytemuck::try_cast_slice::<u8, f32>(raw) {
                    out.extend(floats.iter().map(|&x| f64::from(x)));
                    return;
                }
            }
            DType::Float64 => {
                if let Ok(floats) = bytemuck::try_cast_slice::<u8, f64>(raw) {
                    out.extend_from_slice(floats);
                    return;
                }
            }
            _ => {}
        }
        match (dtype, dtype.kind()) {
            (DType::Float32, _) => out.extend(
                raw.chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))),
            ),
            (DType::Float64, _) => out.extend(
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            ),
            (_, Kind::Bool) => out.extend(raw.iter().map(|b| f64::from(u8::from(*b != 0)))),
            (_, Kind::Signed) => {
                out.extend(raw.chunks_exact(size).map(|c| read_int(dtype, c) as f64))
            }
            (_, Kind::Unsigned) => {
                out.extend(raw.chunks_exact(size).map(|c| read_uint(dtype, c) as f64))
            }
            (_, Kind::Float) => out.extend(raw.chunks_exact(size).map(|c| read_float(dtype, c))),
            // The real part (a complex input reduces in the complex domain; not reached).
            (_, Kind::Complex) => out.extend(
                raw.chunks_exact(size)
                    .map(|c| read_float(part_dtype(dtype), c.get(..size / 2).unwrap_or_default())),
            ),
        }
    }
    fn zero() -> f64 {
        0.0
    }
    fn one() -> f64 {
        1.0
    }
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn mul(self, o: f64) -> f64 {
        self * o
    }
    fn is_nan(self) -> bool {
        self.is_nan()
    }
    fn is_nonzero(self) -> bool {
        self != 0.0
    }
    fn less(self, o: f64) -> bool {
        self < o
    }
    fn sum_run(run: &[f64]) -> f64 {
        pairwise(run)
    }
    fn to_c64(self) -> C64 {
        C64 { re: self, im: 0.0 }
    }
    fn write(self, dtype: DType, out: &mut Vec<u8>) {
        match dtype.kind() {
            Kind::Complex => C64 { re: self, im: 0.0 }.write(dtype, out),
            Kind::Bool => out.push(u8::from(self != 0.0)),
            Kind::Signed | Kind::Unsigned => write_int(dtype, self as i128, out),
            Kind::Float => write_float(dtype, self, out),
        }
    }
}

/// The float dtype of a complex dtype's parts.
fn part_dtype(dtype: DType) -> DType {
    if dtype == DType::Complex64 {
        DType::Float32
    } else {
        DType::Float64
    }
}

impl Number for C64 {
    fn load(dtype: DType, raw: &[u8], out: &mut Vec<C64>) {
        if dtype.kind() == Kind::Complex {
            let (size, part) = (dtype.itemsize(), part_dtype(dtype));
            out.extend(raw.chunks_exact(size).map(|c| {
                let (re, im) = c.split_at(size / 2);
                C64 {
                    re: read_float(part, re),
                    im: read_float(part, im),
                }
            }));
        } else {
            let mut reals = Vec::new();
            f64::load(dtype, raw, &mut reals);
            out.extend(reals.into_iter().map(|re| C64 { re, im: 0.0 }));
        }
    }
    fn zero() -> C64 {
        C64::default()
    }
    fn one() -> C64 {
        C64 { re: 1.0, im: 0.0 }
    }
    fn add(self, o: C64) -> C64 {
        C64 {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    /// As NumPy's complex product: `fma(ar, br, -(ai * bi))`, `fma(ar, bi, ai * br)`, a NaN
    /// operand propagating as x86's FMA does (see `ufunc`'s `Fused`).
    fn mul(self, o: C64) -> C64 {
        let fused =
            |a: f64, b: f64, c: f64, subtract: bool| match (a.is_nan(), b.is_nan(), c.is_nan()) {
                (true, _, _) => a,
                (false, true, _) => b,
                (false, false, true) => c,
                _ => a.mul_add(b, if subtract { -c } else { c }),
            };
        C64 {
            re: fused(self.re, o.re, self.im * o.im, true),
            im: fused(self.re, o.im, self.im * o.re, false),
        }
    }
    fn is_nan(self) -> bool {
        self.re.is_nan() || self.im.is_nan()
    }
    fn is_nonzero(self) -> bool {
        self.re != 0.0 || self.im != 0.0
    }
    /// NumPy's complex order (CLT): a NaN imaginary part makes the real order void.
    fn less(self, o: C64) -> bool {
        (self.re < o.re && !self.im.is_nan() && !o.im.is_nan())
            || (self.re == o.re && self.im < o.im)
    }
    fn sum_run(run: &[C64]) -> C64 {
        let re: Vec<f64> = run.iter().map(|c| c.re).collect();
        let im: Vec<f64> = run.iter().map(|c| c.im).collect();
        C64 {
            re: pairwise(&re),
            im: pairwise(&im),
        }
    }
    fn to_c64(self) -> C64 {
        self
    }
    fn write(self, dtype: DType, out: &mut Vec<u8>) {
        match dtype.kind() {
            Kind::Complex => {
                let part = part_dtype(dtype);
                write_float(part, self.re, out);
                write_float(part, self.im, out);
            }
            _ => self.re.write(dtype, out),
        }
    }
}
