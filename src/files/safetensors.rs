//! The safetensors format of every tensor file pad reads or writes: checkpoints, dataset
//! artifacts, FID statistics, probe read-outs, Inception weights.
//!
//! A file is an 8-byte little-endian header length n, n bytes of JSON header (padded with spaces
//! to a multiple of 8), then the tensors' bytes. The header maps each tensor name to its dtype,
//! shape and data offsets, plus an optional `__metadata__` map of strings.
//!
//! Files are written here rather than by `safetensors::serialize`, whose metadata is a HashMap and
//! comes out in another key order in every process: checkpoints and artifacts are identified by
//! their sha256, so equal contents must give equal bytes. Two header layouts exist, and each kind
//! of file keeps the one it has always been written with (changing it would change its bytes):
//! - `HeaderLayout::Sorted` (checkpoints, read-outs, artifacts): one JSON object with every key sorted,
//!   tensor entries `{"data_offsets","dtype","shape"}`, data in name order;
//! - `HeaderLayout::Crate` (FID statistics, once written through the crate): `__metadata__` first, then
//!   tensors by decreasing dtype then name, entries `{"dtype","shape","data_offsets"}`.
//!
//! Reading parses and checks the header here (one parser): offsets contiguous from 0 and ending
//! with the file, each tensor's byte count equal to its shape times its dtype's size, as the
//! safetensors crate requires. Either layout reads back, and so do files from other writers.
use super::{At, PathIo};
pub use safetensors::Dtype;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest header accepted (the safetensors crate's limit).
const MAX_HEADER: u64 = 100_000_000;

/// What is wrong with the bytes of a file that should be safetensors.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{len} bytes is too short for a safetensors file")]
    TooShort { len: u64 },
    #[error("header length {header} does not fit the {len}-byte file")]
    HeaderLength { header: u64, len: u64 },
    #[error("header is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("__metadata__ is not a map of strings")]
    Metadata,
    #[error("tensor {name}: {detail}")]
    Tensor { name: String, detail: String },
    #[error("the tensors hold {data} bytes, the file has {len} after the header")]
    Length { data: usize, len: u64 },
}

/// A safetensors file that could not be read: an I/O error, or bytes that are not the format.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] PathIo),
    #[error("{path}: not a valid safetensors file: {source}")]
    Format {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
}

/// Where a tensor is: its dtype and shape, and its bytes' range in the data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub begin: usize,
    pub end: usize,
}

/// A parsed header: metadata, tensors by name, and where the data section starts in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub metadata: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, TensorInfo>,
    pub data_start: u64,
}

fn tensor_err(name: &str, detail: impl Into<String>) -> FormatError {
    FormatError::Tensor { name: name.to_string(), detail: detail.into() }
}

/// Parses the JSON header and checks it against the `data_len` bytes that follow it.
fn parse_header(json: &[u8], data_len: u64) -> Result<Header, FormatError> {
    let map: BTreeMap<String, Value> = serde_json::from_slice(json).map_err(FormatError::Json)?;
    let mut metadata = BTreeMap::new();
    let mut tensors = BTreeMap::new();
    for (name, v) in map {
        if name == "__metadata__" {
            metadata = serde_json::from_value(v).map_err(|_| FormatError::Metadata)?;
            continue;
        }
        let dtype: Dtype = v
            .get("dtype")
            .cloned()
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| tensor_err(&name, "no known dtype"))?;
        let nums = |k: &str| -> Result<Vec<usize>, FormatError> {
            v.get(k)
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| tensor_err(&name, format!("bad {k}")))
        };
        let shape = nums("shape")?;
        let off = nums("data_offsets")?;
        if off.len() != 2 || off[0] > off[1] {
            return Err(tensor_err(&name, format!("data_offsets {off:?}")));
        }
        let bytes = shape.iter().try_fold(dtype.size(), |a, &d| a.checked_mul(d));
        if bytes != Some(off[1] - off[0]) {
            return Err(tensor_err(
                &name,
                format!("shape {shape:?} of {dtype:?} does not fill {} bytes", off[1] - off[0]),
            ));
        }
        tensors.insert(name, TensorInfo { dtype, shape, begin: off[0], end: off[1] });
    }
    // The tensors tile the data section: in offset order, each starts where the last ended.
    let mut spans: Vec<(&String, &TensorInfo)> = tensors.iter().collect();
    spans.sort_by_key(|(_, t)| (t.begin, t.end));
    let mut end = 0;
    for (name, t) in spans {
        if t.begin != end {
            return Err(tensor_err(name, format!("data starts at {}, expected {end}", t.begin)));
        }
        end = t.end;
    }
    if end as u64 != data_len {
        return Err(FormatError::Length { data: end, len: data_len });
    }
    Ok(Header { metadata, tensors, data_start: 0 })
}

