//! A BERT encoder (the architecture of all-MiniLM-L6-v2) on candle: embeddings, `layers`
//! self-attention blocks, and the mean of the token vectors. One sequence at a time, so there
//! is no padding and no attention mask.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The fields of the model's `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub hidden_act: Option<String>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

impl Bert {
    pub fn load(vb: &VarBuilder<'_>, c: &Config) -> candle_core::Result<Self> {
        let e = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                let (h, m) = (c.hidden_size, c.intermediate_size);
                Ok(Layer {
                    query: linear(h, h, l.pp("attention.self.query"))?,
                    key: linear(h, h, l.pp("attention.self.key"))?,
                    value: linear(h, h, l.pp("attention.self.value"))?,
                    attention_out: linear(h, h, l.pp("attention.output.dense"))?,
                    attention_norm: layer_norm(
                        h,
                        c.layer_norm_eps,
                        l.pp("attention.output.LayerNorm"),
                    )?,
                    intermediate: linear(h, m, l.pp("intermediate.dense"))?,
                    output: linear(m, h, l.pp("output.dense"))?,
                    output_norm: layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            words: embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            positions: embedding(
                c.max_position_embeddings,
                c.hidden_size,
                e.pp("position_embeddings"),
            )?,
            token_types: embedding(
                c.type_vocab_size,
                c.hidden_size,
                e.pp("token_type_embeddings"),
            )?,
            embeddings_norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
            head_size: c.hidden_size / c.num_attention_heads,
        })
    }

    /// The mean of the last layer's token vectors for one sequence of token ids (with its
    /// `[CLS]` and `[SEP]`), not normalised: `[hidden]`.
    pub fn mean_pooled(&self, ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
        let n = ids.len();
        let ids = Tensor::new(ids, device)?.unsqueeze(0)?;
        let positions = Tensor::arange(0u32, n as u32, device)?.unsqueeze(0)?;
        let types = Tensor::zeros((1, n), DType::U32, device)?;
        let x = self
            .words
            .forward(&ids)?
            .add(&self.positions.forward(&positions)?)?
            .add(&self.token_types.forward(&types)?)?;
        let mut x = self.embeddings_norm.forward(&x)?;
        for layer in &self.layers {
            x = self.layer(layer, &x)?;
        }
        x.mean(1)?.squeeze(0)
    }

    fn layer(&self, l: &Layer, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n, hidden) = x.dims3()?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, n, self.heads, self.head_size))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(l.query.forward(x)?)?;
        let k = split(l.key.forward(x)?)?;
        let v = split(l.value.forward(x)?)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, n, hidden))?;
        let attended = l
            .attention_norm
            .forward(&l.attention_out.forward(&context)?.add(x)?)?;
        let h = l.intermediate.forward(&attended)?.gelu_erf()?;
        l.output_norm
            .forward(&l.output.forward(&h)?.add(&attended)?)
    }
}

/// `v / |v|` along the last dimension.
pub fn normalize(v: &Tensor) -> candle_core::Result<Tensor> {
    let norm = v.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    v.broadcast_div(&norm.clamp(1e-12, f64::MAX)?)
}
