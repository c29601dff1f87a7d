//! In-place arithmetic (`NDARRAY.APPLY`): NumPy's add, subtract, multiply, divide, minimum and
//! maximum of the selected elements and an operand, written back under NumPy's rules — the
//! operands promote (`np.result_type`; a Python scalar is "weak", NEP 50), the op runs in the
//! promoted dtype exactly as NumPy's loops do (float16 and bfloat16 through float32), and the
//! result casts back to the array's dtype only if `same_kind` allows it. Results are
//! bit-identical to NumPy's `ufunc(a[sel], x, out=a[sel])`.

use super::cast::{can_cast_same_kind, numpy_repr};
use super::dtype::{DType, Kind};
use super::error::{ArrayError, ArrayResult};
use super::values::{f64_to_f16, int_range, scalar_at, write_float, write_int, Scalar};
use half::{bf16, f16};

/// A NumPy ufunc APPLY runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ufunc {
    Add,
    Subtract,
    Multiply,
    Divide,
    Minimum,
    Maximum,
}

impl Ufunc {
    pub const ALL: [Ufunc; 6] = [
        Ufunc::Add,
        Ufunc::Subtract,
        Ufunc::Multiply,
        Ufunc::Divide,
        Ufunc::Minimum,
        Ufunc::Maximum,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Ufunc::Add => "add",
            Ufunc::Subtract => "subtract",
            Ufunc::Multiply => "multiply",
            Ufunc::Divide => "divide",
            Ufunc::Minimum => "minimum",
            Ufunc::Maximum => "maximum",
        }
    }

    /// The ufunc named `name` (case-insensitive; `true_divide` is NumPy's other name of divide).
    pub fn parse(name: &[u8]) -> ArrayResult<Ufunc> {
        if name.eq_ignore_ascii_case(b"true_divide") {
            return Ok(Ufunc::Divide);
        }
        Ufunc::ALL
            .iter()
            .copied()
            .find(|u| u.name().as_bytes().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                ArrayError::invalid(format!(
                    "unknown ufunc '{}' (expected one of: {})",
                    name.escape_ascii(),
                    Ufunc::ALL.map(Ufunc::name).join(", ")
                ))
            })
    }
}

/// A Python scalar (NEP 50's "weak" operand): it takes the array's dtype where it fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeakScalar {
    Bool(bool),
    Int(i128),
    Float(f64),
    Complex(f64, f64),
}

impl WeakScalar {
    /// Parses `VALUES` text as Python would read the literal: an integer, or a float (with `.`,
    /// an exponent, `inf` or `nan`); `true`/`false` as bools.
    pub fn parse(text: &[u8]) -> ArrayResult<WeakScalar> {
        let s = std::str::from_utf8(text)
            .map_err(|_| ArrayError::value("the operand is not UTF-8 text"))?
            .trim();
        if s.eq_ignore_ascii_case("true") {
            return Ok(WeakScalar::Bool(true));
        }
        if s.eq_ignore_ascii_case("false") {
            return Ok(WeakScalar::Bool(false));
        }
        if let Ok(i) = s.parse::<i128>() {
            return Ok(WeakScalar::Int(i));
        }
        let refused = || ArrayError::value(format!("could not convert string to a number: '{s}'"));
        if let Some(body) = s.strip_suffix(['j', 'J']) {
            // Python's complex literal: `2j`, `1+2j`, `-1.5e3-0.5j`.
            let split = body
                .char_indices()
                .skip(1)
                .filter(|&(i, c)| {
                    matches!(c, '+' | '-')
                        && !matches!(
                            body.get(..i).and_then(|b| b.chars().last()),
                            Some('e' | 'E')
                        )
                })
                .map(|(i, _)| i)
                .last();
            let (re, im) = match split {
                Some(i) => (body.get(..i).unwrap_or(""), body.get(i..).unwrap_or("")),
                None => ("0", body),
            };
            let im = if matches!(im, "" | "+" | "-") {
                format!("{im}1")
            } else {
                im.to_string()
            };
            let (re, im) = (re.parse::<f64>(), im.parse::<f64>());
            return match (re, im) {
                (Ok(re), Ok(im)) => Ok(WeakScalar::Complex(re, im)),
                _ => Err(refused()),
            };
        }
        s.parse::<f64>()
            .map(WeakScalar::Float)
            .map_err(|_| refused())
    }
}

