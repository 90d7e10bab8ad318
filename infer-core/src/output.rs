//! A model's output: int8 logits and what follows from them.

use heapless::Vec;
use micromath::F32Ext;

/// Most output values (classes) a model may have.
pub const MAX_OUTPUTS: usize = 64;

/// The int8 logits of one inference, with their quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// int8 logits.
    pub values: Vec<i8, MAX_OUTPUTS>,
    /// Scale of the logits.
    pub scale: f32,
    /// Zero point of the logits.
    pub zero_point: i8,
}

impl Output {
    /// Index of the largest logit (the first one on ties).
    pub fn argmax(&self) -> usize {
        let mut best = 0;
        for (i, &v) in self.values.iter().enumerate() {
            if v > self.values[best] {
                best = i;
            }
        }
        best
    }

    /// Real value of logit `i`: `scale · (q − zero_point)`.
    pub fn dequantize(&self, i: usize) -> f32 {
        self.values.get(i).map_or(0.0, |&q| self.scale * (q as i32 - self.zero_point as i32) as f32)
    }

    /// All logits as real values.
    pub fn logits(&self) -> Vec<f32, MAX_OUTPUTS> {
        (0..self.values.len()).map(|i| self.dequantize(i)).collect()
    }

    /// Softmax probabilities, with micromath's `exp` so that every target computes the same
    /// bits: `p_i = exp(s·(q_i − q_max)) / Σ_j exp(s·(q_j − q_max))`.
    pub fn probabilities(&self) -> Vec<f32, MAX_OUTPUTS> {
        let max = self.values.iter().copied().max().unwrap_or(0) as i32;
        let e: Vec<f32, MAX_OUTPUTS> =
            self.values.iter().map(|&q| F32Ext::exp(self.scale * (q as i32 - max) as f32)).collect();
        let sum: f32 = e.iter().sum();
        e.iter().map(|&v| v / sum).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(values: &[i8], scale: f32, zero_point: i8) -> Output {
        Output { values: Vec::from_slice(values).unwrap(), scale, zero_point }
    }

    #[test]
    fn argmax_dequantize_softmax_by_hand() {
        let o = out(&[-3, 5, 5, 0], 0.5, 1);
        assert_eq!(o.argmax(), 1);
        assert_eq!(o.dequantize(0), -2.0);
        assert_eq!(o.dequantize(1), 2.0);
        assert_eq!(o.dequantize(9), 0.0);
        let p = o.probabilities();
        // exp(0.5·(q − 5)): e^-4, 1, 1, e^-2.5 normalised.
        let e = [(-4f32).exp(), 1.0, 1.0, (-2.5f32).exp()];
        let s: f32 = e.iter().sum();
        for (a, b) in p.iter().zip(e) {
            assert!((a - b / s).abs() < 1e-3, "{a} vs {}", b / s);
        }
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
