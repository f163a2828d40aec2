//! Thumbnails, PNGs about 300 px on their longer side. The first page of a PDF is rendered by
//! poppler's `pdftoppm` (the same package as `pdftotext`) in a child process bounded like
//! extraction; an image (PNG, JPEG, TIFF) is scaled down in-process by the `image` crate with
//! its decoder's limits on size and memory, on a blocking thread. Best effort: a document whose
//! thumbnail cannot be made is still processed.

use std::path::Path;
use std::time::Duration;

use super::child::{TempFile, bounded_command, status_within};

/// The longer side of a thumbnail, in pixels.
pub const THUMBNAIL_PX: u32 = 300;
/// A thumbnail larger than this is not a thumbnail (and is not stored).
const MAX_THUMBNAIL_BYTES: u64 = 2 * 1024 * 1024;

/// Renders the first page of the PDF at `pdf`; `None` (logged) when it cannot.
pub async fn render(pdf: &Path, timeout: Duration) -> Option<Vec<u8>> {
    let prefix = pdf.with_extension("thumb");
    // pdftoppm -singlefile writes `<prefix>.png`.
    let out = TempFile(prefix.with_extension("thumb.png"));
    let cpu_secs = timeout.as_secs().max(1);
    let status = status_within(
        |limited| {
            let mut cmd = bounded_command("pdftoppm", cpu_secs, limited);
            cmd.args([
                "-q",
                "-png",
                "-singlefile",
                "-f",
                "1",
                "-l",
                "1",
                "-scale-to",
            ])
            .arg(THUMBNAIL_PX.to_string())
            .arg(pdf)
            .arg(&prefix);
            cmd
        },
        timeout,
    )
    .await;
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            tracing::info!(exit = ?s.code(), "pdftoppm could not render a thumbnail");
            return None;
        }
        Err(e) => {
            tracing::info!(error = %e, "pdftoppm did not finish");
            return None;
        }
    }
    match tokio::fs::metadata(&out.0).await {
        Ok(m) if m.len() <= MAX_THUMBNAIL_BYTES => tokio::fs::read(&out.0).await.ok(),
        _ => None,
    }
}

/// The largest image (in pixels per side, and bytes the decoder may allocate) made into a
/// thumbnail: a phone photo is ~4,000 px and 50 MB decoded; a decompression bomb is refused
/// before it is decoded.
const MAX_IMAGE_SIDE: u32 = 20_000;
const MAX_IMAGE_ALLOC: u64 = 512 * 1024 * 1024;

/// The image at `path` scaled to fit [`THUMBNAIL_PX`], as a PNG; `None` (logged) when it cannot.
pub async fn of_image(path: &Path) -> Option<Vec<u8>> {
    let path = path.to_owned();
    match tokio::task::spawn_blocking(move || scale_image(&path)).await {
        Ok(Ok(png)) => Some(png),
        Ok(Err(e)) => {
            tracing::info!(error = %e, "the image's thumbnail could not be made");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "making the image's thumbnail crashed");
            None
        }
    }
}

fn scale_image(path: &Path) -> Result<Vec<u8>, image::ImageError> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    let mut reader = image::ImageReader::open(path)?.with_guessed_format()?;
    reader.limits(limits);
    let small = reader.decode()?.thumbnail(THUMBNAIL_PX, THUMBNAIL_PX);
    let mut png = std::io::Cursor::new(Vec::new());
    small.write_to(&mut png, image::ImageFormat::Png)?;
    Ok(png.into_inner())
}