/// The second operand.
#[derive(Debug, Clone)]
pub enum Operand<'a> {
    Weak(WeakScalar),
    /// An array (C order) that broadcasts onto the selection.
    Array {
        dtype: DType,
        dims: &'a [u64],
        data: &'a [u8],
    },
}

/// NumPy's `np.promote_types` for two of our dtypes.
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    let (ka, kb) = (a.kind(), b.kind());
    match (ka, kb) {
        (Kind::Bool, _) => b,
        (_, Kind::Bool) => a,
        (Kind::Complex, _) | (_, Kind::Complex) => {
            let wide =
                |d: DType| matches!(d, Complex128 | Float64 | Int32 | Int64 | UInt32 | UInt64);
            if wide(a) || wide(b) {
                Complex128
            } else {
                Complex64
            }
        }
        (Kind::Float, Kind::Float) => {
            if matches!((a, b), (Float16, BFloat16) | (BFloat16, Float16)) {
                Float32
            } else if a.itemsize() >= b.itemsize() {
                a
            } else {
                b
            }
        }
        (Kind::Float, _) => promote_int_float(b, a),
        (_, Kind::Float) => promote_int_float(a, b),
        (Kind::Signed, Kind::Signed) | (Kind::Unsigned, Kind::Unsigned) => {
            if a.itemsize() >= b.itemsize() {
                a
            } else {
                b
            }
        }
        _ => {
            // One signed, one unsigned: the smallest signed type holding both, else float64.
            let (s, u) = if ka == Kind::Signed { (a, b) } else { (b, a) };
            if s.itemsize() > u.itemsize() {
                s
            } else {
                match u.itemsize() {
                    1 => Int16,
                    2 => Int32,
                    4 => Int64,
                    _ => Float64,
                }
            }
        }
    }
}

/// An integer dtype with a float dtype: the float, widened until it holds every value of the int
/// (int8 with float16 stays float16, int16 makes float32, int32 and int64 make float64).
fn promote_int_float(int: DType, float: DType) -> DType {
    let needed = match int.itemsize() {
        1 => DType::Float16,
        2 => DType::Float32,
        _ => DType::Float64,
    };
    match (float, needed) {
        (DType::BFloat16, DType::Float16) => DType::BFloat16,
        (f, n) if f.itemsize() >= n.itemsize() => f,
        (_, n) => n,
    }
}

/// The dtype `ufunc(target, operand)` computes in and returns (before the cast back).
fn computing_dtype(ufunc: Ufunc, target: DType, operand: &Operand) -> ArrayResult<DType> {
    let promoted = match operand {
        Operand::Array { dtype, .. } => promote(target, *dtype),
        Operand::Weak(WeakScalar::Bool(_)) => target,
        // True division runs in float64 whatever the int: the Python int is not range-checked.
        Operand::Weak(WeakScalar::Int(_))
            if ufunc == Ufunc::Divide
                && matches!(target.kind(), Kind::Bool | Kind::Signed | Kind::Unsigned) =>
        {
            DType::Float64
        }
        Operand::Weak(WeakScalar::Int(v)) => match target.kind() {
            Kind::Bool => DType::Int64,
            Kind::Signed | Kind::Unsigned => {
                let (lo, hi) = int_range(target);
                if *v < lo || *v > hi {
                    return Err(ArrayError::value(format!(
                        "Python integer {v} out of bounds for {}",
                        target.name()
                    )));
                }
                target
            }
            _ => target,
        },
        Operand::Weak(WeakScalar::Float(_)) => match target.kind() {
            Kind::Bool | Kind::Signed | Kind::Unsigned => DType::Float64,
            _ => target,
        },
        Operand::Weak(WeakScalar::Complex(..)) => match target {
            DType::Complex64 | DType::Complex128 => target,
            DType::Float32 | DType::Float16 | DType::BFloat16 => DType::Complex64,
            _ => DType::Complex128,
        },
    };
    Ok(match (ufunc, promoted.kind()) {
        (Ufunc::Divide, Kind::Bool | Kind::Signed | Kind::Unsigned) => DType::Float64,
        (Ufunc::Subtract, Kind::Bool) => {
            return Err(ArrayError::dtype(
                "numpy boolean subtract, the `-` operator, is not supported, use the bitwise_xor, \
                 the `^` operator, or the logical_xor function instead.",
            ))
        }
        _ => promoted,
    })
}