/// The header length from the first 8 bytes, checked against the file's length.
fn header_len(first: &[u8], file_len: u64) -> Result<u64, FormatError> {
    let n = u64::from_le_bytes(first.try_into().map_err(|_| FormatError::TooShort { len: file_len })?);
    if n > MAX_HEADER || n > file_len.saturating_sub(8) {
        return Err(FormatError::HeaderLength { header: n, len: file_len });
    }
    Ok(n)
}

/// A whole file in memory with its parsed header.
pub struct Loaded {
    pub header: Header,
    bytes: Vec<u8>,
}

impl Loaded {
    /// Parses the bytes of a whole file.
    pub fn parse(bytes: Vec<u8>) -> Result<Loaded, FormatError> {
        let len = bytes.len() as u64;
        let n = header_len(bytes.get(..8).unwrap_or(&bytes), len)?;
        let mut header = parse_header(&bytes[8..8 + n as usize], len - 8 - n)?;
        header.data_start = 8 + n;
        Ok(Loaded { header, bytes })
    }

    /// The bytes of one tensor.
    pub fn data(&self, t: &TensorInfo) -> &[u8] {
        let start = self.header.data_start as usize;
        &self.bytes[start + t.begin..start + t.end]
    }

    /// A tensor by name: its entry and bytes.
    pub fn tensor(&self, name: &str) -> Option<(&TensorInfo, &[u8])> {
        self.header.tensors.get(name).map(|t| (t, self.data(t)))
    }
}

/// Reads and parses a whole file.
pub fn load(path: &Path) -> Result<Loaded, ReadError> {
    let bytes = std::fs::read(path).at(path)?;
    Loaded::parse(bytes).map_err(|source| ReadError::Format { path: path.into(), source })
}

/// Reads only the header of a file (an artifact has hundreds of MB); returns the file, its read
/// position at the start of the data.
pub fn read_header(path: &Path) -> Result<(Header, std::fs::File), ReadError> {
    let format = |source| ReadError::Format { path: path.into(), source };
    let mut f = std::fs::File::open(path).at(path)?;
    let len = f.metadata().at(path)?.len();
    let mut first = [0u8; 8];
    if len < 8 {
        return Err(format(FormatError::TooShort { len }));
    }
    f.read_exact(&mut first).at(path)?;
    let n = header_len(&first, len).map_err(format)?;
    let mut json = vec![0u8; n as usize];
    f.read_exact(&mut json).at(path)?;
    let mut header = parse_header(&json, len - 8 - n).map_err(format)?;
    header.data_start = 8 + n;
    Ok((header, f))
}

/// f32 values from little-endian bytes.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// f64 values from little-endian bytes.
pub fn f64s(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes of f64 values.
pub fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One tensor to write.
pub struct Tensor<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

/// How the header of a written file is laid out (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderLayout {
    Sorted,
    Crate,
}

/// The 8-byte length and the padded header of a file holding `tensors`, and the order in which
/// their data must follow.
fn header_bytes<'t>(
    tensors: &'t [Tensor<'t>],
    metadata: &BTreeMap<String, String>,
    layout: HeaderLayout,
) -> (Vec<u8>, Vec<&'t Tensor<'t>>) {
    let mut order: Vec<&Tensor> = tensors.iter().collect();
    for t in &order {
        let count: usize = t.shape.iter().product();
        assert_eq!(count * t.dtype.size(), t.data.len(), "tensor {}: shape does not match data", t.name);
    }
    let mut offsets = Vec::with_capacity(order.len());
    let mut json = match layout {
        HeaderLayout::Sorted => {
            order.sort_by(|a, b| a.name.cmp(b.name));
            let mut header = serde_json::Map::new();
            if !metadata.is_empty() {
                header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("string map"));
            }
            let mut offset = 0;
            for t in &order {
                let end = offset + t.data.len();
                header.insert(
                    t.name.to_string(),
                    serde_json::json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, end]}),
                );
                offsets.push(end);
                offset = end;
            }
            // serde_json's Map is a BTreeMap (no preserve_order feature): keys come out sorted.
            serde_json::to_vec(&header).expect("json")
        }
        HeaderLayout::Crate => {
            // As safetensors::serialize writes it: fields in declaration order.
            #[derive(serde::Serialize)]
            struct Entry<'a> {
                dtype: Dtype,
                shape: &'a [usize],
                data_offsets: (usize, usize),
            }
            order.sort_by(|a, b| b.dtype.cmp(&a.dtype).then(a.name.cmp(b.name)));
            let mut parts = Vec::new();
            if !metadata.is_empty() {
                parts.push(format!("\"__metadata__\":{}", serde_json::to_string(metadata).expect("string map")));
            }
            let mut offset = 0;
            for t in &order {
                let entry = Entry { dtype: t.dtype, shape: &t.shape, data_offsets: (offset, offset + t.data.len()) };
                let name = serde_json::to_string(t.name).expect("string");
                parts.push(format!("{name}:{}", serde_json::to_string(&entry).expect("json")));
                offset += t.data.len();
            }
            format!("{{{}}}", parts.join(",")).into_bytes()
        }
    };
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + json.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    (out, order)
}

