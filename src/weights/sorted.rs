//! safetensors files whose bytes depend only on their contents: `safetensors::serialize`
//! writes the metadata in the order of its HashMap, which changes from run to run; here the
//! header is rewritten with the keys sorted (offsets untouched, so the data is as
//! serialized), padded with spaces to 8 bytes as the format asks.

use std::collections::BTreeMap;

use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

/// A safetensors header: the metadata, then each tensor's entry.
#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(rename = "__metadata__")]
    metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    tensors: BTreeMap<String, serde_json::Value>,
}

/// The file's bytes for `tensors` and `metadata`; the same inputs give the same bytes.
pub fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a str, TensorView<'a>)>,
    metadata: BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let bytes = safetensors::serialize(tensors, Some(metadata.clone().into_iter().collect())).map_err(|err| err.to_string())?;
    let invalid = |err: serde_json::Error| format!("safetensors header: {err}");
    let length = u64::from_le_bytes(bytes[..8].try_into().expect("a safetensors file starts with 8 bytes")) as usize;
    let header: Header = serde_json::from_slice(&bytes[8..8 + length]).map_err(invalid)?;
    let mut text = serde_json::to_vec(&Header { metadata, tensors: header.tensors }).map_err(invalid)?;
    text.resize(text.len().next_multiple_of(8), b' ');
    Ok([&(text.len() as u64).to_le_bytes()[..], &text, &bytes[8 + length..]].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tensors_and_metadata_give_the_same_bytes_and_read_back() {
        let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let metadata: BTreeMap<String, String> = (0..20).map(|i| (format!("key{i}"), format!("value{i}"))).collect();
        let write = || {
            let view = TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
            serialize([("x", view)], metadata.clone()).unwrap()
        };
        let first = write();
        assert!((0..5).all(|_| write() == first), "bytes differ between writes");
        let (_, read) = safetensors::SafeTensors::read_metadata(&first).unwrap();
        let read: BTreeMap<String, String> = read.metadata().clone().unwrap().into_iter().collect();
        assert_eq!(read, metadata);
        assert_eq!(safetensors::SafeTensors::deserialize(&first).unwrap().tensor("x").unwrap().data(), &data[..]);
    }
}
