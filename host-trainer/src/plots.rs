//! Pictures of a run, drawn with plotters into PNG files: training curves, confusion-matrix
//! heatmap, a grid of test images with predictions, class distributions, mean-pixel heatmap.
//! The font (DejaVu Sans) is embedded, so drawing needs no system fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::data::idx::{PIXELS, SIDE};
use crate::data::{CLASS_NAMES, Split};
use crate::metrics::Confusion;
use crate::run_dir::EpochRecord;

pub(crate) const FONT: &str = "sans-serif";

pub(crate) fn init_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails on a corrupt font, which the embedded one is not; drawing
        // text then fails with a clear plotters error rather than a panic.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

pub(crate) fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> anyhow::Error {
    move |e| anyhow!("drawing {what}: {e}")
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

pub(crate) fn canvas(path: &Path, size: (u32, u32)) -> Result<Area<'_>> {
    init_fonts();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(err("canvas"))?;
    Ok(root)
}

/// Training curves: accuracy and loss, train vs validation, per epoch.
pub fn training_curves(history: &[EpochRecord], title: &str, path: &Path) -> Result<()> {
    let root = canvas(path, (1100, 450))?;
    let root = root.titled(title, (FONT, 22).into_font().style(FontStyle::Bold)).map_err(err("curves"))?;
    let (left, right) = root.split_horizontally(550);
    let n = history.len().max(2) as f64;
    type Getter = fn(&EpochRecord) -> f64;
    let panels: [(&Area, &str, Getter, Getter); 2] =
        [(&left, "accuracy", |r| r.train_acc, |r| r.val_acc), (&right, "loss", |r| r.train_loss, |r| r.val_loss)];
    for (area, name, train, val) in panels {
        let values = history.iter().flat_map(|r| [train(r), val(r)]);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.1).max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(name, (FONT, 18))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(1.0..n, (lo - pad)..(hi + pad))
            .map_err(err("curves"))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_labels(history.len().clamp(2, 12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(name)
            .label_style((FONT, 13))
            .draw()
            .map_err(err("curves"))?;
        for (label, get, color) in [("train", train, BLUE), ("validation", val, RED)] {
            let pts: Vec<(f64, f64)> = history.iter().map(|r| (r.epoch as f64, get(r))).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err("curves"))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(err("curves"))?;
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(if name == "loss" { SeriesLabelPosition::UpperRight } else { SeriesLabelPosition::LowerRight })
            .draw()
            .map_err(err("curves"))?;
    }
    root.present().map_err(err("curves"))
}

/// Blue-to-white color for a value in [0, 1].
fn heat(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// Confusion-matrix heatmap with class names and counts (color: share of the true class).
pub fn confusion_heatmap(c: &Confusion, title: &str, path: &Path) -> Result<()> {
    let cell = 58i32;
    let (x0, y0) = (150i32, 70i32);
    let size = (x0 as u32 + 10 * cell as u32 + 30, y0 as u32 + 10 * cell as u32 + 130);
    let root = canvas(path, size)?;
    let e = err("confusion matrix");
    root.draw(&Text::new(title.to_string(), (20, 20), (FONT, 22).into_font().style(FontStyle::Bold))).map_err(&e)?;
    for (t, row) in c.matrix.iter().enumerate() {
        let support = row.iter().sum::<usize>().max(1) as f64;
        for (p, &n) in row.iter().enumerate() {
            let share = n as f64 / support;
            let (x, y) = (x0 + p as i32 * cell, y0 + t as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], heat(share).filled())).map_err(&e)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], WHITE.stroke_width(1))).map_err(&e)?;
            let color = if share > 0.5 { WHITE } else { BLACK };
            let style =
                TextStyle::from((FONT, 15).into_font()).color(&color).pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
            root.draw(&Text::new(n.to_string(), (x + cell / 2, y + cell / 2), style)).map_err(&e)?;
        }
        let label = TextStyle::from((FONT, 14).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Center,
        ));
        root.draw(&Text::new(CLASS_NAMES[t].to_string(), (x0 - 8, y0 + t as i32 * cell + cell / 2), label))
            .map_err(&e)?;
    }
    for (p, name) in CLASS_NAMES.iter().enumerate() {
        let style = TextStyle::from((FONT, 14).into_font().transform(FontTransform::Rotate90)).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ),
        );
        root.draw(&Text::new(name.to_string(), (x0 + p as i32 * cell + cell / 2, y0 + 10 * cell + 8), style))
            .map_err(&e)?;
    }
    root.draw(&Text::new("rows: true class, columns: predicted", (x0, y0 - 22), (FONT, 14))).map_err(&e)?;
    root.present().map_err(e)
}

