//! The web app (`web/dist`) is embedded by `rust-embed` when this crate compiles: rebuild when
//! it changes, so a server built after `make web` always serves the app just built.

fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
