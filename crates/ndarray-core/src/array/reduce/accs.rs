//! The running state of a reduction's results, one vector per kind of op (a sum keeps 8 bytes per
//! result, not the largest state of any op), fed runs of elements and merged piece by piece.

use super::number::{pairwise, Number, C64};
use super::ReduceOp;
use crate::array::dtype::{DType, Kind};
use crate::array::values::write_int;

/// var, std: count, mean and sum of squared deviations (Chan et al.'s parallel form).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Moments {
    n: u64,
    mean: C64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: C64) {
        self.n += 1;
        let (dr, di) = (x.re - self.mean.re, x.im - self.mean.im);
        self.mean.re += dr / self.n as f64;
        self.mean.im += di / self.n as f64;
        self.m2 += dr * (x.re - self.mean.re) + di * (x.im - self.mean.im);
    }

    /// A run's own moments, two-pass (its mean, then the squared deviations, pairwise).
    fn of_run<V: Number>(run: &[V]) -> Moments {
        let n = run.len() as u64;
        if n == 0 {
            return Moments::default();
        }
        let sum = V::sum_run(run).to_c64();
        let mean = C64 {
            re: sum.re / n as f64,
            im: sum.im / n as f64,
        };
        let squares: Vec<f64> = run
            .iter()
            .map(|x| {
                let x = x.to_c64();
                let (dr, di) = (x.re - mean.re, x.im - mean.im);
                dr * dr + di * di
            })
            .collect();
        Moments {
            n,
            mean,
            m2: pairwise(&squares),
        }
    }

    fn merge(&mut self, later: Moments) {
        if later.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = later;
            return;
        }
        let total = self.n + later.n;
        let (dr, di) = (later.mean.re - self.mean.re, later.mean.im - self.mean.im);
        let weight = later.n as f64 / total as f64;
        self.m2 += later.m2 + (dr * dr + di * di) * (self.n as f64) * weight;
        self.mean.re += dr * weight;
        self.mean.im += di * weight;
        self.n = total;
    }

    fn variance(self) -> f64 {
        self.m2 / self.n as f64
    }
}

/// Whether `x` replaces `best` for min (`want_less`) or max: NumPy's NaN-propagating rule, the
/// first NaN winning.
fn better<V: Number>(x: V, best: V, want_less: bool) -> bool {
    if best.is_nan() {
        return false;
    }
    if x.is_nan() {
        return true;
    }
    if want_less {
        x.less(best)
    } else {
        best.less(x)
    }
}

/// The smallest (`want_less`) or largest element of a run, the first NaN if there is one: a pass
/// that looks for NaNs, then eight independent running bests (one chain of comparisons waits on
/// each result; eight overlap and vectorise), combined at the end.
fn extreme_of<V: Number>(run: &[V], want_less: bool) -> Option<V> {
    let &first = run.first()?;
    if let Some(&nan) = run.iter().find(|x| x.is_nan()) {
        return Some(nan);
    }
    let pick = |best: V, x: V| {
        let replaces = if want_less {
            x.less(best)
        } else {
            best.less(x)
        };
        if replaces {
            x
        } else {
            best
        }
    };
    let mut lanes = [first; 8];
    let mut chunks = run.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = pick(*lane, x);
        }
    }
    let best = chunks.remainder().iter().fold(first, |b, &x| pick(b, x));
    Some(lanes.into_iter().fold(best, pick))
}

/// The smallest (`want_less`) or largest element of a run and its position: the first NaN if
/// there is one, else the first of the extreme values.
fn best_of<V: Number>(run: &[V], want_less: bool) -> Option<(V, usize)> {
    let (&first, rest) = run.split_first()?;
    let mut best = (first, 0);
    if first.is_nan() {
        return Some(best);
    }
    for (k, &x) in rest.iter().enumerate() {
        if x.is_nan() {
            return Some((x, k + 1));
        }
        let replaces = if want_less {
            x.less(best.0)
        } else {
            best.0.less(x)
        };
        if replaces {
            best = (x, k + 1);
        }
    }
    Some(best)
}

/// Folds an extreme `x` into `best` (none: nothing seen yet).
fn fold_extreme<V: Number>(best: &mut Option<V>, x: V, want_less: bool) {
    match best {
        Some(b) if !better(x, *b, want_less) => {}
        _ => *best = Some(x),
    }
}

/// Folds `(x, index)` into the best so far of an argmin / argmax.
fn fold_arg<V: Number>(best: &mut Option<(V, i64)>, x: V, index: i64, want_less: bool) {
    match best {
        Some((b, _)) if !better(x, *b, want_less) => {}
        _ => *best = Some((x, index)),
    }
}

