//! `latest.png`: a horizontal bar per row, the ratio (above 1 favours southpaw) on a linear
//! scale with a line at 1, green when southpaw is ahead, red when behind. Drawn into an RGB
//! buffer with a built-in 3x5 pixel font and written with the `png` crate.

use std::path::Path;

use anyhow::{Context, Result};

use crate::rows::Row;

const W: usize = 960;
const ROW_H: usize = 30;
const TOP: usize = 40;
const LABEL_W: usize = 330;
const SCALE: usize = 2;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, rgb: [u8; 3]) {
        for yy in y..(y + h).min(self.h) {
            for xx in x..(x + w).min(self.w) {
                let i = (yy * self.w + xx) * 3;
                self.px[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }

    /// Text at (x, y), top-left, in the 3x5 font scaled by [`SCALE`]; unknown characters
    /// are blank.
    fn text(&mut self, x: usize, y: usize, s: &str) {
        for (n, ch) in s.chars().enumerate() {
            let g = glyph(ch.to_ascii_lowercase());
            let cx = x + n * 4 * SCALE;
            for (r, bits) in g.iter().enumerate() {
                for c in 0..3 {
                    if bits & (4 >> c) != 0 {
                        self.rect(cx + c * SCALE, y + r * SCALE, SCALE, SCALE, [0, 0, 0]);
                    }
                }
            }
        }
    }
}

/// Draws the rows that have a ratio (the ceiling row, equal on both sides, is left out).
pub fn write_png(path: &Path, rows: &[Row]) -> Result<()> {
    let bars: Vec<(&Row, f64)> = rows
        .iter()
        .filter(|r| r.scenario != "ceiling")
        .filter_map(|r| r.ratio().map(|x| (r, x)))
        .collect();
    let h = TOP + bars.len().max(1) * ROW_H + 30;
    let mut cv = Canvas::new(W, h);
    cv.text(
        10,
        10,
        "ratio southpaw vs ovn-controller+ovs (>1 favours southpaw)",
    );
    let max = bars.iter().map(|b| b.1).fold(1.5f64, f64::max).min(20.0);
    let span = (W - LABEL_W - 90) as f64;
    let xof = |v: f64| LABEL_W + ((v.clamp(0.0, max) / max) * span) as usize;
    for (i, (r, x)) in bars.iter().enumerate() {
        let y = TOP + i * ROW_H;
        cv.text(10, y + 8, &r.scenario);
        let colour = if *x >= 1.0 {
            [60, 160, 70]
        } else {
            [200, 60, 50]
        };
        let end = xof(*x).max(LABEL_W + 1);
        cv.rect(LABEL_W, y + 4, end - LABEL_W, ROW_H - 8, colour);
        cv.text(end + 6, y + 8, &format!("{x:.2}"));
    }
    // The axis and the line at 1.
    cv.rect(LABEL_W, TOP - 4, 1, bars.len() * ROW_H + 8, [0, 0, 0]);
    let one = xof(1.0);
    for y in (TOP - 4..TOP + bars.len() * ROW_H + 4).step_by(4) {
        cv.rect(one, y, 1, 2, [0, 0, 0]);
    }
    cv.text(one.saturating_sub(2), TOP + bars.len() * ROW_H + 8, "1");
    encode(path, &cv)
}

fn encode(path: &Path, cv: &Canvas) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), cv.w as u32, cv.h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().context("png header")?;
    w.write_image_data(&cv.px).context("png data")?;
    Ok(())
}

/// 3x5 glyphs, one row per byte, bit 2 = left column.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'a' => [2, 5, 7, 5, 5],
        'b' => [6, 5, 6, 5, 6],
        'c' => [3, 4, 4, 4, 3],
        'd' => [6, 5, 5, 5, 6],
        'e' => [7, 4, 6, 4, 7],
        'f' => [7, 4, 6, 4, 4],
        'g' => [3, 4, 5, 5, 3],
        'h' => [5, 5, 7, 5, 5],
        'i' => [7, 2, 2, 2, 7],
        'j' => [1, 1, 1, 5, 2],
        'k' => [5, 5, 6, 5, 5],
        'l' => [4, 4, 4, 4, 7],
        'm' => [5, 7, 7, 5, 5],
        'n' => [6, 5, 5, 5, 5],
        'o' => [2, 5, 5, 5, 2],
        'p' => [6, 5, 6, 4, 4],
        'q' => [2, 5, 5, 6, 3],
        'r' => [6, 5, 6, 5, 5],
        's' => [3, 4, 2, 1, 6],
        't' => [7, 2, 2, 2, 2],
        'u' => [5, 5, 5, 5, 7],
        'v' => [5, 5, 5, 5, 2],
        'w' => [5, 5, 7, 7, 5],
        'x' => [5, 5, 2, 5, 5],
        'y' => [5, 5, 2, 2, 2],
        'z' => [7, 1, 2, 4, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        '/' => [1, 1, 2, 4, 4],
        '(' => [2, 4, 4, 4, 2],
        ')' => [2, 1, 1, 1, 2],
        ':' => [0, 2, 0, 2, 0],
        '>' => [4, 2, 1, 2, 4],
        '+' => [0, 2, 7, 2, 0],
        _ => [0; 5],
    }
}