/// Checks NumPy's broadcasting of an operand of `dims` onto `target` (the output: it may not
/// grow) and returns the operand's element stride per target axis (0 where it repeats).
fn broadcast_strides(dims: &[u64], target: &[u64]) -> ArrayResult<Vec<u64>> {
    let shape = |d: &[u64]| {
        let parts: Vec<String> = d.iter().map(u64::to_string).collect();
        match parts.len() {
            1 => format!("({},)", parts.join("")),
            _ => format!("({})", parts.join(",")),
        }
    };
    let fits = dims.len() <= target.len()
        && dims
            .iter()
            .rev()
            .zip(target.iter().rev())
            .all(|(&o, &t)| o == 1 || o == t);
    if !fits {
        return Err(ArrayError::shape(format!(
            "non-broadcastable operand with shape {} doesn't match the output shape {}",
            shape(dims),
            shape(target)
        )));
    }
    let mut strides = vec![0u64; target.len()];
    let mut step = 1u64;
    for (stride, &o) in strides.iter_mut().rev().zip(dims.iter().rev()) {
        if o != 1 {
            *stride = step;
        }
        step = step.saturating_mul(o);
    }
    Ok(strides)
}

/// A value in the computing dtype (already rounded to it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Bool(bool),
    Int(i128),
    Float(f64),
    Complex(f64, f64),
}

/// Rounds a real to float dtype `d`, as NumPy's cast from float64 does.
fn round_float(d: DType, x: f64) -> f64 {
    match d {
        DType::Float16 => f64_to_f16(x).to_f64(),
        DType::BFloat16 => bf16::from_f32(x as f32).to_f64(),
        DType::Float32 => f64::from(x as f32),
        _ => x,
    }
}

/// Rounds an integer to float dtype `d` once (NumPy: straight to float32 and float64, through
/// float32 to the half types).
fn round_int(d: DType, v: i128) -> f64 {
    match d {
        DType::Float16 => f16::from_f32(v as f32).to_f64(),
        DType::BFloat16 => bf16::from_f32(v as f32).to_f64(),
        DType::Float32 => f64::from(v as f32),
        _ => v as f64,
    }
}

fn part_of(d: DType) -> DType {
    if d == DType::Complex64 {
        DType::Float32
    } else {
        DType::Float64
    }
}

/// `x` (an element or a weak scalar) in computing dtype `comp`.
fn to_comp(comp: DType, x: Scalar) -> Val {
    let real = |d: DType| match x {
        Scalar::Bool(b) => f64::from(u8::from(b)),
        Scalar::Int(i) => round_int(d, i128::from(i)),
        Scalar::UInt(u) => round_int(d, i128::from(u)),
        Scalar::Float(f) | Scalar::Complex(f, _) => round_float(d, f),
    };
    match comp.kind() {
        Kind::Bool => Val::Bool(match x {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::UInt(u) => u != 0,
            Scalar::Float(f) => f != 0.0,
            Scalar::Complex(r, i) => r != 0.0 || i != 0.0,
        }),
        Kind::Signed | Kind::Unsigned => Val::Int(match x {
            Scalar::Bool(b) => i128::from(b),
            Scalar::Int(i) => i128::from(i),
            Scalar::UInt(u) => i128::from(u),
            Scalar::Float(f) | Scalar::Complex(f, _) => f as i128,
        }),
        Kind::Float => Val::Float(real(comp)),
        Kind::Complex => {
            let part = part_of(comp);
            let im = match x {
                Scalar::Complex(_, i) => round_float(part, i),
                _ => 0.0,
            };
            Val::Complex(real(part), im)
        }
    }
}

