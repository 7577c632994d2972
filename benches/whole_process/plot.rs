//! `latency.svg`: precreate latency against registry size, drawn with
//! plotters' SVG backend.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

use crate::report::{Report, thousands};

/// Median (line and points), whiskers from min to p95, the bare-exec floor,
/// twice the floor and the absolute target `target_ms`, over a log x axis
/// of registry sizes.
pub fn latency_svg(report: &Report, path: &Path, target_ms: f64) -> Result<(), Box<dyn Error>> {
    let curve = &report.curve;
    let ymax = curve
        .iter()
        .map(|(_, p, f)| p.p95.max(2.0 * f.median))
        .fold(target_ms, f64::max)
        * 1.15;
    let (x0, x1) = (5.0, 200_000.0);
    let blue = RGBColor(0x2c, 0x6f, 0xbb);
    let grey = RGBColor(0x7f, 0x8c, 0x8d);
    let red = RGBColor(0xc0, 0x39, 0x2b);

    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let samples = curve.first().map_or(0, |(_, p, _)| p.n);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "linkshim hook precreate (3 links): latency against registry size, {samples} runs per size"
            ),
            ("sans-serif", 15),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d((x0..x1).log_scale(), 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("registered containers (log scale)")
        .y_desc("wall time per process (ms)")
        .x_label_formatter(&|v: &f64| thousands(f64::round(*v) as usize))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
        .draw()?;

    let at = |f: &dyn Fn(&(usize, crate::measure::Stats, crate::measure::Stats)) -> f64| {
        curve.iter().map(|c| (c.0 as f64, f(c))).collect::<Vec<_>>()
    };
    chart
        .draw_series(LineSeries::new(at(&|c| c.1.median), blue.stroke_width(2)))?
        .label("precreate median")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    chart.draw_series(
        curve
            .iter()
            .map(|(n, p, _)| Circle::new((*n as f64, p.median), 4, blue.filled())),
    )?;
    chart.draw_series(curve.iter().map(|(n, p, _)| {
        Text::new(
            format!("{:.2}", p.median),
            (*n as f64 * 1.12, p.median),
            ("sans-serif", 12).into_font().color(&blue),
        )
    }))?;
    chart
        .draw_series(curve.iter().map(|(n, p, _)| {
            ErrorBar::new_vertical(*n as f64, p.min, p.median, p.p95, blue.stroke_width(1), 10)
        }))?
        .label("whisker: min to p95")
        .legend(move |(x, y)| PathElement::new(vec![(x + 10, y - 6), (x + 10, y + 6)], blue));
    chart
        .draw_series(LineSeries::new(at(&|c| c.2.median), grey.stroke_width(2)))?
        .label("floor: bare exec (cat), median")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
    chart
        .draw_series(DashedLineSeries::new(
            at(&|c| 2.0 * c.2.median),
            6,
            4,
            grey.into(),
        ))?
        .label("2× floor (target at 10 000)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
    chart
        .draw_series(DashedLineSeries::new(
            [(x0, target_ms), (x1, target_ms)],
            2,
            4,
            red.stroke_width(2),
        ))?
        .label(format!("{target_ms} ms (target at 10 000)"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
