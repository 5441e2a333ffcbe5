//! A Hugging Face `tokenizer.json` (the fast tokenizers' format) through the `tokenizers`
//! crate: special tokens such as `<s>` are added by the file's post-processor, as
//! transformers does with `add_special_tokens=True`.

use std::path::{Path, PathBuf};

use super::LlmError;

/// A token's `[start, end)` bytes in the text it came from.
pub type ByteRange = (usize, usize);

pub struct LlmTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl LlmTokenizer {
    /// Reads `dir/tokenizer.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, LlmError> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            let message = "not found (only tokenizer.json is read; for a SentencePiece tokenizer.model, \
                           write one with `AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR)`)";
            return Err(LlmError::Tokenizer { path, message: message.into() });
        }
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|err| LlmError::Tokenizer { path: path.clone(), message: err.to_string() })?;
        Ok(Self { inner, path })
    }

    fn error(&self, err: tokenizers::Error) -> LlmError {
        LlmError::Tokenizer { path: self.path.clone(), message: err.to_string() }
    }

    /// Text → token ids, with the tokenizer's special tokens (e.g. a leading `<s>`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        Ok(self.inner.encode(text, true).map_err(|err| self.error(err))?.get_ids().to_vec())
    }

    /// Text → token ids with each token's byte range in `text`; `special` adds the
    /// tokenizer's special tokens (a leading `<s>`, say) as `encode` does.
    pub fn encode_with_offsets(&self, text: &str, special: bool) -> Result<(Vec<u32>, Vec<ByteRange>), LlmError> {
        let encoding = self.inner.encode(text, special).map_err(|err| self.error(err))?;
        Ok((encoding.get_ids().to_vec(), encoding.get_offsets().to_vec()))
    }

    /// Token ids → text, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.inner.decode(ids, true).map_err(|err| self.error(err))
    }
}