fn draw_image(area: &Area, pixels: &[u8], x: i32, y: i32, scale: i32) -> Result<()> {
    for r in 0..SIDE {
        for c in 0..SIDE {
            let v = 255 - pixels[r * SIDE + c];
            let (px, py) = (x + c as i32 * scale, y + r as i32 * scale);
            area.draw(&Rectangle::new([(px, py), (px + scale, py + scale)], RGBColor(v, v, v).filled()))
                .map_err(err("image"))?;
        }
    }
    Ok(())
}

/// A grid of test images with true and predicted labels; misclassified ones framed in red.
/// Shows the first `n` images, then fills up with misclassified ones if any are missing.
pub fn sample_grid(test: &Split, predictions: &[u8], path: &Path) -> Result<()> {
    let (cols, rows, scale) = (8usize, 6usize, 3i32);
    let n = cols * rows;
    // Half the grid: the first images; the other half: the first misclassified ones.
    let mut picked: Vec<usize> = (0..test.len().min(n / 2)).collect();
    picked.extend((0..test.len()).filter(|&i| predictions.get(i) != Some(&test.labels[i])).take(n - picked.len()));
    let (cw, ch) = (SIDE as i32 * scale + 40, SIDE as i32 * scale + 48);
    let root = canvas(path, (cols as u32 * cw as u32 + 20, rows as u32 * ch as u32 + 60))?;
    let e = err("sample grid");
    root.draw(&Text::new(
        "Test images: true label / predicted (red: misclassified; second half shows errors)",
        (10, 12),
        (FONT, 16).into_font().style(FontStyle::Bold),
    ))
    .map_err(&e)?;
    for (k, &i) in picked.iter().enumerate() {
        let (x, y) = (10 + (k % cols) as i32 * cw, 44 + (k / cols) as i32 * ch);
        draw_image(&root, test.image(i), x + 20, y, scale)?;
        let pred = predictions.get(i).copied().unwrap_or(0) as usize;
        let truth = test.labels[i] as usize;
        let wrong = pred != truth;
        if wrong {
            let side = SIDE as i32 * scale;
            root.draw(&Rectangle::new([(x + 18, y - 2), (x + 22 + side, y + 2 + side)], RED.stroke_width(2)))
                .map_err(&e)?;
        }
        let color = if wrong { RED } else { BLACK };
        let text = format!("{} / {}", CLASS_NAMES[truth], CLASS_NAMES[pred]);
        root.draw(&Text::new(
            text,
            (x, y + SIDE as i32 * scale + 6),
            TextStyle::from((FONT, 10).into_font()).color(&color),
        ))
        .map_err(&e)?;
    }
    root.present().map_err(e)
}

