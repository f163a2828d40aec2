//! OCR: the text of images and of PDF pages without a text layer (scans), read by the
//! `tesseract` CLI (Debian `tesseract-ocr`, 4.3 s a page with one thread in DEPENDENCIES.md).
//!
//! - Each `tesseract` runs with `OMP_THREAD_LIMIT=1` (its own threads only slow a busy machine
//!   down) and is bounded like extraction (`prlimit` address space and CPU time, a wall-clock
//!   timeout, an output bound). Across all of a worker's jobs at most `concurrency` of them run
//!   at once, so a scanned PDF's pages are read in parallel up to the worker's concurrency and
//!   never more.
//! - A PDF page is read by OCR when its text layer has almost no letters or digits; it is
//!   rendered first at 300 dpi in grey by `pdftoppm`. At most `OCR_MAX_PAGES` pages of one
//!   document are read (the rest of the text is then marked truncated).
//! - Whether OCR is available (the program and the `OCR_LANGUAGES` data installed) is found
//!   out once, on first use, and said in the log.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio::sync::{OnceCell, Semaphore};

use super::JobError;
use super::child::{Captured, RunError, TempFile, bounded_command, run_captured, status_within};

/// A page with fewer letters and digits than this in its text layer is read by OCR (a scan
/// often carries a stamped page number or a few stray glyphs).
const MIN_TEXT_LAYER_CHARS: usize = 16;
/// Resolution a page without images is rendered at for OCR: tesseract reads best at 300 dpi.
const DEFAULT_DPI: u32 = 300;
/// The most text one page's OCR may produce (a page holds a few KB).
const MAX_PAGE_TEXT_BYTES: usize = 1024 * 1024;

/// `OCR_LANGUAGES` and `OCR_MAX_PAGES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrConfig {
    /// Tesseract's language codes joined by `+` (`eng+deu`); empty turns OCR off.
    pub languages: String,
    /// The most pages of one document read by OCR.
    pub max_pages: usize,
}

impl OcrConfig {
    /// Whether `languages` is a list tesseract accepts: codes of letters, digits and `_`
    /// joined by `+` (it is passed as one argument, never through a shell).
    pub fn languages_are_valid(languages: &str) -> bool {
        languages.is_empty()
            || languages.split('+').all(|code| {
                !code.is_empty()
                    && code.len() <= 32
                    && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    }
}

/// What OCR did to a PDF's pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagesRead {
    /// Pages whose text came from OCR.
    pub read: usize,
    /// More pages needed OCR than `OCR_MAX_PAGES` allows.
    pub left_out: bool,
    /// Pages needed OCR and it is unavailable: why (a sentence ending a reason).
    pub unavailable: Option<String>,
}

/// Whether OCR can run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcrState {
    Ready {
        languages: String,
    },
    /// Why not, as a document's reason can end ("OCR is …").
    Off(String),
}

/// The worker's OCR: its configuration, the slots its `tesseract` processes share, and
/// whether it is available.
#[derive(Debug, Clone)]
pub struct Ocr {
    config: OcrConfig,
    timeout: Duration,
    concurrency: usize,
    slots: Arc<Semaphore>,
    state: Arc<OnceCell<OcrState>>,
}

impl Ocr {
    /// `timeout` bounds each page (rendering and reading alike).
    pub fn new(config: OcrConfig, concurrency: usize, timeout: Duration) -> Self {
        Self {
            config,
            timeout,
            concurrency: concurrency.max(1),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            state: Arc::default(),
        }
    }

    /// Whether OCR is available, found out on the first call (`tesseract --list-langs`).
    pub async fn state(&self) -> &OcrState {
        self.state
            .get_or_init(|| async {
                let state = probe(&self.config.languages, self.timeout).await;
                match &state {
                    OcrState::Ready { languages } => tracing::info!(languages, "OCR is ready"),
                    OcrState::Off(why) => tracing::warn!(
                        reason = why,
                        "OCR is unavailable: images and scanned pages will have no text"
                    ),
                }
                state
            })
            .await
    }

    async fn languages(&self) -> Result<&str, String> {
        match self.state().await {
            OcrState::Ready { languages } => Ok(languages),
            OcrState::Off(why) => Err(why.clone()),
        }
    }

    /// The text of the image at `path`.
    pub async fn image(&self, path: &Path) -> Result<String, JobError> {
        let languages = self.languages().await.map_err(|why| {
            JobError::Permanent(format!(
                "no text to classify: reading images needs OCR, and {why}"
            ))
        })?;
        let text = self.read(path, languages).await?;
        if !has_text(&text) {
            return Err(JobError::Permanent(
                "no text found: OCR found no readable text in the image".into(),
            ));
        }
        Ok(text)
    }

