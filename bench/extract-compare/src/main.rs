//! For each PDF given: extract its text with pdf-extract (in process) and with `pdftotext`
//! (a child process, start-up included), 5 runs each, and print the median times; the texts go
//! to OUT_DIR/NAME.{pdf-extract,pdftotext}.txt.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out_dir, files) = args.split_first().expect("usage: extract-compare OUT_DIR FILE.pdf...");
    println!("| file | pdf-extract | pdftotext | ratio (pdf-extract / pdftotext) |");
    println!("|---|---|---|---|");
    for file in files {
        let name = Path::new(file).file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(file).unwrap();
        let mut rust_times = Vec::new();
        let mut rust_text = String::new();
        for _ in 0..5 {
            let start = Instant::now();
            // pdf-extract has a history of panics on odd files: contain them.
            let result = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(&bytes));
            rust_times.push(start.elapsed());
            rust_text = match result {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => format!("ERROR: {e}"),
                Err(_) => "PANIC".into(),
            };
        }
        let mut poppler_times = Vec::new();
        let mut poppler_text = String::new();
        for _ in 0..5 {
            let start = Instant::now();
            let out = Command::new("pdftotext")
                .args(["-q", "-enc", "UTF-8", file, "-"])
                .output()
                .unwrap();
            poppler_times.push(start.elapsed());
            poppler_text = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        std::fs::write(format!("{out_dir}/{name}.pdf-extract.txt"), rust_text).unwrap();
        std::fs::write(format!("{out_dir}/{name}.pdftotext.txt"), poppler_text).unwrap();
        let (r, p) = (median(rust_times), median(poppler_times));
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2} |",
            r.as_secs_f64() * 1e3,
            p.as_secs_f64() * 1e3,
            r.as_secs_f64() / p.as_secs_f64()
        );
    }
}
