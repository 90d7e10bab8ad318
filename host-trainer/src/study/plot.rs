//! The study's picture: test accuracy per model, float and int8 side by side, each a mean with
//! a ± one-standard-deviation bar over the seeds and a dot per seed.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use super::report::{Spread, Study};
use crate::plots::{FONT, canvas, err};

/// Which of a model row's spreads a series shows.
type Metric = fn(&super::report::ModelRow) -> &Spread;

/// Draws `accuracy.png`.
pub fn accuracy(s: &Study, path: &Path) -> Result<()> {
    let n = s.models.len().max(1);
    let root = canvas(path, ((220 + 150 * n) as u32, 520))?;
    let e = err("study accuracy");
    let all = s.models.iter().flat_map(|m| m.test_acc.values.iter().chain(&m.int8_acc.values)).copied();
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (100.0 * lo, 100.0 * hi) } else { (0.0, 100.0) };
    let pad = ((hi - lo) * 0.15).max(0.2);
    let title =
        format!("Test accuracy over {} seeds ({} test images): mean ± std, a dot per seed", s.seeds, s.test_images);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 17))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo - pad)..(hi + pad))
        .map_err(&e)?;
    let names: Vec<String> = s.models.iter().map(|m| m.model.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("test accuracy (%)")
        .label_style((FONT, 13))
        .draw()
        .map_err(&e)?;
    let series: [(&str, RGBColor, f64, Metric); 2] = [
        ("f32 (burn)", RGBColor(31, 119, 180), -0.12, |m| &m.test_acc),
        ("int8 (infer-core)", RGBColor(214, 39, 40), 0.12, |m| &m.int8_acc),
    ];
    for (label, color, dx, get) in series {
        let bars = s.models.iter().enumerate().map(move |(i, m)| {
            let sp = get(m);
            let x = i as f64 + dx;
            ErrorBar::new_vertical(
                x,
                100.0 * (sp.mean - sp.std),
                100.0 * sp.mean,
                100.0 * (sp.mean + sp.std),
                color.stroke_width(2),
                12,
            )
        });
        chart
            .draw_series(bars)
            .map_err(&e)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        let dots = s.models.iter().enumerate().flat_map(move |(i, m)| {
            get(m)
                .values
                .iter()
                .map(move |&v| Circle::new((i as f64 + dx + 0.05, 100.0 * v), 3, color.mix(0.6).filled()))
        });
        chart.draw_series(dots).map_err(&e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(&e)?;
    root.present().map_err(e)
}