fn weak_to_comp(comp: DType, w: WeakScalar) -> Val {
    match w {
        WeakScalar::Bool(b) => to_comp(comp, Scalar::Bool(b)),
        WeakScalar::Int(i) => match comp.kind() {
            Kind::Signed | Kind::Unsigned => Val::Int(i),
            Kind::Bool => Val::Bool(i != 0),
            Kind::Float => Val::Float(round_int(comp, i)),
            Kind::Complex => Val::Complex(round_int(part_of(comp), i), 0.0),
        },
        WeakScalar::Float(f) => to_comp(comp, Scalar::Float(f)),
        WeakScalar::Complex(r, i) => to_comp(comp, Scalar::Complex(r, i)),
    }
}

/// One real op in float dtype `comp`'s precision (float16 and bfloat16 through float32, rounded
/// back, as NumPy's half loops and ml_dtypes do).
fn real_op(ufunc: Ufunc, comp: DType, a: f64, b: f64) -> f64 {
    let pick = |take_a: bool| if take_a { a } else { b };
    // NaN propagates, the first one winning. Between equal values (+0.0 and -0.0) NumPy's half
    // loop keeps the first operand (`in1 <= in2 ? in1 : in2`) and its float32/float64 SIMD loops
    // (and ml_dtypes' bfloat16) the second.
    let first_on_tie = comp == DType::Float16;
    match ufunc {
        Ufunc::Minimum if a.is_nan() || b.is_nan() => return pick(a.is_nan()),
        Ufunc::Maximum if a.is_nan() || b.is_nan() => return pick(a.is_nan()),
        Ufunc::Minimum => return pick(a < b || (first_on_tie && a == b)),
        Ufunc::Maximum => return pick(a > b || (first_on_tie && a == b)),
        _ => {}
    }
    match comp {
        DType::Float64 => arith64(ufunc, a, b),
        _ => {
            let r = arith32(ufunc, a as f32, b as f32);
            match comp {
                DType::Float16 => f16::from_f32(r).to_f64(),
                DType::BFloat16 => bf16::from_f32(r).to_f64(),
                _ => f64::from(r),
            }
        }
    }
}

macro_rules! arith {
    ($name:ident, $t:ty) => {
        fn $name(ufunc: Ufunc, a: $t, b: $t) -> $t {
            match ufunc {
                Ufunc::Add => a + b,
                Ufunc::Subtract => a - b,
                Ufunc::Multiply => a * b,
                Ufunc::Divide => a / b,
                Ufunc::Minimum => {
                    if a <= b || a.is_nan() {
                        a
                    } else {
                        b
                    }
                }
                Ufunc::Maximum => {
                    if a >= b || a.is_nan() {
                        a
                    } else {
                        b
                    }
                }
            }
        }
    };
}
arith!(arith64, f64);
arith!(arith32, f32);

/// `a * b + c` (or `- c` when `subtract`) rounded once, as NumPy's complex product computes it
/// (x86 FMA): a NaN operand comes out as it went in, the first of `a`, `b`, `c` (the unnegated
/// `c`); only `inf * 0` makes a new NaN. (`mul_add` may be a software fma that makes new NaNs.)
trait Fused: Copy {
    fn fused(self, b: Self, c: Self, subtract: bool) -> Self;
}

macro_rules! fused {
    ($t:ty) => {
        impl Fused for $t {
            fn fused(self, b: $t, c: $t, subtract: bool) -> $t {
                match (self.is_nan(), b.is_nan(), c.is_nan()) {
                    (true, _, _) => self,
                    (false, true, _) => b,
                    (false, false, true) => c,
                    _ => self.mul_add(b, if subtract { -c } else { c }),
                }
            }
        }
    };
}
fused!(f32);
fused!(f64);