/// The running state of a range of results.
#[derive(Debug, Clone)]
pub(super) enum Accs<V: Number> {
    /// sum, mean: the running sums.
    Total(Vec<V>),
    /// prod: the running products, none before the first element (multiplying by a 1 would turn a
    /// complex infinity's NaN part into NaN everywhere).
    Product(Vec<Option<V>>),
    Moments(Vec<Moments>),
    /// min, max: none before the first element.
    Extreme(Vec<Option<V>>),
    /// argmin, argmax: the best value and its index.
    Arg(Vec<Option<(V, i64)>>),
    Count(Vec<i64>),
    /// any, all.
    Truth(Vec<bool>),
}

impl<V: Number> Accs<V> {
    /// `len` results, nothing fed yet.
    pub(super) fn new(op: ReduceOp, len: usize) -> Self {
        match op {
            ReduceOp::Sum | ReduceOp::Mean => Accs::Total(vec![V::zero(); len]),
            ReduceOp::Prod => Accs::Product(vec![None; len]),
            ReduceOp::Var | ReduceOp::Std => Accs::Moments(vec![Moments::default(); len]),
            ReduceOp::Min | ReduceOp::Max => Accs::Extreme(vec![None; len]),
            ReduceOp::ArgMin | ReduceOp::ArgMax => Accs::Arg(vec![None; len]),
            ReduceOp::CountNonzero => Accs::Count(vec![0; len]),
            ReduceOp::Any => Accs::Truth(vec![false; len]),
            ReduceOp::All => Accs::Truth(vec![true; len]),
        }
    }

    /// Bytes of state per result for `op` (what the reduction's limit counts).
    pub(super) fn bytes_per_result(op: ReduceOp) -> usize {
        match op {
            ReduceOp::Sum | ReduceOp::Mean => std::mem::size_of::<V>(),
            ReduceOp::Prod | ReduceOp::Min | ReduceOp::Max => std::mem::size_of::<Option<V>>(),
            ReduceOp::Var | ReduceOp::Std => std::mem::size_of::<Moments>(),
            ReduceOp::ArgMin | ReduceOp::ArgMax => std::mem::size_of::<Option<(V, i64)>>(),
            ReduceOp::CountNonzero => std::mem::size_of::<i64>(),
            ReduceOp::Any | ReduceOp::All => std::mem::size_of::<bool>(),
        }
    }

    /// Feeds `run` into result `at`; the elements' indices (argmin, argmax) count up from
    /// `first_index`.
    pub(super) fn feed_run(&mut self, op: ReduceOp, at: usize, run: &[V], first_index: i64) {
        let want_less = matches!(op, ReduceOp::Min | ReduceOp::ArgMin);
        match self {
            Accs::Total(t) => {
                if let Some(t) = t.get_mut(at) {
                    *t = t.add(V::sum_run(run));
                }
            }
            Accs::Product(p) => {
                if let Some(p) = p.get_mut(at) {
                    for &x in run {
                        *p = Some(p.map_or(x, |p| p.mul(x)));
                    }
                }
            }
            Accs::Moments(m) => {
                if let Some(m) = m.get_mut(at) {
                    m.merge(Moments::of_run(run));
                }
            }
            Accs::Extreme(e) => {
                if let (Some(e), Some(x)) = (e.get_mut(at), extreme_of(run, want_less)) {
                    fold_extreme(e, x, want_less);
                }
            }
            Accs::Arg(a) => {
                if let (Some(a), Some((x, k))) = (a.get_mut(at), best_of(run, want_less)) {
                    fold_arg(a, x, first_index + k as i64, want_less);
                }
            }
            Accs::Count(c) => {
                if let Some(c) = c.get_mut(at) {
                    *c += run.iter().filter(|x| x.is_nonzero()).count() as i64;
                }
            }
            Accs::Truth(t) => {
                if let Some(t) = t.get_mut(at) {
                    *t = if op == ReduceOp::Any {
                        *t || run.iter().any(|x| x.is_nonzero())
                    } else {
                        *t && run.iter().all(|x| x.is_nonzero())
                    };
                }
            }
        }
    }

    /// Feeds `run[k]` into result `at + k`, every element with index `index` (a row whose
    /// elements go to consecutive results): one tight loop per kind.
    pub(super) fn feed_each(&mut self, op: ReduceOp, at: usize, run: &[V], index: i64) {
        let want_less = matches!(op, ReduceOp::Min | ReduceOp::ArgMin);
        match self {
            Accs::Total(t) => {
                for (t, &x) in tail(t, at).iter_mut().zip(run) {
                    *t = t.add(x);
                }
            }
            Accs::Product(p) => {
                for (p, &x) in tail(p, at).iter_mut().zip(run) {
                    *p = Some(p.map_or(x, |p| p.mul(x)));
                }
            }
            Accs::Moments(m) => {
                for (m, &x) in tail(m, at).iter_mut().zip(run) {
                    m.push(x.to_c64());
                }
            }
            Accs::Extreme(e) => {
                for (e, &x) in tail(e, at).iter_mut().zip(run) {
                    fold_extreme(e, x, want_less);
                }
            }
            Accs::Arg(a) => {
                for (a, &x) in tail(a, at).iter_mut().zip(run) {
                    fold_arg(a, x, index, want_less);
                }
            }
            Accs::Count(c) => {
                for (c, &x) in tail(c, at).iter_mut().zip(run) {
                    *c += i64::from(x.is_nonzero());
                }
            }
            Accs::Truth(t) => {
                let any = op == ReduceOp::Any;
                for (t, &x) in tail(t, at).iter_mut().zip(run) {
                    *t = if any {
                        *t || x.is_nonzero()
                    } else {
                        *t && x.is_nonzero()
                    };
                }
            }
        }
    }

