//! One cell of a released benchmark table, one row of it, and an image kept encoded until asked for.

use std::path::Path;
use std::sync::Arc;

use super::HubError;
use crate::data::DataError;

/// One cell. Images stay encoded until asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    /// Fields in the file's order.
    Struct(Vec<(String, Value)>),
    Image(ImageRef),
}

impl Value {
    /// What the value is, as error messages say it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "a list",
            Value::Struct(_) => "a struct",
            Value::Image(_) => "an image",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    /// A field of a struct (MathVista's `metadata.category`, GQA's `types.semantic`).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(field, _)| field == name).map(|(_, value)| value),
            _ => None,
        }
    }
}

/// An image as `datasets` stores it: the encoded file, or a path when the bytes are absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRef {
    pub bytes: Option<Vec<u8>>,
    pub path: Option<String>,
}

impl ImageRef {
    /// Decodes to 8-bit RGB (PIL's `.convert('RGB')`: alpha dropped, palettes expanded): the
    /// bytes when present, else the file at `path`, relative to `root` (the snapshot or
    /// `--data` folder) unless absolute.
    pub fn decode(&self, root: &Path) -> Result<image::RgbImage, DataError> {
        let named = Path::new(self.path.as_deref().unwrap_or("embedded image"));
        match (&self.bytes, &self.path) {
            (Some(bytes), _) => crate::data::decode_rgb(bytes, named),
            (None, Some(path)) => crate::data::open_rgb(&root.join(path)),
            (None, None) => Err(DataError::invalid(root, "an image cell with neither bytes nor a path")),
        }
    }

    /// (width, height) from the image's header, without decoding it; none when the header
    /// cannot be read (decoding then reports why).
    pub fn dimensions(&self, root: &Path) -> Option<(u32, u32)> {
        match (&self.bytes, &self.path) {
            (Some(bytes), _) => {
                image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
            }
            (None, Some(path)) => image::image_dimensions(root.join(path)).ok(),
            (None, None) => None,
        }
    }
}

/// One row of a split: its 0-based position over all shards (file-name order, rows in order)
/// and the requested columns.
#[derive(Debug, Clone)]
pub struct Row {
    pub index: usize,
    source: Arc<Path>,
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// `values[i]` is the cell of `columns[i]`.
    pub(super) fn new(index: usize, source: Arc<Path>, columns: Arc<[String]>, values: Vec<Value>) -> Row {
        Row { index, source, columns, values }
    }

    /// The cell of a requested column.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns.iter().position(|name| name == column).map(|at| &self.values[at])
    }

    /// The file the row was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// A string cell; null or another type is an error naming the column, file and row.
    pub fn str(&self, column: &str) -> Result<&str, HubError> {
        match self.cell(column)? {
            Value::Str(text) => Ok(text),
            other => Err(self.wrong_type(column, "a string", other)),
        }
    }

    /// An integer cell (any width in the file).
    pub fn int(&self, column: &str) -> Result<i64, HubError> {
        match self.cell(column)? {
            Value::Int(value) => Ok(*value),
            other => Err(self.wrong_type(column, "an integer", other)),
        }
    }

    /// A list of strings (`Sequence(Value("string"))`); null is an empty list, as for
    /// MathVista's free-form `choices`.
    pub fn strings(&self, column: &str) -> Result<Vec<&str>, HubError> {
        match self.cell(column)? {
            Value::Null => Ok(Vec::new()),
            Value::List(items) => {
                items.iter().map(|item| item.as_str().ok_or_else(|| self.wrong_type(column, "a list of strings", item))).collect()
            }
            other => Err(self.wrong_type(column, "a list of strings", other)),
        }
    }

    /// The images of an `Image()` cell (none when null) or of a `Sequence(Image())` cell.
    pub fn images(&self, column: &str) -> Result<Vec<&ImageRef>, HubError> {
        let items: Vec<&Value> = match self.cell(column)? {
            Value::Null => Vec::new(),
            Value::List(items) => items.iter().collect(),
            other => vec![other],
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::Image(image) => Ok(image),
                other => Err(self.wrong_type(column, "an image", other)),
            })
            .collect()
    }

    fn cell(&self, column: &str) -> Result<&Value, HubError> {
        self.get(column).ok_or_else(|| HubError::NotRequested { path: self.source.to_path_buf(), column: column.to_string() })
    }

    fn wrong_type(&self, column: &str, expected: &'static str, found: &Value) -> HubError {
        HubError::WrongType {
            path: self.source.to_path_buf(),
            row: self.index,
            column: column.to_string(),
            expected,
            found: found.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image's size from its header, held in the cell or in a file beside the data; none
    /// for bytes that are no image.
    #[test]
    fn an_image_cells_size_is_read_from_its_header() {
        let mut png = Vec::new();
        let image = image::DynamicImage::ImageRgb8(image::RgbImage::new(5, 3));
        image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let dir = crate::test_dir::TestDir::new("image-size");
        std::fs::write(dir.join("a.png"), &png).unwrap();
        let cell = |bytes: Option<Vec<u8>>, path: Option<&str>| ImageRef { bytes, path: path.map(str::to_string) };
        assert_eq!(cell(Some(png), None).dimensions(&dir), Some((5, 3)));
        assert_eq!(cell(None, Some("a.png")).dimensions(&dir), Some((5, 3)));
        assert_eq!(cell(Some(b"not an image".to_vec()), None).dimensions(&dir), None);
        assert_eq!(cell(None, Some("missing.png")).dimensions(&dir), None);
    }
}
