//! Requantization: int32 accumulator → int8 with a fixed-point multiplier, one rounding step
//! (ties to even), zero point and saturation. See docs/QUANTIZATION.md.

/// How a requantization rounds exact ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Ties to even: the contract (it matches ONNX Runtime; see docs/QUANTIZATION.md).
    #[default]
    HalfToEven,
    /// Ties away from zero (TFLite's and CMSIS-NN's rule), kept to measure the choice.
    HalfAwayFromZero,
}

/// A per-channel requantization: real multiplier `m · 2^-n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    /// Normalized mantissa, `2^30 <= m < 2^31`.
    pub m: i32,
    /// Right shift, `1 <= n <= 62`.
    pub n: u32,
}

/// Smallest valid mantissa.
pub const M_MIN: i32 = 1 << 30;
/// Smallest valid shift.
pub const N_MIN: u32 = 1;
/// Largest valid shift.
pub const N_MAX: u32 = 62;

impl Requant {
    /// Checks the documented ranges.
    pub const fn is_valid(self) -> bool {
        self.m >= M_MIN && self.n >= N_MIN && self.n <= N_MAX
    }

    /// `round_half_even(acc · m / 2^n)`, saturated to the i32 range.
    ///
    /// `|acc · m| < 2^62`, so the product is exact in i64.
    #[inline(always)]
    pub fn scale(self, acc: i32) -> i32 {
        self.scale_with(acc, Rounding::HalfToEven)
    }

    /// `acc · m / 2^n` rounded to the nearest integer, ties by `rounding`, saturated to i32.
    ///
    /// 64-bit targets always take the 64-bit path (a handful of branch-free instructions);
    /// 32-bit cores take the 32-bit-pieces path for `n ≥ 32`. Both are exact, and tested
    /// against an i128 reference.
    #[inline(always)]
    pub fn scale_with(self, acc: i32, rounding: Rounding) -> i32 {
        if cfg!(target_pointer_width = "64") || self.n < 32 {
            self.scale_wide(acc, rounding)
        } else {
            self.scale_hi(acc, rounding)
        }
    }

    /// The usual case `n ≥ 32` (multiplier below 1/2) in 32-bit pieces: with
    /// `v = acc · m = hi · 2^32 + lo` and `s = n − 32`, the floor is `hi >> s` and the
    /// remainder is `(hi mod 2^s) · 2^32 + lo`, compared with `2^(n−1)` word by word.
    /// No 64-bit shift, which a 32-bit core would expand into a dozen instructions.
    #[inline(always)]
    pub(crate) fn scale_hi(self, acc: i32, rounding: Rounding) -> i32 {
        let v = acc as i64 * self.m as i64;
        let (hi, lo) = ((v >> 32) as i32, v as u32);
        let s = self.n - 32; // 0..=30
        let q = hi >> s; // |hi| < 2^30, so q fits and q + 1 cannot overflow
        let tie_up = match rounding {
            Rounding::HalfToEven => q & 1 == 1,
            Rounding::HalfAwayFromZero => hi >= 0,
        };
        let up = if s == 0 {
            // Remainder lo, half 2^31.
            lo > 1 << 31 || (lo == 1 << 31 && tie_up)
        } else {
            // Remainder (rh, lo), half (2^(s−1), 0).
            let rh = (hi as u32) & ((1u32 << s) - 1);
            let hh = 1u32 << (s - 1);
            rh > hh || (rh == hh && (lo > 0 || tie_up))
        };
        q + up as i32
    }

