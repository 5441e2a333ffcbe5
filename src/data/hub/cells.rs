//! Arrow cells → [`Value`], steered by the column's `datasets` feature (the JSON under the
//! parquet file's `huggingface` schema metadata key): a struct{bytes, path} whose feature is
//! `{"_type": "Image"}` becomes [`Value::Image`]; lists read whatever their child field is called
//! (`item`, `element`); every integer width, floats, strings and bytes read as themselves.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_schema::DataType;
use serde_json::Value as Json;

use super::{ImageRef, Value};

/// Checks, before any row is read, that every cell of this type (and feature) has a [`Value`];
/// the error says what does not.
pub(super) fn check(data_type: &DataType, feature: Option<&Json>) -> Result<(), String> {
    use DataType::*;
    match data_type {
        Struct(fields) if is_image(feature) => {
            let field = |name| fields.iter().find(|field| field.name() == name).map(|field| field.data_type());
            match (field("bytes"), field("path")) {
                (Some(Binary | LargeBinary | BinaryView | Null), Some(Utf8 | LargeUtf8 | Utf8View | Null)) => Ok(()),
                _ => Err(format!("an Image feature stored as {data_type}, not struct<bytes: binary, path: string>")),
            }
        }
        _ if is_image(feature) => Err(format!("an Image feature stored as {data_type}, not struct<bytes: binary, path: string>")),
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32 | Float64 | Utf8
        | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Ok(()),
        List(item) | LargeList(item) | FixedSizeList(item, _) => check(item.data_type(), item_feature(feature)),
        Struct(fields) => fields.iter().try_for_each(|field| check(field.data_type(), field_feature(feature, field.name()))),
        Dictionary(_, values) => check(values, feature),
        other => Err(format!("holds {other}, which has no cell type here")),
    }
}

/// Cell `i` of `array`, whose type passed [`check`] with the same feature.
pub(super) fn cell(array: &dyn Array, i: usize, feature: Option<&Json>) -> Result<Value, String> {
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => Value::Int(array.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Value::Int(array.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Value::Int(array.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::Int(array.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Value::Int(array.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Value::Int(array.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => {
            let value = array.as_primitive::<UInt64Type>().value(i);
            Value::Int(i64::try_from(value).map_err(|_| format!("{value} does not fit a 64-bit signed integer"))?)
        }
        DataType::Float16 => Value::Float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => Value::Float(array.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => Value::Float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::Str(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::Str(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::Str(array.as_string_view().value(i).to_string()),
        DataType::Binary => Value::Bytes(array.as_binary::<i32>().value(i).to_vec()),
        DataType::LargeBinary => Value::Bytes(array.as_binary::<i64>().value(i).to_vec()),
        DataType::BinaryView => Value::Bytes(array.as_binary_view().value(i).to_vec()),
        DataType::FixedSizeBinary(_) => Value::Bytes(array.as_fixed_size_binary().value(i).to_vec()),
        DataType::List(_) => list(array.as_list::<i32>().value(i).as_ref(), item_feature(feature))?,
        DataType::LargeList(_) => list(array.as_list::<i64>().value(i).as_ref(), item_feature(feature))?,
        DataType::FixedSizeList(_, _) => list(array.as_fixed_size_list().value(i).as_ref(), item_feature(feature))?,
        DataType::Struct(_) if is_image(feature) => image(array.as_struct(), i)?,
        DataType::Struct(fields) => {
            let array = array.as_struct();
            let cells = fields.iter().zip(array.columns()).map(|(field, column)| {
                Ok((field.name().clone(), cell(column.as_ref(), i, field_feature(feature, field.name()))?))
            });
            Value::Struct(cells.collect::<Result<_, String>>()?)
        }
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let values = dictionary.values();
            let key = match cell(dictionary.keys(), i, None)? {
                Value::Int(key) => usize::try_from(key).ok().filter(|&key| key < values.len()),
                _ => None,
            };
            cell(values.as_ref(), key.ok_or("a dictionary key outside its dictionary")?, feature)?
        }
        other => return Err(format!("holds {other}, which has no cell type here")),
    })
}

fn list(items: &dyn Array, feature: Option<&Json>) -> Result<Value, String> {
    (0..items.len()).map(|i| cell(items, i, feature)).collect::<Result<_, _>>().map(Value::List)
}

fn image(array: &arrow_array::StructArray, i: usize) -> Result<Value, String> {
    let field = |name| match array.column_by_name(name) {
        Some(column) => cell(column.as_ref(), i, None),
        None => Ok(Value::Null),
    };
    let bytes = match field("bytes")? {
        Value::Bytes(bytes) => Some(bytes),
        _ => None,
    };
    let path = match field("path")? {
        Value::Str(path) => Some(path),
        _ => None,
    };
    Ok(Value::Image(ImageRef { bytes, path }))
}

fn is_image(feature: Option<&Json>) -> bool {
    feature.and_then(|feature| feature.get("_type")).is_some_and(|kind| kind == "Image")
}

/// The feature of a list's items: `Sequence(f)` / `List(f)` / `LargeList(f)` store it under
/// `feature`, a plain Python list `[f]` as its one element.
fn item_feature(feature: Option<&Json>) -> Option<&Json> {
    match feature? {
        Json::Array(items) => items.first(),
        feature => feature.get("feature"),
    }
}

/// The feature of a struct's field: a dict feature maps field names to features.
fn field_feature<'a>(feature: Option<&'a Json>, name: &str) -> Option<&'a Json> {
    feature.filter(|feature| feature.get("_type").is_none()).and_then(|feature| feature.get(name))
}