/// Bar chart of images per class for each named split.
pub fn class_distribution(splits: &[(&str, &Split)], path: &Path) -> Result<()> {
    let root = canvas(path, (1000, 450))?;
    let e = err("class distribution");
    let max = splits.iter().flat_map(|(_, s)| s.class_counts()).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption("Images per class", (FONT, 22).into_font().style(FontStyle::Bold))
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..10.0f64, 0.0..max * 1.45)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((FONT, 12))
        .y_desc("images")
        .draw()
        .map_err(&e)?;
    for (c, name) in CLASS_NAMES.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(c as f64 + 0.5, 0.0));
        let style = TextStyle::from((FONT, 13).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        root.draw(&Text::new(name.to_string(), (px, py + 8), style)).map_err(&e)?;
    }
    let colors = [BLUE, RED, GREEN, MAGENTA];
    let k = splits.len().max(1) as f64;
    for (j, (name, split)) in splits.iter().enumerate() {
        let color = colors[j % colors.len()];
        let counts = split.class_counts();
        chart
            .draw_series(counts.iter().enumerate().map(|(c, &n)| {
                let x = c as f64 + 0.1 + 0.8 * j as f64 / k;
                Rectangle::new([(x, 0.0), (x + 0.8 / k, n as f64)], color.mix(0.8).filled())
            }))
            .map_err(&e)?
            .label(format!("{name} ({})", split.len()))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(&e)?;
    root.present().map_err(e)
}

/// Per-pixel mean over a split, as a heatmap (overall and per class).
pub fn mean_pixel_heatmap(split: &Split, path: &Path) -> Result<()> {
    let scale = 6i32;
    let side = SIDE as i32 * scale;
    let root = canvas(path, ((side as u32 + 20) * 6 + 20, (side as u32 + 40) * 2 + 60))?;
    let e = err("mean pixels");
    root.draw(&Text::new(
        "Mean pixel value of the training images (all, then per class)",
        (10, 12),
        (FONT, 18).into_font().style(FontStyle::Bold),
    ))
    .map_err(&e)?;
    let mut sums = vec![[0u64; PIXELS]; 11];
    let mut counts = [0u64; 11];
    for i in 0..split.len() {
        let class = split.labels[i] as usize;
        for (k, &p) in split.image(i).iter().enumerate() {
            sums[0][k] += u64::from(p);
            sums[class + 1][k] += u64::from(p);
        }
        counts[0] += 1;
        counts[class + 1] += 1;
    }
    for (j, (sum, &count)) in sums.iter().zip(&counts).enumerate() {
        let (x, y) = (10 + (j % 6) as i32 * (side + 20), 50 + (j / 6) as i32 * (side + 40));
        let max = sum.iter().copied().max().unwrap_or(1).max(1) as f64;
        for (k, &s) in sum.iter().enumerate() {
            let v = if count == 0 { 0.0 } else { s as f64 / max };
            let (px, py) = (x + (k % SIDE) as i32 * scale, y + (k / SIDE) as i32 * scale);
            root.draw(&Rectangle::new([(px, py), (px + scale, py + scale)], inferno(v).filled())).map_err(&e)?;
        }
        let name = if j == 0 { "all".to_string() } else { CLASS_NAMES[j - 1].to_string() };
        root.draw(&Text::new(name, (x, y + side + 4), (FONT, 13))).map_err(&e)?;
    }
    root.present().map_err(e)
}

/// A dark-to-bright color map (black, purple, orange, yellow).
fn inferno(v: f64) -> RGBColor {
    let stops = [
        (0.0, (0.0, 0.0, 4.0)),
        (0.33, (87.0, 16.0, 110.0)),
        (0.66, (229.0, 92.0, 48.0)),
        (1.0, (252.0, 255.0, 164.0)),
    ];
    let v = v.clamp(0.0, 1.0);
    for w in stops.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if v <= b {
            let t = (v - a) / (b - a);
            let l = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
            return RGBColor(l(ca.0, cb.0), l(ca.1, cb.1), l(ca.2, cb.2));
        }
    }
    RGBColor(252, 255, 164)
}

