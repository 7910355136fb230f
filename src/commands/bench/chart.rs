//! A small SVG line chart for the scale series: one panel per measure, the event count on a
//! logarithmic x axis, every measured point marked and labelled.

use std::fmt::Write;

/// One line of a panel.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(events, value)` pairs, in increasing events.
    pub points: Vec<(f64, f64)>,
}

/// One chart of the figure.
pub struct Panel {
    /// Title above the plot.
    pub title: String,
    /// Unit of the y axis.
    pub y_unit: String,
    /// The lines.
    pub series: Vec<Series>,
}

const PANEL_WIDTH: f64 = 480.0;
const PANEL_HEIGHT: f64 = 320.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 40.0;
const MARGIN_BOTTOM: f64 = 90.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const Y_TICKS: usize = 5;

/// The SVG document of `panels`, side by side.
pub fn svg(panels: &[Panel]) -> String {
    let width = PANEL_WIDTH * panels.len().max(1) as f64;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{PANEL_HEIGHT}" viewBox="0 0 {width} {PANEL_HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{width}" height="{PANEL_HEIGHT}" fill="white"/>"#
    );
    for (index, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, panel, index as f64 * PANEL_WIDTH);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel, left: f64) {
    let xs: Vec<f64> = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| *x > 0.0)
        .collect();
    let (x_min, x_max) = bounds(&xs);
    let y_max = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let y_top = nice_ceiling(y_max);
    let plot_left = left + MARGIN_LEFT;
    let plot_right = left + PANEL_WIDTH - MARGIN_RIGHT;
    let plot_top = MARGIN_TOP;
    let plot_bottom = PANEL_HEIGHT - MARGIN_BOTTOM;
    let x_of = |x: f64| {
        if x_max <= x_min {
            return (plot_left + plot_right) / 2.0;
        }
        plot_left + (x.ln() - x_min.ln()) / (x_max.ln() - x_min.ln()) * (plot_right - plot_left)
    };
    let y_of = |y: f64| plot_bottom - y / y_top * (plot_bottom - plot_top);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        left + PANEL_WIDTH / 2.0,
        escape(&panel.title)
    );
    for tick in 0..=Y_TICKS {
        let value = y_top * tick as f64 / Y_TICKS as f64;
        let y = y_of(value);
        let _ = writeln!(
            out,
            r##"<line x1="{plot_left}" y1="{y:.1}" x2="{plot_right}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            plot_left - 6.0,
            y + 4.0,
            format_value(value)
        );
    }
    let mut ticks = xs.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    for x in ticks {
        let px = x_of(x);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{plot_top}" x2="{px:.1}" y2="{plot_bottom}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            plot_bottom + 16.0,
            format_events(x)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">events indexed (log scale)</text>"#,
        (plot_left + plot_right) / 2.0,
        plot_bottom + 34.0
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        left + 14.0,
        (plot_top + plot_bottom) / 2.0,
        left + 14.0,
        (plot_top + plot_bottom) / 2.0,
        escape(&panel.y_unit)
    );
    let _ = writeln!(
        out,
        r#"<rect x="{plot_left}" y="{plot_top}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        plot_right - plot_left,
        plot_bottom - plot_top
    );
    for (index, series) in panel.series.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let path: Vec<String> = series
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", x_of(*x), y_of(*y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for (x, y) in &series.points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{}: {}</title></circle>"#,
                x_of(*x),
                y_of(*y),
                format_events(*x),
                format_value(*y)
            );
        }
        let legend_y = plot_bottom + 52.0 + 16.0 * index as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{plot_left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            legend_y - 4.0,
            plot_left + 20.0,
            legend_y - 4.0,
            plot_left + 26.0,
            legend_y,
            escape(&series.label)
        );
    }
}

fn bounds(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    if min.is_finite() {
        (min, max)
    } else {
        (1.0, 1.0)
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for 0 or less).
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * power)
}

fn format_events(events: f64) -> String {
    if events >= 1e6 {
        format!("{}M", trim(events / 1e6))
    } else if events >= 1e3 {
        format!("{}k", trim(events / 1e3))
    } else {
        trim(events)
    }
}

fn format_value(value: f64) -> String {
    if value >= 1e4 {
        format!("{}k", trim(value / 1e3))
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(47_000.0), 50_000.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn every_point_is_drawn_and_labels_are_escaped() {
        let panel = Panel {
            title: "a <b> & c".into(),
            y_unit: "ms".into(),
            series: vec![Series {
                label: "needle".into(),
                points: vec![(1e6, 3.0), (3e6, 4.5), (1e7, 9.0)],
            }],
        };
        let svg = svg(&[panel]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        for label in ["1M", "3M", "10M"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
    }

    #[test]
    fn event_counts_read_as_people_write_them() {
        assert_eq!(format_events(1e6), "1M");
        assert_eq!(format_events(3e7), "30M");
        assert_eq!(format_events(2.5e5), "250k");
        assert_eq!(format_value(21_647.0), "21.6k");
        assert_eq!(format_value(4.25), "4.2");
    }
}
