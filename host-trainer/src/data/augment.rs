//! On-the-fly, seeded data augmentation of 28x28 u8 images: random horizontal flip, rotation,
//! zoom and shift, and random erasing, each switchable. One affine map per image, sampled
//! bilinearly (zero outside), then optionally one rectangle set to the background value 0
//! (random erasing, Zhong et al. 2017, with the fill of Cutout), so the output stays in
//! 0..=255 and has the input's shape.

use rand::Rng;
use serde::{Deserialize, Serialize};

use fashion_mnist::idx::{PIXELS, SIDE};

/// Which augmentations to apply and how strongly. All off by default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Mirror left-right with probability 1/2.
    pub flip: bool,
    /// Rotate by a uniform angle in ±`rotate_deg` degrees (0 = off).
    pub rotate_deg: f32,
    /// Scale by a uniform factor in 1 ± `zoom` (0 = off).
    pub zoom: f32,
    /// Shift by a uniform whole number of pixels in ±`shift` on each axis (0 = off).
    pub shift: i32,
    /// Erase one random rectangle (2-40% of the image, aspect ratio 0.3-3.3) with this
    /// probability (0 = off). Runs recorded before this option read as 0.
    #[serde(default)]
    pub erase: f32,
}

/// A rectangle of pixels: columns `x..x + w`, rows `y..y + h`, inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width, pixels (≥ 1).
    pub w: usize,
    /// Height, pixels (≥ 1).
    pub h: usize,
}

/// Smallest and largest share of the image one erased rectangle covers.
pub const ERASE_AREA: (f32, f32) = (0.02, 0.4);
/// Smallest aspect ratio (height / width) of an erased rectangle; the largest is its inverse.
pub const ERASE_MIN_ASPECT: f32 = 0.3;
/// Draws of a rectangle that may fall outside the image before erasing gives up for that image.
const ERASE_TRIES: usize = 10;

/// One image's drawn parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// Mirror left-right.
    pub flip: bool,
    /// Rotation, radians.
    pub angle: f32,
    /// Scale factor.
    pub scale: f32,
    /// Shift (x, y), pixels.
    pub shift: (i32, i32),
    /// The rectangle to erase after the affine map, if any.
    pub erase: Option<Rect>,
}

impl Draw {
    /// The identity.
    pub const IDENTITY: Draw = Draw { flip: false, angle: 0.0, scale: 1.0, shift: (0, 0), erase: None };

    /// True if the affine part (flip, rotation, scale, shift) is the identity.
    fn affine_is_identity(&self) -> bool {
        !self.flip && self.angle == 0.0 && self.scale == 1.0 && self.shift == (0, 0)
    }
}

impl Augment {
    /// The studies' settings: flip, ±10°, ±10% zoom, ±2 px shift.
    pub const STUDIES: Augment = Augment { flip: true, rotate_deg: 10.0, zoom: 0.1, shift: 2, erase: 0.0 };

    /// True if anything is switched on.
    pub fn is_active(&self) -> bool {
        self.flip || self.rotate_deg > 0.0 || self.zoom > 0.0 || self.shift > 0 || self.erase > 0.0
    }

    /// Draws one image's parameters.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> Draw {
        let flip = self.flip && rng.random_bool(0.5);
        let angle =
            if self.rotate_deg > 0.0 { rng.random_range(-self.rotate_deg..=self.rotate_deg).to_radians() } else { 0.0 };
        let scale = if self.zoom > 0.0 { rng.random_range(1.0 - self.zoom..=1.0 + self.zoom) } else { 1.0 };
        let shift = if self.shift > 0 {
            (rng.random_range(-self.shift..=self.shift), rng.random_range(-self.shift..=self.shift))
        } else {
            (0, 0)
        };
        let erase =
            if self.erase > 0.0 && rng.random_bool(f64::from(self.erase.min(1.0))) { erase_rect(rng) } else { None };
        Draw { flip, angle, scale, shift, erase }
    }
}