/// The first images of `split` (top row) and augmented versions of each (rows below).
pub fn augmentation_samples(split: &Split, aug: &crate::data::augment::Augment, seed: u64, path: &Path) -> Result<()> {
    use rand::SeedableRng;
    let (cols, rows, scale) = (8usize, 4usize, 3i32);
    let cell = SIDE as i32 * scale + 12;
    let root = canvas(path, (cols as u32 * cell as u32 + 20, rows as u32 * cell as u32 + 60))?;
    let e = err("augmentation");
    root.draw(&Text::new(
        "Training images (top row) and augmented versions (below)",
        (10, 12),
        (FONT, 16).into_font().style(FontStyle::Bold),
    ))
    .map_err(&e)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0u8; PIXELS];
    for c in 0..cols.min(split.len()) {
        for r in 0..rows {
            let img = if r == 0 {
                split.image(c)
            } else {
                crate::data::augment::transform(split.image(c), aug.draw(&mut rng), &mut out);
                &out
            };
            draw_image(&root, img, 10 + c as i32 * cell, 44 + r as i32 * cell, scale)?;
        }
    }
    root.present().map_err(e)
}

/// A grid of images (`n * 784` pixels), `cols` per row, under a title; used for generated
/// samples (one class per row when the caller orders them so).
pub fn image_grid(pixels: &[u8], cols: usize, title: &str, path: &Path) -> Result<()> {
    let n = pixels.len() / PIXELS;
    let cols = cols.max(1);
    let rows = n.div_ceil(cols).max(1);
    let scale = 2i32;
    let cell = SIDE as i32 * scale + 4;
    // With ten rows of ten, the rows are the classes and get their names.
    let labelled = cols == 10 && rows == 10;
    let row_label = if labelled { 80i32 } else { 10 };
    let root = canvas(path, ((row_label + cols as i32 * cell + 10) as u32, (40 + rows as i32 * cell + 10) as u32))?;
    let e = err("image grid");
    root.draw(&Text::new(title.to_string(), (10, 10), (FONT, 16).into_font().style(FontStyle::Bold))).map_err(&e)?;
    for k in 0..n {
        let (x, y) = (row_label + (k % cols) as i32 * cell, 40 + (k / cols) as i32 * cell);
        draw_image(&root, &pixels[k * PIXELS..(k + 1) * PIXELS], x, y, scale)?;
    }
    if labelled {
        for (r, name) in CLASS_NAMES.iter().enumerate() {
            root.draw(&Text::new(name.to_string(), (6, 40 + r as i32 * cell + cell / 2 - 6), (FONT, 12)))
                .map_err(&e)?;
        }
    }
    root.present().map_err(e)
}

/// The studies' final comparison: test accuracy of every run as a bar, labelled with its
/// value, the axis starting near the lowest bar so differences show.
pub fn comparison_bars(rows: &[crate::report::SummaryRow], path: &Path) -> Result<()> {
    let rows: Vec<_> = rows.iter().filter(|r| r.test_acc.is_finite()).collect();
    let n = rows.len().max(1);
    let root = canvas(path, ((160 + 90 * n) as u32, 520))?;
    let e = err("comparison");
    let lo = rows.iter().map(|r| r.test_acc).fold(1.0f64, f64::min);
    let floor = ((lo * 100.0 - 2.0).floor() / 100.0).clamp(0.0, 0.99);
    let mut chart = ChartBuilder::on(&root)
        .caption("Test accuracy by run (10,000 test images)", (FONT, 18))
        .margin(15)
        .x_label_area_size(130)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n).into_segmented(), (100.0 * floor)..100.0)
        .map_err(&e)?;
    let names: Vec<String> = rows.iter().map(|r| r.run.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("test accuracy (%)")
        .x_labels(n)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_style((FONT, 12).into_font().transform(FontTransform::Rotate90))
        .label_style((FONT, 13))
        .draw()
        .map_err(&e)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            let color = if r.preset.starts_with("cnn") { RGBColor(31, 119, 180) } else { RGBColor(255, 127, 14) };
            Rectangle::new(
                [(SegmentValue::Exact(i), 100.0 * floor), (SegmentValue::Exact(i + 1), 100.0 * r.test_acc)],
                color.filled(),
            )
        }))
        .map_err(&e)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            Text::new(
                format!("{:.2}", 100.0 * r.test_acc),
                (SegmentValue::CenterOf(i), 100.0 * r.test_acc + 0.1),
                (FONT, 12),
            )
        }))
        .map_err(&e)?;
    root.present().map_err(e)
}