macro_rules! complex_op {
    ($name:ident, $t:ty) => {
        /// NumPy's complex loops: the textbook product, Smith's quotient, lexicographic
        /// minimum/maximum with NaN propagating.
        fn $name(ufunc: Ufunc, (ar, ai): ($t, $t), (br, bi): ($t, $t)) -> ($t, $t) {
            let nan_a = ar.is_nan() || ai.is_nan();
            match ufunc {
                Ufunc::Add => (ar + br, ai + bi),
                Ufunc::Subtract => (ar - br, ai - bi),
                // As NumPy's loops compute it (fused: `fma(ar, br, -(ai * bi))`).
                Ufunc::Multiply => (ar.fused(br, ai * bi, true), ar.fused(bi, ai * br, false)),
                Ufunc::Divide => {
                    let (abs_r, abs_i) = (br.abs(), bi.abs());
                    if abs_r >= abs_i {
                        if abs_r == 0.0 && abs_i == 0.0 {
                            (ar / abs_r, ai / abs_r)
                        } else {
                            let rat = bi / br;
                            let scl = 1.0 / (br + bi * rat);
                            ((ar + ai * rat) * scl, (ai - ar * rat) * scl)
                        }
                    } else {
                        let rat = br / bi;
                        let scl = 1.0 / (bi + br * rat);
                        ((ar * rat + ai) * scl, (ai * rat - ar) * scl)
                    }
                }
                // NumPy's CLE / CGE: a NaN imaginary part makes the real order void.
                Ufunc::Minimum => {
                    let le = (ar < br && !ai.is_nan() && !bi.is_nan()) || (ar == br && ai <= bi);
                    if nan_a || le {
                        (ar, ai)
                    } else {
                        (br, bi)
                    }
                }
                Ufunc::Maximum => {
                    let ge = (ar > br && !ai.is_nan() && !bi.is_nan()) || (ar == br && ai >= bi);
                    if nan_a || ge {
                        (ar, ai)
                    } else {
                        (br, bi)
                    }
                }
            }
        }
    };
}
complex_op!(complex64_op, f64);
complex_op!(complex32_op, f32);

fn compute(ufunc: Ufunc, comp: DType, a: Val, b: Val) -> Val {
    match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => Val::Bool(match ufunc {
            Ufunc::Add | Ufunc::Maximum => x || y,
            _ => x && y,
        }),
        (Val::Int(x), Val::Int(y)) => Val::Int(match ufunc {
            Ufunc::Add => x.wrapping_add(y),
            Ufunc::Subtract => x.wrapping_sub(y),
            Ufunc::Multiply => x.wrapping_mul(y),
            Ufunc::Minimum => x.min(y),
            // Divide never computes in ints (true division makes float64).
            Ufunc::Maximum | Ufunc::Divide => x.max(y),
        }),
        (Val::Float(x), Val::Float(y)) => Val::Float(real_op(ufunc, comp, x, y)),
        (Val::Complex(ar, ai), Val::Complex(br, bi)) => {
            let (r, i) = if comp == DType::Complex64 {
                let (r, i) = complex32_op(ufunc, (ar as f32, ai as f32), (br as f32, bi as f32));
                (f64::from(r), f64::from(i))
            } else {
                complex64_op(ufunc, (ar, ai), (br, bi))
            };
            Val::Complex(r, i)
        }
        _ => a,
    }
}

/// Writes `v` (in the computing dtype) as `target`: ints wrap, floats round, as NumPy's cast.
fn write_val(target: DType, v: Val, out: &mut Vec<u8>) {
    match (v, target.kind()) {
        (Val::Bool(b), _) => out.push(u8::from(b)),
        (Val::Int(i), Kind::Float) => write_float(target, i as f64, out),
        (Val::Int(i), _) => write_int(target, i, out),
        (Val::Float(f), Kind::Complex) => {
            write_float(part_of(target), f, out);
            write_float(part_of(target), 0.0, out);
        }
        (Val::Float(f), _) => write_float(target, f, out),
        (Val::Complex(r, i), _) => {
            write_float(part_of(target), r, out);
            write_float(part_of(target), i, out);
        }
    }
}