/// Draws a rectangle of random area (in [`ERASE_AREA`]) and log-uniform aspect ratio at a random
/// place; `None` if none of [`ERASE_TRIES`] draws fits inside the image.
fn erase_rect<R: Rng>(rng: &mut R) -> Option<Rect> {
    let total = PIXELS as f32;
    let log_aspect = ERASE_MIN_ASPECT.ln();
    for _ in 0..ERASE_TRIES {
        let area = rng.random_range(ERASE_AREA.0..=ERASE_AREA.1) * total;
        let aspect = rng.random_range(log_aspect..=-log_aspect).exp();
        let h = (area * aspect).sqrt().round() as usize;
        let w = (area / aspect).sqrt().round() as usize;
        if (1..=SIDE).contains(&w) && (1..=SIDE).contains(&h) {
            let x = rng.random_range(0..=SIDE - w);
            let y = rng.random_range(0..=SIDE - h);
            return Some(Rect { x, y, w, h });
        }
    }
    None
}

/// Applies `d` to one image: output pixel `p` samples the input at the inverse map of `p`
/// (about the image centre), bilinearly, zero outside.
/// Then sets the erased rectangle, if any, to 0.
pub fn transform(img: &[u8], d: Draw, out: &mut [u8]) {
    if d.affine_is_identity() {
        out[..PIXELS].copy_from_slice(&img[..PIXELS]);
    } else {
        affine(img, d, out);
    }
    if let Some(r) = d.erase {
        for row in out[r.y * SIDE..(r.y + r.h) * SIDE].chunks_exact_mut(SIDE) {
            row[r.x..r.x + r.w].fill(0);
        }
    }
}