/// Writes a whole file to `w` (streamed: the data is not copied).
pub fn write(
    w: &mut impl Write,
    tensors: &[Tensor],
    metadata: &BTreeMap<String, String>,
    layout: HeaderLayout,
) -> std::io::Result<()> {
    let (header, order) = header_bytes(tensors, metadata, layout);
    w.write_all(&header)?;
    for t in order {
        w.write_all(t.data)?;
    }
    Ok(())
}

/// The bytes of a whole file.
pub fn to_bytes(tensors: &[Tensor], metadata: &BTreeMap<String, String>, layout: HeaderLayout) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, tensors, metadata, layout).expect("writing to memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors<'a>(a: &'a [u8], b: &'a [u8]) -> Vec<Tensor<'a>> {
        vec![
            Tensor { name: "sigma", dtype: Dtype::F64, shape: vec![1, 1], data: b },
            Tensor { name: "a.bytes", dtype: Dtype::U8, shape: vec![3], data: a },
        ]
    }

    /// The crate layout is what safetensors::serialize writes; both layouts read back, by the
    /// crate and by `Loaded::parse`.
    #[test]
    fn both_layouts_round_trip_and_the_crate_layout_is_the_crates() {
        let (a, b) = ([1u8, 2, 3], f64_bytes(&[0.5]));
        let meta = BTreeMap::from([("k".to_string(), "v \"q\"".to_string())]);
        let crate_bytes = {
            use safetensors::tensor::TensorView;
            let views = vec![
                ("sigma", TensorView::new(Dtype::F64, vec![1, 1], &b).unwrap()),
                ("a.bytes", TensorView::new(Dtype::U8, vec![3], &a).unwrap()),
            ];
            let hm = std::collections::HashMap::from([("k".to_string(), "v \"q\"".to_string())]);
            safetensors::serialize(views, &Some(hm)).unwrap()
        };
        assert_eq!(to_bytes(&tensors(&a, &b), &meta, HeaderLayout::Crate), crate_bytes);
        for layout in [HeaderLayout::Sorted, HeaderLayout::Crate] {
            let bytes = to_bytes(&tensors(&a, &b), &meta, layout);
            assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()) % 8, 0);
            safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let l = Loaded::parse(bytes).unwrap();
            assert_eq!(l.header.metadata, meta);
            assert_eq!(l.tensor("a.bytes").unwrap().1, &a);
            assert_eq!(f64s(l.tensor("sigma").unwrap().1), vec![0.5]);
            assert_eq!(l.tensor("sigma").unwrap().0.shape, vec![1, 1]);
        }
        let sorted =
            String::from_utf8_lossy(&to_bytes(&tensors(&a, &b), &BTreeMap::new(), HeaderLayout::Sorted)).into_owned();
        assert!(sorted.contains(r#"{"a.bytes":{"data_offsets":[0,3],"dtype":"U8","shape":[3]},"sigma":"#), "{sorted}");
    }

    #[test]
    fn damaged_files_are_format_errors() {
        let (a, b) = ([1u8, 2, 3], f64_bytes(&[0.5]));
        let good = to_bytes(&tensors(&a, &b), &BTreeMap::new(), HeaderLayout::Sorted);
        assert!(matches!(Loaded::parse(good[..good.len() - 1].to_vec()), Err(FormatError::Length { .. })));
        assert!(matches!(Loaded::parse([good.clone(), vec![0]].concat()), Err(FormatError::Length { .. })));
        assert!(matches!(Loaded::parse(good[..4].to_vec()), Err(FormatError::TooShort { .. })));
        assert!(matches!(Loaded::parse(b"\xff\0\0\0\0\0\0\0{}".to_vec()), Err(FormatError::HeaderLength { .. })));
        let junk = [8u64.to_le_bytes().to_vec(), b"not json".to_vec()].concat();
        assert!(matches!(Loaded::parse(junk), Err(FormatError::Json(_))));
        let at = good.windows(5).position(|w| w == b"[0,3]").unwrap();
        let mut moved = good.clone();
        moved[at..at + 5].copy_from_slice(b"[1,4]");
        assert!(matches!(Loaded::parse(moved), Err(FormatError::Tensor { .. })));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        std::fs::write(&p, &good).unwrap();
        let (h, _) = read_header(&p).unwrap();
        assert_eq!(h, Loaded::parse(good).unwrap().header);
        assert!(matches!(read_header(&dir.path().join("none")), Err(ReadError::Io(_))));
    }
}