    /// Any `n` in 64-bit arithmetic.
    #[inline(always)]
    pub(crate) fn scale_wide(self, acc: i32, rounding: Rounding) -> i32 {
        self.scale_wide_i64(acc, rounding).clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    /// [`Requant::scale_wide`] before saturation (|result| < 2^61).
    #[inline(always)]
    fn scale_wide_i64(self, acc: i32, rounding: Rounding) -> i64 {
        let v = acc as i64 * self.m as i64;
        let half = 1i64 << (self.n - 1);
        // floor((v + bias) / 2^n) with bias = half − 1 + (1 if ties go up). For ties to even
        // that is the parity of the truncated quotient: v = q·2^n + r rounds up iff
        // r + half − 1 + (q & 1) ≥ 2^n, i.e. r > half, or r = half and q is odd. No overflow:
        // |v| < 2^62 and half ≤ 2^61.
        let tie_up = match rounding {
            Rounding::HalfToEven => (v >> self.n) & 1,
            // Ties of non-negative values go up, ties of negative values down.
            Rounding::HalfAwayFromZero => (v >= 0) as i64,
        };
        (v + (half - 1) + tie_up) >> self.n
    }

    /// Requantizes to int8: `clamp(zp + scale(acc), lo, 127)`.
    #[inline(always)]
    pub fn apply(self, acc: i32, zp: i8, lo: i8) -> i8 {
        self.apply_with(acc, zp, lo, Rounding::HalfToEven)
    }

    /// [`Requant::apply`] with a chosen tie rule.
    #[inline(always)]
    pub fn apply_with(self, acc: i32, zp: i8, lo: i8, rounding: Rounding) -> i8 {
        if cfg!(target_pointer_width = "64") {
            // In i64 the sum cannot overflow, so one clamp does what saturating to i32, adding
            // the zero point and clamping to [lo, 127] do.
            (self.scale_wide_i64(acc, rounding) + zp as i64).clamp(lo as i64, 127) as i8
        } else {
            let y = self.scale_with(acc, rounding).saturating_add(zp as i32);
            y.clamp(lo as i32, 127) as i8
        }
    }
}

/// The per-channel constants of up to [`ROW`] output channels, unpacked once per kernel call
/// so that requantizing a row of accumulators needs no decoding and, on 64-bit targets, no
/// branch: LLVM vectorizes [`RequantRow::apply`] across channels (1,280 bytes there; on
/// 32-bit targets, which requantize channel by channel, 576 bytes of stack).
#[derive(Debug, Clone)]
pub struct RequantRow {
    m: [RowM; ROW],
    n: [RowN; ROW],
    bias: [i32; ROW],
    len: usize,
}

/// How a [`RequantRow`] stores `m` and `n`: as 64-bit lanes where the row is vectorized, as
/// they are (`n ≤ 62` fits a byte) on 32-bit targets.
#[cfg(target_pointer_width = "64")]
type RowM = i64;
#[cfg(target_pointer_width = "64")]
type RowN = u64;
#[cfg(not(target_pointer_width = "64"))]
type RowM = i32;
#[cfg(not(target_pointer_width = "64"))]
type RowN = u8;

#[cfg(target_pointer_width = "64")]
fn row_n(n: u32) -> RowN {
    RowN::from(n)
}
#[cfg(not(target_pointer_width = "64"))]
fn row_n(n: u32) -> RowN {
    RowN::try_from(n).unwrap_or(RowN::MAX)
}

/// Channels in a [`RequantRow`].
pub const ROW: usize = 64;

impl RequantRow {
    /// An empty row.
    pub const fn new() -> Self {
        Self { m: [0; ROW], n: [1; ROW], bias: [0; ROW], len: 0 }
    }

    /// Fills the row from per-channel `(requant, bias)` pairs (at most [`ROW`]).
    pub fn load(&mut self, channels: impl Iterator<Item = (Requant, i32)>) {
        self.len = 0;
        for (i, (rq, b)) in channels.take(ROW).enumerate() {
            self.m[i] = RowM::from(rq.m);
            // (n ≤ 62 in every pair `Model::parse` accepts; larger ones saturate, and any n over
            // 62 is outside the contract alike.)
            self.n[i] = row_n(rq.n);
            self.bias[i] = b;
            self.len = i + 1;
        }
    }