    /// Folds `later` (results `first…`, from elements after this state's) into this state.
    pub(super) fn merge(&mut self, op: ReduceOp, first: usize, later: Accs<V>) {
        let want_less = matches!(op, ReduceOp::Min | ReduceOp::ArgMin);
        match (self, later) {
            (Accs::Total(t), Accs::Total(u)) => {
                for (t, u) in tail(t, first).iter_mut().zip(u) {
                    *t = t.add(u);
                }
            }
            (Accs::Product(p), Accs::Product(q)) => {
                for (p, q) in tail(p, first).iter_mut().zip(q) {
                    if let Some(q) = q {
                        *p = Some(p.map_or(q, |p| p.mul(q)));
                    }
                }
            }
            (Accs::Moments(m), Accs::Moments(n)) => {
                for (m, n) in tail(m, first).iter_mut().zip(n) {
                    m.merge(n);
                }
            }
            (Accs::Extreme(e), Accs::Extreme(f)) => {
                for (e, f) in tail(e, first).iter_mut().zip(f) {
                    if let Some(x) = f {
                        fold_extreme(e, x, want_less);
                    }
                }
            }
            (Accs::Arg(a), Accs::Arg(b)) => {
                for (a, b) in tail(a, first).iter_mut().zip(b) {
                    if let Some((x, i)) = b {
                        fold_arg(a, x, i, want_less);
                    }
                }
            }
            (Accs::Count(c), Accs::Count(d)) => {
                for (c, d) in tail(c, first).iter_mut().zip(d) {
                    *c += d;
                }
            }
            (Accs::Truth(t), Accs::Truth(u)) => {
                let any = op == ReduceOp::Any;
                for (t, u) in tail(t, first).iter_mut().zip(u) {
                    *t = if any { *t || u } else { *t && u };
                }
            }
            _ => {}
        }
    }

    /// Writes every result as `dtype`; `count` elements were reduced into each.
    pub(super) fn finish(self, op: ReduceOp, dtype: DType, count: u64, out: &mut Vec<u8>) {
        match self {
            Accs::Total(t) if op == ReduceOp::Mean => {
                for t in t {
                    mean_of(t.to_c64(), count, dtype).write(dtype, out);
                }
            }
            Accs::Total(t) => t.into_iter().for_each(|t| t.write(dtype, out)),
            Accs::Product(p) => p
                .into_iter()
                .for_each(|p| p.unwrap_or_else(V::one).write(dtype, out)),
            Accs::Moments(m) => {
                for m in m {
                    let var = m.variance();
                    let v = if op == ReduceOp::Std { var.sqrt() } else { var };
                    v.write(dtype, out);
                }
            }
            Accs::Extreme(e) => e
                .into_iter()
                .for_each(|e| e.unwrap_or_default().write(dtype, out)),
            Accs::Arg(a) => a.into_iter().for_each(|a| {
                write_int(dtype, i128::from(a.map_or(0, |(_, i)| i)), out);
            }),
            Accs::Count(c) => c
                .into_iter()
                .for_each(|c| write_int(dtype, i128::from(c), out)),
            Accs::Truth(t) => out.extend(t.into_iter().map(u8::from)),
        }
    }
}

/// `sum / count` as NumPy's mean divides: a complex sum as a complex quotient (Smith's, by
/// `count + 0j`, which spreads a NaN or infinite part to both), a real one by plain division.
fn mean_of(sum: C64, count: u64, dtype: DType) -> C64 {
    let n = count as f64;
    if n == 0.0 || dtype.kind() != Kind::Complex {
        return C64 {
            re: sum.re / n,
            im: sum.im / n,
        };
    }
    let scale = 1.0 / n;
    C64 {
        re: (sum.re + sum.im * 0.0) * scale,
        im: (sum.im - sum.re * 0.0) * scale,
    }
}

/// `v[at..]`, empty past the end.
fn tail<T>(v: &mut [T], at: usize) -> &mut [T] {
    v.get_mut(at..).unwrap_or_default()
}