    /// Replaces the pages of `pages` (a PDF's text layer, one entry per page) that have almost
    /// no text with their OCR, reading at most `OCR_MAX_PAGES` of them in page order.
    pub async fn pdf_pages(&self, pdf: &Path, pages: &mut [String]) -> Result<PagesRead, JobError> {
        let scanned: Vec<usize> = pages
            .iter()
            .enumerate()
            .filter(|(_, text)| !has_text(text))
            .map(|(i, _)| i)
            .collect();
        if scanned.is_empty() {
            return Ok(PagesRead::default());
        }
        let languages = match self.languages().await {
            Ok(languages) => languages.to_owned(),
            Err(why) => {
                tracing::info!(pages = scanned.len(), "pages without text, OCR unavailable");
                // The caller decides whether the text layer alone is enough.
                return Ok(PagesRead {
                    unavailable: Some(why),
                    ..PagesRead::default()
                });
            }
        };
        let left_out = scanned.len() > self.config.max_pages;
        let read: Vec<(usize, String)> =
            futures::stream::iter(scanned.into_iter().take(self.config.max_pages))
                .map(|index| {
                    let languages = languages.as_str();
                    async move {
                        let text = self.page(pdf, index + 1, languages).await?;
                        Ok::<_, JobError>((index, text))
                    }
                })
                // Each page waits for one of the shared slots, so more in flight costs nothing.
                .buffered(self.concurrency)
                .try_collect()
                .await?;
        let count = read.len();
        for (index, text) in read {
            pages[index] = text;
        }
        Ok(PagesRead {
            read: count,
            left_out,
            unavailable: None,
        })
    }

    /// Renders page `number` (from 1) and reads it.
    async fn page(&self, pdf: &Path, number: usize, languages: &str) -> Result<String, JobError> {
        let _slot = self.slot().await?;
        let prefix = TempFile::named("page");
        // pdftoppm -gray -singlefile writes `<prefix>.pgm`, which tesseract (leptonica) reads.
        let image = TempFile(prefix.0.with_extension("page.pgm"));
        let cpu_secs = self.timeout.as_secs().max(1);
        let dpi = render_dpi(self.native_ppi(pdf, number).await).to_string();
        let status = status_within(
            |limited| {
                let mut cmd = bounded_command("pdftoppm", cpu_secs, limited);
                cmd.args(["-q", "-gray", "-singlefile", "-r", &dpi, "-f"])
                    .arg(number.to_string())
                    .arg("-l")
                    .arg(number.to_string())
                    .arg(pdf)
                    .arg(&prefix.0);
                cmd
            },
            self.timeout,
        )
        .await;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                tracing::info!(exit = ?s.code(), page = number, "pdftoppm could not render a page");
                return Err(JobError::Permanent(format!(
                    "page {number} of the PDF could not be rendered for OCR"
                )));
            }
            Err(e) => {
                return Err(JobError::internal(
                    "the server's PDF renderer (pdftoppm) did not finish",
                    e,
                ));
            }
        }
        self.read_with_slot(&image.0, languages).await
    }

    /// The resolution of the largest image on page `number` (a scan's own), from `pdfimages
    /// -list`; `None` if it has none or the list cannot be read.
    async fn native_ppi(&self, pdf: &Path, number: usize) -> Option<u32> {
        let cpu_secs = self.timeout.as_secs().max(1);
        let out = run_captured(
            |limited| {
                let mut cmd = bounded_command("pdfimages", cpu_secs, limited);
                cmd.args(["-list", "-f"])
                    .arg(number.to_string())
                    .arg("-l")
                    .arg(number.to_string())
                    .arg(pdf);
                cmd
            },
            self.timeout,
            256 * 1024,
        )
        .await
        .ok()?;
        largest_image_ppi(&String::from_utf8_lossy(&out.stdout))
    }

    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, JobError> {
        self.slots
            .acquire()
            .await
            .map_err(|e| JobError::internal("OCR could not start", e))
    }

    /// Reads one image, waiting for a slot.
    async fn read(&self, image: &Path, languages: &str) -> Result<String, JobError> {
        let _slot = self.slot().await?;
        self.read_with_slot(image, languages).await
    }

    async fn read_with_slot(&self, image: &Path, languages: &str) -> Result<String, JobError> {
        let cpu_secs = self.timeout.as_secs().max(1);
        let run = run_captured(
            |limited| {
                let mut cmd = bounded_command("tesseract", cpu_secs, limited);
                cmd.arg(image)
                    .arg("stdout")
                    .args(["-l", languages])
                    .env("OMP_THREAD_LIMIT", "1");
                cmd
            },
            self.timeout,
            MAX_PAGE_TEXT_BYTES,
        )
        .await;
        let Captured {
            stdout,
            status,
            stderr_head,
            ..
        } = match run {
            Ok(out) => out,
            Err(RunError::TimedOut) => {
                return Err(JobError::Permanent(format!(
                    "OCR of a page took longer than the {} s allowed",
                    self.timeout.as_secs()
                )));
            }
            Err(RunError::Spawn(e)) => {
                return Err(JobError::internal(
                    "the OCR engine (tesseract) could not start",
                    e,
                ));
            }
            Err(RunError::Io(e)) => {
                return Err(JobError::internal(
                    "the OCR engine's output could not be read",
                    e,
                ));
            }
        };
        match status {
            // Killed for its output: what it read is kept.
            None => {}
            Some(s) if s.success() => {}
            Some(s) => {
                let detail = stderr_head.lines().last().unwrap_or("").trim().to_owned();
                tracing::info!(exit = ?s.code(), stderr = detail, "tesseract failed");
                return Err(JobError::Permanent(match s.code() {
                    None => "reading the image needed more memory or CPU time than allowed".into(),
                    Some(_) => {
                        "the image cannot be read: it is damaged or in a format OCR does not read"
                            .into()
                    }
                }));
            }
        }
        Ok(super::extract::decode_text(&stdout))
    }
}