/// The affine part of [`transform`].
fn affine(img: &[u8], d: Draw, out: &mut [u8]) {
    let c = (SIDE as f32 - 1.0) / 2.0;
    let (sin, cos) = d.angle.sin_cos();
    let at = |x: i32, y: i32| -> f32 {
        if (0..SIDE as i32).contains(&x) && (0..SIDE as i32).contains(&y) {
            f32::from(img[y as usize * SIDE + x as usize])
        } else {
            0.0
        }
    };
    for oy in 0..SIDE {
        for ox in 0..SIDE {
            // Undo the shift, then rotation and scale about the centre, then the flip.
            let (dx, dy) = (ox as f32 - c - d.shift.0 as f32, oy as f32 - c - d.shift.1 as f32);
            let sx = (cos * dx + sin * dy) / d.scale + c;
            let sy = (-sin * dx + cos * dy) / d.scale + c;
            let sx = if d.flip { SIDE as f32 - 1.0 - sx } else { sx };
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i32, y0 as i32);
            let v = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + at(x0 + 1, y0) * fx * (1.0 - fy)
                + at(x0, y0 + 1) * (1.0 - fx) * fy
                + at(x0 + 1, y0 + 1) * fx * fy;
            out[oy * SIDE + ox] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn image() -> Vec<u8> {
        (0..PIXELS).map(|i| ((i * 37) % 251) as u8).collect()
    }

    #[test]
    fn identity_and_flip_are_exact() {
        let img = image();
        let mut out = vec![0u8; PIXELS];
        transform(&img, Draw::IDENTITY, &mut out);
        assert_eq!(out, img);
        transform(&img, Draw { flip: true, ..Draw::IDENTITY }, &mut out);
        for y in 0..SIDE {
            for x in 0..SIDE {
                assert_eq!(out[y * SIDE + x], img[y * SIDE + SIDE - 1 - x], "({x},{y})");
            }
        }
    }

    #[test]
    fn shift_moves_pixels_by_whole_pixels() {
        let img = image();
        let mut out = vec![0u8; PIXELS];
        transform(&img, Draw { shift: (2, -1), ..Draw::IDENTITY }, &mut out);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let (sx, sy) = (x as i32 - 2, y as i32 + 1);
                let want = if (0..28).contains(&sx) && (0..28).contains(&sy) {
                    img[sy as usize * SIDE + sx as usize]
                } else {
                    0
                };
                assert_eq!(out[y * SIDE + x], want, "({x},{y})");
            }
        }
    }

    #[test]
    fn draws_are_deterministic_per_seed_and_keep_shape_and_range() {
        let img = image();
        let aug = Augment::STUDIES;
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut outs = Vec::new();
            for _ in 0..20 {
                let mut out = vec![0u8; PIXELS];
                transform(&img, aug.draw(&mut rng), &mut out);
                outs.push(out);
            }
            outs
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..200 {
            let d = aug.draw(&mut rng);
            assert!(d.angle.abs() <= 10f32.to_radians() + 1e-6);
            assert!((0.9..=1.1).contains(&d.scale));
            assert!(d.shift.0.abs() <= 2 && d.shift.1.abs() <= 2);
        }
        assert!(!Augment::default().is_active());
        assert_eq!(Augment::default().draw(&mut rng), Draw::IDENTITY);
    }

    #[test]
    fn erasing_zeroes_exactly_the_rectangle() {
        let img: Vec<u8> = (0..PIXELS).map(|i| (i % 200) as u8 + 50).collect();
        let r = Rect { x: 3, y: 20, w: 5, h: 8 };
        let mut out = vec![0u8; PIXELS];
        transform(&img, Draw { erase: Some(r), ..Draw::IDENTITY }, &mut out);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside = (3..8).contains(&x) && (20..28).contains(&y);
                assert_eq!(out[y * SIDE + x], if inside { 0 } else { img[y * SIDE + x] }, "({x},{y})");
            }
        }
        // Erasing comes after the flip: the hole stays where the draw put it.
        transform(&img, Draw { flip: true, erase: Some(r), ..Draw::IDENTITY }, &mut out);
        assert_eq!(out[20 * SIDE + 3], 0);
        assert_eq!(out[20 * SIDE + 8], img[20 * SIDE + SIDE - 1 - 8]);
    }

    #[test]
    fn erase_draws_fit_the_image_and_follow_the_probability() {
        let aug = Augment { erase: 0.5, ..Augment::default() };
        assert!(aug.is_active());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 4000;
        let mut erased = 0;
        for _ in 0..n {
            let d = aug.draw(&mut rng);
            assert!(d.affine_is_identity());
            if let Some(r) = d.erase {
                erased += 1;
                assert!(r.w >= 1 && r.h >= 1 && r.x + r.w <= SIDE && r.y + r.h <= SIDE, "{r:?}");
                // Rounding each side to whole pixels moves the area a little past its range.
                let share = (r.w * r.h) as f32 / PIXELS as f32;
                assert!((0.01..=0.48).contains(&share), "{r:?}: {share}");
                let aspect = r.h as f32 / r.w as f32;
                assert!((0.2..=5.0).contains(&aspect), "{r:?}: {aspect}");
            }
        }
        // Most draws fit; the share erased is near one half.
        assert!((1700..=2100).contains(&erased), "{erased} of {n}");
        let always = Augment { erase: 1.0, ..Augment::default() };
        assert!((0..200).filter(|_| always.draw(&mut rng).erase.is_some()).count() > 180);
    }

    #[test]
    fn runs_recorded_before_erasing_read_it_as_off() {
        let old = r#"{"flip":true,"rotate_deg":0.0,"zoom":0.0,"shift":2}"#;
        let a: Augment = serde_json::from_str(old).unwrap();
        assert_eq!(a, Augment { flip: true, shift: 2, ..Augment::default() });
    }

    #[test]
    fn small_rotation_keeps_most_of_the_mass() {
        // A solid centre square keeps its mass (within interpolation error) when rotated 10°.
        let mut img = vec![0u8; PIXELS];
        for y in 9..19 {
            for x in 9..19 {
                img[y * SIDE + x] = 200;
            }
        }
        let mut out = vec![0u8; PIXELS];
        transform(&img, Draw { angle: 10f32.to_radians(), ..Draw::IDENTITY }, &mut out);
        let (a, b): (u32, u32) = (img.iter().map(|&v| v as u32).sum(), out.iter().map(|&v| v as u32).sum());
        assert!((a as f64 - b as f64).abs() / (a as f64) < 0.05, "{a} vs {b}");
        assert_ne!(out, img);
    }
}
