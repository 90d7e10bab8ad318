//! The WGAN-GP training curves (`losses.png`).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use crate::plots::{FONT, canvas, err};

/// WGAN-GP curves per epoch: the critic's Wasserstein estimate and penalty, and the
/// generator loss.
///
/// `history`: per epoch, its number and `[wasserstein, penalty, generator loss]`.
pub fn gan_losses(history: &[(usize, [f64; 3])], path: &Path) -> Result<()> {
    let root = canvas(path, (800, 450))?;
    let e = err("gan losses");
    let series: [(&str, usize, RGBColor); 3] =
        [("D(real) - D(fake)", 0, BLUE), ("gradient penalty", 1, RED), ("generator loss", 2, RGBColor(0, 140, 0))];
    let values = history.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption("WGAN-GP losses (epoch means)", (FONT, 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(1.0..history.len().max(2) as f64, (lo - pad)..(hi + pad))
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(history.len().clamp(2, 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style((FONT, 13))
        .draw()
        .map_err(&e)?;
    for (label, i, color) in series {
        let pts: Vec<(f64, f64)> = history.iter().map(|(epoch, v)| (*epoch as f64, v[i])).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(&e)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(&e)?;
    root.present().map_err(e)
}