/// `ufunc(current, operand)` cast back to `target`: the new bytes of the `dims`-shaped selection
/// whose current bytes (C order) are `current`. Nothing is written on error.
pub fn apply(
    ufunc: Ufunc,
    target: DType,
    dims: &[u64],
    current: &[u8],
    operand: &Operand,
) -> ArrayResult<Vec<u8>> {
    let comp = computing_dtype(ufunc, target, operand)?;
    if !can_cast_same_kind(comp, target) {
        return Err(ArrayError::dtype(format!(
            "Cannot cast ufunc '{}' output from {} to {} with casting rule 'same_kind'",
            ufunc.name(),
            numpy_repr(comp),
            numpy_repr(target)
        )));
    }
    let itemsize = target.itemsize();
    let mut out = Vec::with_capacity(current.len());
    match operand {
        Operand::Weak(w) => {
            let b = weak_to_comp(comp, *w);
            for item in current.chunks_exact(itemsize) {
                let a = to_comp(comp, scalar_at(target, item));
                write_val(target, compute(ufunc, comp, a, b), &mut out);
            }
        }
        Operand::Array {
            dtype,
            dims: odims,
            data,
        } => {
            let strides = broadcast_strides(odims, dims)?;
            let osize = dtype.itemsize();
            let needed = odims
                .iter()
                .try_fold(osize as u64, |n, d| n.checked_mul(*d))
                .ok_or_else(|| ArrayError::TooLarge("operand too large".into()))?;
            if data.len() as u64 != needed {
                return Err(ArrayError::shape(format!(
                    "the operand is {} bytes, its shape needs {needed}",
                    data.len()
                )));
            }
            let mut coords = vec![0u64; dims.len()];
            for item in current.chunks_exact(itemsize) {
                let at: u64 = coords.iter().zip(&strides).map(|(c, s)| c * s).sum();
                let from = at as usize * osize;
                let b_bytes = data.get(from..from + osize).unwrap_or_default();
                let a = to_comp(comp, scalar_at(target, item));
                let b = to_comp(comp, scalar_at(*dtype, b_bytes));
                write_val(target, compute(ufunc, comp, a, b), &mut out);
                // Advance the odometer over the target's dims.
                for (c, &d) in coords.iter_mut().zip(dims).rev() {
                    *c += 1;
                    if *c < d {
                        break;
                    }
                    *c = 0;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn python_literals_parse_as_python_reads_them() {
        assert_eq!(WeakScalar::parse(b"3"), Ok(WeakScalar::Int(3)));
        assert_eq!(WeakScalar::parse(b"3.0"), Ok(WeakScalar::Float(3.0)));
        assert_eq!(WeakScalar::parse(b"1e3"), Ok(WeakScalar::Float(1000.0)));
        assert_eq!(
            WeakScalar::parse(b"1+2j"),
            Ok(WeakScalar::Complex(1.0, 2.0))
        );
        assert_eq!(
            WeakScalar::parse(b"-2.5j"),
            Ok(WeakScalar::Complex(0.0, -2.5))
        );
        assert_eq!(
            WeakScalar::parse(b"1e-3-1e+2j"),
            Ok(WeakScalar::Complex(1e-3, -100.0))
        );
        assert_eq!(WeakScalar::parse(b"j"), Ok(WeakScalar::Complex(0.0, 1.0)));
        assert!(WeakScalar::parse(b"x").is_err());
        assert!(WeakScalar::parse(b"1+xj").is_err());
    }

    #[test]
    fn promotion_matches_numpy() {
        use DType::*;
        assert_eq!(promote(Int8, UInt8), Int16);
        assert_eq!(promote(Int64, UInt64), Float64);
        assert_eq!(promote(Int16, Float16), Float32);
        assert_eq!(promote(UInt8, Float16), Float16);
        assert_eq!(promote(BFloat16, Float16), Float32);
        assert_eq!(promote(BFloat16, Int8), BFloat16);
        assert_eq!(promote(BFloat16, Int64), Float64);
        assert_eq!(promote(Float32, Complex64), Complex64);
        assert_eq!(promote(Float64, Complex64), Complex128);
        assert_eq!(promote(Int32, Complex64), Complex128);
        assert_eq!(promote(Bool, Int8), Int8);
    }

    #[test]
    fn a_weak_float_rounds_to_the_arrays_dtype_first() {
        let cur = f32s(&[1.0, 2.0]);
        let got = apply(
            Ufunc::Add,
            DType::Float32,
            &[2],
            &cur,
            &Operand::Weak(WeakScalar::Float(0.1)),
        )
        .unwrap();
        assert_eq!(got, f32s(&[1.0 + 0.1f32, 2.0 + 0.1f32]));
    }

    #[test]
    fn numpy_refuses_what_same_kind_refuses() {
        let cur = 5i32.to_le_bytes();
        let e = apply(
            Ufunc::Add,
            DType::Int32,
            &[],
            &cur,
            &Operand::Weak(WeakScalar::Float(1.5)),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "Cannot cast ufunc 'add' output from dtype('float64') to dtype('int32') with casting rule 'same_kind'");
        let e = apply(
            Ufunc::Add,
            DType::Int8,
            &[],
            &[1],
            &Operand::Weak(WeakScalar::Int(300)),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "Python integer 300 out of bounds for int8");
        assert!(apply(
            Ufunc::Divide,
            DType::Int64,
            &[],
            &[0; 8],
            &Operand::Weak(WeakScalar::Int(2))
        )
        .is_err());
        assert!(apply(
            Ufunc::Subtract,
            DType::Bool,
            &[],
            &[1],
            &Operand::Weak(WeakScalar::Bool(true))
        )
        .is_err());
    }

    #[test]
    fn arrays_broadcast_by_numpys_rule() {
        let cur = f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let row = f32s(&[10.0, 20.0, 30.0]);
        let op = Operand::Array {
            dtype: DType::Float32,
            dims: &[3],
            data: &row,
        };
        let got = apply(Ufunc::Add, DType::Float32, &[2, 3], &cur, &op).unwrap();
        assert_eq!(got, f32s(&[11.0, 22.0, 33.0, 14.0, 25.0, 36.0]));
        let col = f32s(&[1.0, 2.0]);
        let op = Operand::Array {
            dtype: DType::Float32,
            dims: &[2, 1],
            data: &col,
        };
        let got = apply(Ufunc::Multiply, DType::Float32, &[2, 3], &cur, &op).unwrap();
        assert_eq!(got, f32s(&[1.0, 2.0, 3.0, 8.0, 10.0, 12.0]));
        let bad = Operand::Array {
            dtype: DType::Float32,
            dims: &[2],
            data: &col,
        };
        assert!(apply(Ufunc::Add, DType::Float32, &[2, 3], &cur, &bad).is_err());
        let grows = Operand::Array {
            dtype: DType::Float32,
            dims: &[2, 3],
            data: &cur,
        };
        assert!(apply(Ufunc::Add, DType::Float32, &[3], &row, &grows).is_err());
    }

    #[test]
    fn ints_wrap_and_nan_propagates_in_minimum() {
        let got = apply(
            Ufunc::Add,
            DType::Int8,
            &[1],
            &[120],
            &Operand::Weak(WeakScalar::Int(10)),
        )
        .unwrap();
        assert_eq!(got, [(-126i8) as u8]);
        let cur = f32s(&[1.0, f32::NAN]);
        let got = apply(
            Ufunc::Minimum,
            DType::Float32,
            &[2],
            &cur,
            &Operand::Weak(WeakScalar::Float(f64::NAN)),
        )
        .unwrap();
        assert!(got
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes(c.try_into().unwrap()).is_nan()));
    }
}
