//! The value rules of the command line, as clap value parsers: every number is checked when the
//! arguments are parsed, before any work starts, and a refusal names the value and the rule
//! (clap adds the option's name: "invalid value 'NaN' for '--lr <LR>': NaN is not a finite
//! number").

/// A finite number.
fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("{s} is not a finite number")) }
}

/// A finite number above zero (learning rates).
pub fn positive(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v > 0.0 { Ok(v) } else { Err(format!("{v} must be above 0")) }
}

/// A finite number, as f32 (an input normalization's mean).
pub fn finite_f32(s: &str) -> Result<f32, String> {
    let v = finite(s)? as f32;
    if v.is_finite() { Ok(v) } else { Err(format!("{s} does not fit an f32")) }
}

/// A finite number above zero, as f32 (an input normalization's standard deviation).
pub fn positive_f32(s: &str) -> Result<f32, String> {
    let v = positive(s)? as f32;
    if v > 0.0 && v.is_finite() { Ok(v) } else { Err(format!("{s} does not fit an f32 above 0")) }
}

/// A finite number of zero or more (weight decay, the smallest learning rate).
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v >= 0.0 { Ok(v) } else { Err(format!("{v} must be 0 or more")) }
}

/// A probability: a number from 0 to 1.
pub fn probability(s: &str) -> Result<f64, String> {
    let p = finite(s)?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not a probability (0 to 1)")) }
}

/// A dropout probability: a [`probability`] below 1 (dropping every unit leaves nothing to scale).
pub fn dropout_probability(s: &str) -> Result<f64, String> {
    let p = probability(s)?;
    if p < 1.0 { Ok(p) } else { Err(format!("dropout {p} would drop every unit (use less than 1)")) }
}

/// Label smoothing: from 0 to below 1 (1 would make every target uniform).
pub fn smoothing(s: &str) -> Result<f64, String> {
    let p = probability(s)?;
    if p < 1.0 { Ok(p) } else { Err(format!("{p} would smooth the labels away (use less than 1)")) }
}

/// A factor strictly between 0 and 1 (the plateau schedule's multiplier).
pub fn fraction(s: &str) -> Result<f64, String> {
    let v = finite(s)?;
    if v > 0.0 && v < 1.0 { Ok(v) } else { Err(format!("{v} must be between 0 and 1 (exclusive)")) }
}

/// A count of one or more (epochs, batch sizes, images, patience).
pub fn count(s: &str) -> Result<usize, String> {
    let v: usize = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
    if v >= 1 { Ok(v) } else { Err("0 is not allowed here (1 or more)".to_string()) }
}

/// A rotation range in degrees, 0 to 180.
pub fn degrees(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if (0.0..=180.0).contains(&v) { Ok(v as f32) } else { Err(format!("{v} must be from 0 to 180 degrees")) }
}

/// A zoom range, 0 to below 1 (0.1 = ±10%).
pub fn zoom(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if (0.0..1.0).contains(&v) { Ok(v as f32) } else { Err(format!("{v} must be from 0 to below 1 (0.1 = ±10%)")) }
}

/// A shift range in pixels, 0 to 27.
pub fn shift(s: &str) -> Result<i32, String> {
    let v: i32 = s.trim().parse().map_err(|_| format!("{s:?} is not a whole number"))?;
    if (0..=27).contains(&v) { Ok(v) } else { Err(format!("{v} must be from 0 to 27 pixels")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_takes_its_range_and_refuses_the_rest() {
        for bad in ["NaN", "inf", "-inf", "0", "-1e-3", "x", ""] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(positive("1e-3"), Ok(1e-3));
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.1").is_err() && non_negative("NaN").is_err());
        assert!(probability("1.5").is_err() && probability("-0.1").is_err() && probability("NaN").is_err());
        assert_eq!(probability("1"), Ok(1.0));
        assert!(dropout_probability("1").is_err());
        assert_eq!(dropout_probability("0.5"), Ok(0.5));
        assert!(smoothing("1").is_err());
        assert_eq!(smoothing("0.1"), Ok(0.1));
        assert!(fraction("0").is_err() && fraction("1").is_err());
        assert_eq!(fraction("0.5"), Ok(0.5));
        assert!(count("0").is_err() && count("-1").is_err() && count("1.5").is_err());
        assert_eq!(count("3"), Ok(3));
        assert!(degrees("181").is_err() && degrees("-1").is_err());
        assert!(zoom("1").is_err());
        assert!(shift("28").is_err() && shift("-1").is_err());
        assert_eq!(shift("2"), Ok(2));
    }
}