/// The resolution to render a page at: its scan's own (resampling to another resolution blurs
/// the glyphs: a 200 ppi scan rendered at 300 dpi lost words that it kept at 200), doubled
/// below 150 (tesseract wants more pixels; an integral ratio keeps the edges), at most 600.
fn render_dpi(native_ppi: Option<u32>) -> u32 {
    match native_ppi {
        None | Some(0) => DEFAULT_DPI,
        Some(ppi) if ppi < 150 => ppi * 2,
        Some(ppi) => ppi.min(600),
    }
}

/// From `pdfimages -list` (a header, a rule, then one line per image: page num type width
/// height color comp bpc enc interp object-id generation x-ppi y-ppi size ratio), the larger
/// ppi of the image with the most pixels.
fn largest_image_ppi(list: &str) -> Option<u32> {
    list.lines()
        .skip(2)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (width, height) = (
                f.get(3)?.parse::<u64>().ok()?,
                f.get(4)?.parse::<u64>().ok()?,
            );
            let ppi = f
                .get(12)?
                .parse::<u32>()
                .ok()?
                .max(f.get(13)?.parse().ok()?);
            Some((width * height, ppi))
        })
        .max_by_key(|&(pixels, _)| pixels)
        .map(|(_, ppi)| ppi)
}

/// Whether `text` has enough letters or digits to count as text.
fn has_text(text: &str) -> bool {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .take(MIN_TEXT_LAYER_CHARS)
        .count()
        >= MIN_TEXT_LAYER_CHARS
}

/// `tesseract --list-langs`, checked against the configured languages.
async fn probe(languages: &str, timeout: Duration) -> OcrState {
    if languages.is_empty() {
        return OcrState::Off("OCR is turned off on this server (OCR_LANGUAGES is empty)".into());
    }
    let run = run_captured(
        |_| {
            let mut cmd = tokio::process::Command::new("tesseract");
            cmd.arg("--list-langs").kill_on_drop(true);
            cmd
        },
        timeout,
        64 * 1024,
    )
    .await;
    let installed = match run {
        Ok(out) if out.status.is_some_and(|s| s.success()) => {
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Ok(_) | Err(RunError::TimedOut | RunError::Io(_)) => {
            return OcrState::Off("OCR is not working on this server (tesseract failed)".into());
        }
        Err(RunError::Spawn(_)) => {
            return OcrState::Off(
                "OCR is not installed on this server (the tesseract-ocr package)".into(),
            );
        }
    };
    // The first line names the data directory; each further line is one language.
    let have: Vec<&str> = installed.lines().skip(1).map(str::trim).collect();
    let missing: Vec<&str> = languages
        .split('+')
        .filter(|code| !have.contains(code))
        .collect();
    if missing.is_empty() {
        OcrState::Ready {
            languages: languages.to_owned(),
        }
    } else {
        OcrState::Off(format!(
            "OCR is missing the language data for {} on this server (tesseract-ocr-{})",
            missing.join(", "),
            missing.first().copied().unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_lists() {
        assert!(OcrConfig::languages_are_valid("eng+deu"));
        assert!(OcrConfig::languages_are_valid("chi_sim"));
        assert!(OcrConfig::languages_are_valid(""));
        assert!(!OcrConfig::languages_are_valid("eng+"));
        assert!(!OcrConfig::languages_are_valid("eng deu"));
        assert!(!OcrConfig::languages_are_valid("../etc"));
    }

    #[test]
    fn pages_are_rendered_at_their_scans_resolution() {
        let list = "page   num  type   width height color comp bpc  enc interp  object ID x-ppi y-ppi size ratio\n\
                    --------------------------------------------------------------------------------------------\n\
                       1     0 image      40    40  gray    1   8  image  no         6  0    72    72  1K 100%\n\
                       1     1 image    1700  2200  gray    1   8  image  no         5  0   200   200 3652K 100%\n";
        assert_eq!(largest_image_ppi(list), Some(200));
        assert_eq!(largest_image_ppi(""), None);
        assert_eq!(render_dpi(Some(200)), 200);
        assert_eq!(render_dpi(Some(100)), 200);
        assert_eq!(render_dpi(Some(1200)), 600);
        assert_eq!(render_dpi(None), 300);
    }

    #[test]
    fn a_page_with_a_stamped_number_has_no_text() {
        assert!(!has_text("  12 \n"));
        assert!(!has_text("- 3 -\n\x0c"));
        assert!(has_text("Invoice number 2024-117 for the rental"));
    }
}