    /// Channels loaded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no channel is loaded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `out[j] = clamp(zp + round((acc[j] + bias[j]) · m[j] / 2^n[j]), lo, 127)` for the loaded
    /// channels: exactly [`Requant::apply_with`] per channel.
    ///
    /// On 64-bit targets, per lane and without branches: `v = (acc + bias) · m` (|v| < 2^62,
    /// which `Model::parse` guarantees), `u = v + 2^62 ≥ 0`, and since 2^n divides 2^62,
    /// `⌊(v + t)/2^n⌋ = ⌊(u + t)/2^n⌋ − 2^(62−n)` for any `t ≥ 0` with logical shifts only:
    /// `q = ((u + 2^(n−1) − 1 + tie) >> n) − 2^(62−n)`, where `tie` is the parity of `⌊v/2^n⌋`
    /// (ties to even) or `v ≥ 0` (ties away from zero). No overflow: `u + 2^61 < 2^64`.
    #[inline(always)]
    pub fn apply(&self, acc: &[i32], zp: i8, lo: i8, rounding: Rounding, out: &mut [u8]) {
        let n = self.len.min(acc.len()).min(out.len());
        #[cfg(target_pointer_width = "64")]
        {
            let even = rounding == Rounding::HalfToEven;
            let lanes = out[..n].iter_mut().zip(&acc[..n]).zip(&self.m[..n]).zip(&self.n[..n]).zip(&self.bias[..n]);
            for ((((d, &a), &m), &sh), &b) in lanes {
                // m < 2^31 (stored as i64): the i32 casts let LLVM use a 32x32 -> 64-bit multiply.
                let v = (a + b) as i64 * (m as i32 as i64);
                let u = (v + (1i64 << 62)) as u64;
                let c = (1u64 << 62) >> sh;
                let floor = (u >> sh).wrapping_sub(c);
                let tie = if even { floor & 1 } else { (v >= 0) as u64 };
                let q = ((u + ((1u64 << sh) >> 1) - 1 + tie) >> sh).wrapping_sub(c) as i64;
                *d = (q + zp as i64).clamp(lo as i64, 127) as i8 as u8;
            }
        }
        #[cfg(not(target_pointer_width = "64"))]
        for (j, (d, &a)) in out[..n].iter_mut().zip(&acc[..n]).enumerate() {
            let rq = Requant { m: self.m[j], n: u32::from(self.n[j]) };
            *d = rq.apply_with(a + self.bias[j], zp, lo, rounding) as u8;
        }
    }
}

impl Default for RequantRow {
    fn default() -> Self {
        Self::new()
    }
}

/// The lower clamp of a layer: its zero point when a ReLU is fused, else -128.
#[inline(always)]
pub const fn lower_clamp(zp: i8, relu: bool) -> i8 {
    if relu { zp } else { i8::MIN }
}

/// Host-side derivation of `(m, n)` from a positive real multiplier (f64).
/// Returns `None` if the multiplier cannot be represented (`n` outside `1..=62`, not finite).
///
/// Uses only exact f64 operations (halving, doubling, truncation), so it needs no `std`.
#[cfg(any(test, feature = "builder"))]
pub fn from_real(real: f64) -> Option<Requant> {
    if !(real.is_finite() && real > 0.0) {
        return None;
    }
    // real = f · 2^e with f in [0.5, 1); scaling by two is exact.
    let (mut f, mut e) = (real, 0i32);
    while f >= 1.0 {
        f /= 2.0;
        e += 1;
    }
    while f < 0.5 {
        f *= 2.0;
        e -= 1;
    }
    // m = round(f · 2^31) in [2^30, 2^31]; n = 31 − e.
    let mut m = round_half_even_f64(f * 2_147_483_648.0) as i64;
    let mut n = 31 - e;
    if m == 1 << 31 {
        m >>= 1;
        n -= 1;
    }
    if !(N_MIN as i32..=N_MAX as i32).contains(&n) {
        return None;
    }
    Some(Requant { m: m as i32, n: n as u32 })
}

/// Rounds half to even (f64), with exact operations only (no `std`).
#[cfg(any(test, feature = "builder"))]
pub fn round_half_even_f64(x: f64) -> f64 {
    // Beyond 2^52 every f64 is an integer; NaN and infinities pass through (hence the negated
    // comparison, which is true for NaN).
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(x.abs() < 4_503_599_627_370_496.0) {
        return x;
    }
    let t = x as i64; // truncation toward zero
    let frac = x - t as f64; // exact, in (−1, 1)
    let r = if frac > 0.5 || (frac == 0.5 && t % 2 != 0) {
        t + 1
    } else if frac < -0.5 || (frac == -0.5 && t % 2 != 0) {
        t - 1
    } else {
        t
    };
    r as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exact reference: round_half_even(acc * m / 2^n) with i128 and explicit cases.
    fn reference(acc: i32, rq: Requant) -> i64 {
        let v = acc as i128 * rq.m as i128;
        let d = 1i128 << rq.n;
        let q = v.div_euclid(d);
        let r = v.rem_euclid(d);
        let q = if 2 * r > d || (2 * r == d && q % 2 != 0) { q + 1 } else { q };
        q as i64
    }

    #[test]
    fn hand_computed_ties_and_signs() {
        // m = 2^30, n = 31: multiply by 1/2.
        let half = Requant { m: 1 << 30, n: 31 };
        assert_eq!(half.scale(1), 0); // 0.5 -> 0 (even)
        assert_eq!(half.scale(3), 2); // 1.5 -> 2 (even)
        assert_eq!(half.scale(5), 2); // 2.5 -> 2
        assert_eq!(half.scale(-1), 0); // -0.5 -> 0
        assert_eq!(half.scale(-3), -2); // -1.5 -> -2
        assert_eq!(half.scale(-5), -2); // -2.5 -> -2
        assert_eq!(half.scale(7), 4); // 3.5 -> 4
        // Ties away from zero.
        let away = |acc| half.scale_with(acc, Rounding::HalfAwayFromZero);
        assert_eq!([away(1), away(3), away(5), away(-1), away(-3), away(-5)], [1, 2, 3, -1, -2, -3]);
        // Non-ties are unaffected by the rule.
        assert_eq!(Requant { m: 3 << 29, n: 31 }.scale_with(5, Rounding::HalfAwayFromZero), 4);
        // m = 3·2^29, n = 31: multiply by 0.75. 10·0.75 = 7.5 -> 8; 6·0.75 = 4.5 -> 4.
        let q = Requant { m: 3 << 29, n: 31 };
        assert_eq!(q.scale(10), 8);
        assert_eq!(q.scale(6), 4);
        assert_eq!(q.scale(5), 4); // 3.75
        // Zero point and clamps.
        assert_eq!(half.apply(300, 10, -128), 127);
        assert_eq!(half.apply(-300, 10, -128), -128);
        assert_eq!(half.apply(-10, -128, lower_clamp(-128, true)), -128);
        assert_eq!(half.apply(20, -100, lower_clamp(-100, true)), -90);
        assert_eq!(half.apply(-20, -100, lower_clamp(-100, true)), -100);
    }

    #[test]
    fn from_real_hand_computed() {
        assert_eq!(from_real(0.5), Some(Requant { m: 1 << 30, n: 31 }));
        assert_eq!(from_real(0.75), Some(Requant { m: 3 << 29, n: 31 }));
        assert_eq!(from_real(1.0), Some(Requant { m: 1 << 30, n: 30 }));
        assert_eq!(from_real(2f64.powi(-20)), Some(Requant { m: 1 << 30, n: 50 }));
        // Just below 1: the mantissa rounds up to 2^31 and is renormalized.
        assert_eq!(from_real(1.0 - 1e-12), Some(Requant { m: 1 << 30, n: 30 }));
        assert_eq!(from_real(0.0), None);
        assert_eq!(from_real(f64::NAN), None);
        assert_eq!(from_real(2f64.powi(-70)), None);
    }

    proptest! {
        #[test]
        fn scale_matches_exact_reference(acc in any::<i32>(), m in M_MIN..=i32::MAX, n in N_MIN..=N_MAX) {
            let rq = Requant { m, n };
            let want = reference(acc, rq).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            prop_assert_eq!(rq.scale(acc), want);
            // Both implementations, whichever this target uses.
            prop_assert_eq!(rq.scale_wide(acc, Rounding::HalfToEven), want);
            if n >= 32 {
                prop_assert_eq!(rq.scale_hi(acc, Rounding::HalfToEven), want);
            }
        }

        #[test]
        fn requant_row_matches_apply(
            ch in proptest::collection::vec((any::<i32>(), M_MIN..=i32::MAX, N_MIN..=N_MAX, -(1i32 << 24)..(1i32 << 24)), 1..ROW),
            zp in any::<i8>(), relu in any::<bool>(), away in any::<bool>())
        {
            let rounding = if away { Rounding::HalfAwayFromZero } else { Rounding::HalfToEven };
            let lo = lower_clamp(zp, relu);
            let mut row = RequantRow::new();
            // Accumulators shrunk so that acc + bias fits in i32, as Model::parse guarantees.
            let acc: alloc::vec::Vec<i32> = ch.iter().map(|c| c.0 >> 2).collect();
            row.load(ch.iter().map(|&(_, m, n, b)| (Requant { m, n }, b)));
            prop_assert_eq!(row.len(), ch.len());
            let mut out = alloc::vec![0u8; ch.len()];
            row.apply(&acc, zp, lo, rounding, &mut out);
            for (j, &(_, m, n, b)) in ch.iter().enumerate() {
                prop_assert_eq!(out[j] as i8, Requant { m, n }.apply_with(acc[j] + b, zp, lo, rounding));
            }
        }

        #[test]
        fn apply_matches_the_32_bit_formula(acc in any::<i32>(), m in M_MIN..=i32::MAX, n in N_MIN..=N_MAX, zp in any::<i8>(), relu in any::<bool>()) {
            let rq = Requant { m, n };
            let lo = lower_clamp(zp, relu);
            let want = (reference(acc, rq).clamp(i32::MIN as i64, i32::MAX as i64) as i32).saturating_add(zp as i32).clamp(lo as i32, 127) as i8;
            prop_assert_eq!(rq.apply(acc, zp, lo), want);
        }

        #[test]
        fn ties_away_matches_exact_reference(acc in any::<i32>(), m in M_MIN..=i32::MAX, n in N_MIN..=N_MAX) {
            let rq = Requant { m, n };
            let v = acc as i128 * m as i128;
            let d = 1i128 << n;
            let (q, r) = (v.div_euclid(d), v.rem_euclid(d));
            // Ties go away from zero: up for v >= 0, down (keep the floor) for v < 0.
            let q = if 2 * r > d || (2 * r == d && v >= 0) { q + 1 } else { q };
            let want = (q as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            prop_assert_eq!(rq.scale_with(acc, Rounding::HalfAwayFromZero), want);
            prop_assert_eq!(rq.scale_wide(acc, Rounding::HalfAwayFromZero), want);
            if n >= 32 {
                prop_assert_eq!(rq.scale_hi(acc, Rounding::HalfAwayFromZero), want);
            }
        }

        #[test]
        fn extremes_near_limits(acc in prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(i32::MIN + 1), Just(-1), Just(0), Just(1)],
                                 m in prop_oneof![Just(M_MIN), Just(i32::MAX), M_MIN..=i32::MAX],
                                 n in prop_oneof![Just(N_MIN), Just(N_MAX), Just(31u32), N_MIN..=N_MAX]) {
            let rq = Requant { m, n };
            let want = reference(acc, rq).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            prop_assert_eq!(rq.scale(acc), want);
        }

        #[test]
        fn round_half_even_matches_std(x in -1e12f64..1e12, k in -4i64..4) {
            // Random values and exact ties.
            for v in [x, k as f64 + 0.5, x.trunc() + 0.5] {
                let want = if (v - v.trunc()).abs() == 0.5 { 2.0 * (v / 2.0).round() } else { v.round() };
                prop_assert_eq!(round_half_even_f64(v), want);
            }
        }

        #[test]
        fn from_real_is_within_half_ulp(real in 1e-15f64..1e6) {
            let rq = from_real(real).unwrap();
            prop_assert!(rq.is_valid());
            let back = rq.m as f64 / 2f64.powi(rq.n as i32);
            prop_assert!(((back - real) / real).abs() <= 2f64.powi(-31));
            prop_assert!((M_MIN..=i32::MAX).contains(&rq.m));
        }
    }
}
