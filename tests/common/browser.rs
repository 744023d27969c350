//! Headless Chromium for tests: a page rendered to a PNG screenshot, and
//! what the screenshot shows (its colours), decoded with the `png` crate.
//! Under `CI=true` a missing browser is a failure, not a skip.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's headless Chromium binaries, the lighter first.
const BROWSERS: [&str; 2] = ["chromium-headless-shell", "chromium"];

/// The headless Chromium to use; `None` (after a message) when there is
/// none, and a panic under `CI=true`.
pub fn chromium() -> Option<&'static str> {
    BROWSERS
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .or_else(|| {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI must have headless Chromium (apt-get install chromium-headless-shell)");
            }
            eprintln!("skipped: headless Chromium is not installed");
            None
        })
}

/// Renders `html` (a local file) with `browser` at `width`×`height` and
/// writes the screenshot to `png`. Uses its own profile directory, so that
/// it never meets another Chromium running on the machine.
pub fn screenshot(browser: &str, html: &Path, png: &Path, width: u32, height: u32) {
    let profile: PathBuf = png.with_extension("profile");
    let url = format!(
        "file://{}",
        html.canonicalize().expect("the page exists").display()
    );
    let mut cmd = Command::new(browser);
    if browser == "chromium" {
        cmd.arg("--headless");
    }
    let mut child = cmd
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{browser}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the browser") {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("{browser} took over 60 s to take a screenshot of {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("browser output");
    std::fs::remove_dir_all(&profile).ok();
    assert!(
        status.success() && png.is_file(),
        "{browser} failed ({status}) on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a screenshot shows: its size and how many pixels of each colour.
pub struct Pixels {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Pixels per RGB colour.
    pub colours: HashMap<[u8; 3], usize>,
}

impl Pixels {
    /// Pixels that are not white.
    pub fn non_white(&self) -> usize {
        self.colours
            .iter()
            .filter(|(c, _)| **c != [255, 255, 255])
            .map(|(_, n)| n)
            .sum()
    }

    /// Pixels of exactly this colour (`0xrrggbb`).
    pub fn of(&self, rgb: u32) -> usize {
        let c = [(rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8];
        self.colours.get(&c).copied().unwrap_or(0)
    }
}

/// Decodes a PNG into its colour counts.
pub fn decode(png_file: &Path) -> Pixels {
    let file = std::fs::File::open(png_file).expect("the screenshot");
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let mut colours = HashMap::new();
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        *colours.entry([px[0], px[1], px[2]]).or_insert(0) += 1;
    }
    Pixels {
        width: info.width,
        height: info.height,
        colours,
    }
}
