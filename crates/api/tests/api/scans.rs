//! Generated scans for the OCR tests: known text typeset in a PDF (`helpers::pdf`), rendered
//! to grey pixels by `pdftoppm`, turned a little and sprinkled with noise as a scanner or a
//! phone would, then written as a PNG or wrapped in a PDF that has no text layer.

use std::process::Command;

/// An 8-bit grey image.
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The one-page PDF of `lines` rendered at `dpi` by pdftoppm (grey PGM).
pub fn render(lines: &[&str], dpi: u32) -> Gray {
    let dir = std::env::temp_dir().join(format!("docuvault-scan-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("page.pdf");
    std::fs::write(&pdf, crate::helpers::pdf(&[Some(lines)])).unwrap();
    let status = Command::new("pdftoppm")
        .args(["-gray", "-singlefile", "-r", &dpi.to_string()])
        .arg(&pdf)
        .arg(dir.join("page"))
        .status()
        .expect("pdftoppm runs");
    assert!(status.success());
    let pgm = std::fs::read(dir.join("page.pgm")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    parse_pgm(&pgm)
}

fn parse_pgm(pgm: &[u8]) -> Gray {
    // "P5\n<width> <height>\n255\n" then the pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&pgm[start..at]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P5");
    let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = pgm[at + 1..].to_vec();
    assert_eq!(pixels.len(), width * height);
    Gray {
        width,
        height,
        pixels,
    }
}

impl Gray {
    /// Turned by `degrees` around its centre (white comes in at the corners) with `noise` of
    /// its pixels flipped to a random grey, from `seed` (so a test sees the same image).
    pub fn scanned(&self, degrees: f64, noise: f64, seed: u64) -> Gray {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (cx, cy) = (self.width as f64 / 2.0, self.height as f64 / 2.0);
        let mut rng = seed.max(1);
        let mut next = move || {
            // xorshift64: enough for noise.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut pixels = vec![255u8; self.pixels.len()];
        for y in 0..self.height {
            for x in 0..self.width {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                let sx = (cos * dx + sin * dy + cx).round();
                let sy = (-sin * dx + cos * dy + cy).round();
                let i = y * self.width + x;
                if sx >= 0.0
                    && sy >= 0.0
                    && (sx as usize) < self.width
                    && (sy as usize) < self.height
                {
                    pixels[i] = self.pixels[sy as usize * self.width + sx as usize];
                }
                if (next() % 1_000_000) as f64 / 1_000_000.0 < noise {
                    pixels[i] = (next() % 256) as u8;
                }
            }
        }
        Gray {
            width: self.width,
            height: self.height,
            pixels,
        }
    }

    /// The image as a PNG (grey, 8 bits; zlib with stored blocks: valid, not small).
    pub fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity((self.width + 1) * self.height);
        for row in self.pixels.chunks(self.width) {
            raw.push(0); // filter: none
            raw.extend_from_slice(row);
        }
        let mut z = vec![0x78, 0x01];
        let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
        for (i, block) in blocks.iter().enumerate() {
            z.push(u8::from(i + 1 == blocks.len()));
            let len = block.len() as u16;
            z.extend_from_slice(&len.to_le_bytes());
            z.extend_from_slice(&(!len).to_le_bytes());
            z.extend_from_slice(block);
        }
        z.extend_from_slice(&adler32(&raw).to_be_bytes());
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&(self.width as u32).to_be_bytes());
        ihdr.extend_from_slice(&(self.height as u32).to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8 bits, grey, deflate, no filter, no interlace
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", &z), (b"IEND", &[])] {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut chunk = kind.to_vec();
            chunk.extend_from_slice(data);
            png.extend_from_slice(&chunk);
            png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        png
    }

    /// A one-page PDF (US Letter) whose page is this image and nothing else: no text layer.
    pub fn pdf(&self) -> Vec<u8> {
        let content = "q 612 0 0 792 0 0 cm /Im1 Do Q";
        let objects: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes(),
            [
                format!(
                    "<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {} >>\nstream\n",
                    self.width,
                    self.height,
                    self.pixels.len()
                )
                .into_bytes(),
                self.pixels.clone(),
                b"\nendstream".to_vec(),
            ]
            .concat(),
        ];
        crate::helpers::pdf_file(&objects)
    }
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
